import { dispatchRead, dispatchWrite, type MemoryRegion } from '../memory/index.ts';
import type { VfioPciDevice } from './vfio-pci.ts';
import {
  RTL8168_TARGET_MSIX,
  RTL8168_WINDOW,
  RTL8168_WINDOW_BAR,
  RTL8168_WINDOW_FLAG,
} from '../common/rtl8168-datasheet.ts';

/**
 * Device quirks (hw/vfio/pci-quirks.c): per vendor:device, a probe run for each BAR as it is
 * registered (vfio_bar_quirk_setup) that may lay I/O regions over the BAR's trapped region at
 * priority 1, above its mmaps, so the accesses it cares about reach the VMM instead of the device.
 */
export type BarQuirkProbe = (vdev: VfioPciDevice, nr: number, bar: MemoryRegion) => MemoryRegion[];

const registry = new Map<string, BarQuirkProbe[]>();

const key = (vendor: number, device: number) =>
  `${vendor.toString(16).padStart(4, '0')}:${device.toString(16).padStart(4, '0')}`;

/** Registers a BAR quirk for one vendor:device pair. */
export function registerBarQuirk(vendor: number, device: number, probe: BarQuirkProbe): void {
  const k = key(vendor, device);
  registry.set(k, [...(registry.get(k) ?? []), probe]);
}

/** vfio_bar_quirk_setup: every quirk registered for the device, probed on BAR nr; the regions laid. */
export function setUpBarQuirks(vdev: VfioPciDevice, nr: number, bar: MemoryRegion): MemoryRegion[] {
  return (registry.get(key(vdev.vendorId, vdev.deviceId)) ?? []).flatMap((probe) => probe(vdev, nr, bar));
}

const PCI_VENDOR_ID_REALTEK = 0x10ec;
const { DATA: RTL_DATA, ADDRESS: RTL_ADDRESS } = RTL8168_WINDOW;

/**
 * pci-quirks.c:vfio_probe_rtl8168_bar2_quirk. RTL8168 reaches its MSI-X table through BAR2: data
 * at 0x70, address at 0x74. The guest's table accesses through it go to the emulated table (the
 * hardware would get the guest's MSI-X messages otherwise); everything else passes through.
 */
function probeRtl8168Bar2(vdev: VfioPciDevice, nr: number, bar: MemoryRegion): MemoryRegion[] {
  if (nr !== RTL8168_WINDOW_BAR) return [];
  const fd = vdev.deviceFd;
  const state = { addr: 0, data: 0, enabled: false };
  const ops = { valid: { minAccessSize: 4, maxAccessSize: 4, unaligned: false }, endianness: 'little' as const };
  const mem = vdev.mem;
  const address = mem.io('vfio-rtl8168-window-address-quirk', 4n, {
    ...ops,
    // vfio_rtl8168_quirk_address_read: a table access reads back as latched/complete.
    read: (off, size) => {
      const v = fd.read(nr, RTL_ADDRESS + off, size);
      return state.enabled ? (state.addr ^ RTL8168_WINDOW_FLAG) >>> 0 : v;
    },
    // vfio_rtl8168_quirk_address_write: a table write goes to the emulated table, not the device.
    write: (off, v, size) => {
      const value = Number(v) >>> 0;
      state.enabled = ((value >>> 16) & 0x7fff) === RTL8168_TARGET_MSIX;
      if (state.enabled) {
        state.addr = value;
        if (value & RTL8168_WINDOW_FLAG) {
          if (vdev.msix) dispatchWrite(vdev.msix.tableRegion, value & 0xfff, state.data, size);
          return;
        }
      }
      fd.write(nr, RTL_ADDRESS + off, value, size);
    },
  });
  const data = mem.io('vfio-rtl8168-window-data-quirk', 4n, {
    ...ops,
    // vfio_rtl8168_quirk_data_read: after a table address, the data comes from the emulated table.
    read: (off, size) => {
      const v = fd.read(nr, RTL_DATA + off, size);
      if (!state.enabled || !vdev.msix) return v;
      return Number(dispatchRead(vdev.msix.tableRegion, state.addr & 0xfff, size).value);
    },
    // vfio_rtl8168_quirk_data_write: remembered for a table write, and passed through.
    write: (off, v, size) => {
      state.data = Number(v) >>> 0;
      fd.write(nr, RTL_DATA + off, state.data, size);
    },
  });
  bar.addSubregionOverlap(RTL_ADDRESS, address, 1);
  bar.addSubregionOverlap(RTL_DATA, data, 1);
  return [address, data];
}

registerBarQuirk(PCI_VENDOR_ID_REALTEK, 0x8168, probeRtl8168Bar2);
