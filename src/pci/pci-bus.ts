import { VdmError } from '../util/errors.ts';
import type { MemorySystem, MemoryRegion } from '../memory/index.ts';
import type { PciDevice } from './pci-device.ts';
import type { PciBridge } from './pci-bridge.ts';
import * as R from '../common/pci-regs.ts';

/**
 * Where a bus decodes: its memory and I/O spaces, and (for a root bus) the region its devices'
 * DMA reaches. A bus behind a bridge DMAs to its parent's root: no IOMMU in between.
 */
export interface PciBusSpaces {
  memSpace: MemoryRegion;
  ioSpace: MemoryRegion;
  dmaRoot?: MemoryRegion;
}

/** A device cannot be placed on the bus (QEMU's "PCI: slot %d function %d not available"). */
/**
 * A qdev `addr` property: SLOT[.FN] in hex, each optionally 0x-prefixed
 * (hw/core/qdev-properties-system.c:set_pci_devfn).
 */
export function parsePciAddr(text: string, device = 'pci'): { slot: number; fn: number } {
  const m = /^(?:0x)?([0-9a-f]+)(?:\.(?:0x)?([0-9a-f]+))?$/i.exec(text.trim());
  const slot = m ? parseInt(m[1]!, 16) : NaN;
  const fn = m?.[2] ? parseInt(m[2], 16) : 0;
  if (!m || slot > 31 || fn > 7) throw new PciBusError(`Property '${device}.addr' doesn't take value '${text}'`);
  return { slot, fn };
}

/**
 * A qdev `host` property: [DOMAIN:]BUS:SLOT.FN in hex, the domain 0 when left out, printed back as
 * QEMU prints it, "0000:01:00.0" (hw/core/qdev-properties-system.c:set_pci_host_devaddr).
 */
export function parseHostDevAddr(text: string, device = 'vfio-pci'): string {
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,2})(?::([0-9a-f]{1,2}))?\.([0-7])$/i.exec(text);
  const [dom, bus, slot] = m ? (m[3] === undefined ? ['0', m[1]!, m[2]!] : [m[1]!, m[2]!, m[3]]) : [];
  if (!m || parseInt(bus!, 16) > 0xff || parseInt(slot!, 16) > 0x1f)
    throw new PciBusError(`Property '${device}.host' doesn't take value '${text}'`);
  const hex = (s: string, w: number) => parseInt(s, 16).toString(16).padStart(w, '0');
  return `${hex(dom!, 4)}:${hex(bus!, 2)}:${hex(slot!, 2)}.${m[4]}`;
}

/** pci_device_route_intx_to_irq's answer: the board's interrupt number for a pin, or disabled (PIRQ off). */
export interface PciIntxRoute {
  mode: 'enabled' | 'disabled';
  irq: number;
}

/**
 * How a root bus's INTx pins reach the interrupt controller (pci_bus_irqs: the board's map_irq and
 * set_irq, and route_intx_to_irq for KVM's irqfd routes). `pin` is 0 for INTA.
 */
export interface PciIntxRouter {
  route(dev: PciDevice, pin: number): PciIntxRoute;
  setLevel(dev: PciDevice, pin: number, level: boolean): void;
}

export class PciBusError extends VdmError {
  override name = 'PciBusError';
}

/**
 * A PCI bus (QEMU's PCIBus): up to 256 functions by devfn, its memory and I/O spaces, and child
 * buses behind bridges. The root bus is number 0; a secondary bus takes its bridge's
 * SECONDARY_BUS register.
 */
export class PciBus {
  readonly devices: (PciDevice | null)[] = new Array(256).fill(null);
  readonly children: PciBus[] = [];
  readonly memSpace: MemoryRegion;
  readonly ioSpace: MemoryRegion;
  private readonly ownDmaRoot: MemoryRegion | null;
  /** Set by the board on the root bus; a secondary bus swizzles through its bridge (pci_bridge_map_irq). */
  intxRouter: PciIntxRouter | null = null;

  constructor(
    readonly mem: MemorySystem,
    readonly name: string,
    spaces: PciBusSpaces,
    readonly parentBridge: PciBridge | null = null,
  ) {
    this.memSpace = spaces.memSpace;
    this.ioSpace = spaces.ioSpace;
    this.ownDmaRoot = spaces.dmaRoot ?? null;
    if (!this.ownDmaRoot && !parentBridge) throw new PciBusError(`root bus ${name} needs a DMA root region`);
  }

  /** The region bus-master DMA of this bus's devices lands in (pci_device_iommu_address_space). */
  get dmaRoot(): MemoryRegion {
    if (this.ownDmaRoot) return this.ownDmaRoot;
    const up = this.parentBridge!.bus;
    if (!up)
      throw new PciBusError(`bus ${this.name}: its bridge ${this.parentBridge!.name} is not plugged into a bus yet`);
    return up.dmaRoot;
  }

  /** pci_bus_num. */
  number(): number {
    return this.parentBridge ? this.parentBridge.cfg.byte(R.PCI_SECONDARY_BUS) : 0;
  }

  /**
   * Plugs a function in at slot.function (do_pci_register_device); functions of a slot need function 0
   * multifunction.
   */
  attach(dev: PciDevice, slot: number, fn = 0): PciDevice {
    if (!Number.isInteger(slot) || slot < 0 || slot > 31 || !Number.isInteger(fn) || fn < 0 || fn > 7) {
      throw new PciBusError(`${dev.name}: slot ${slot} function ${fn} is not a PCI address (slot 0-31, function 0-7)`);
    }
    const devfn = (slot << 3) | fn;
    if (this.devices[devfn])
      throw new PciBusError(
        `PCI: slot ${slot} function ${fn} not available for ${dev.name}, in use by ${this.devices[devfn]!.name}`,
      );
    if (dev.bus) throw new PciBusError(`${dev.name} is already on bus ${dev.bus.name}`);
    this.checkMultifunction(dev, slot, fn);
    this.devices[devfn] = dev;
    dev.attached(this, devfn);
    return dev;
  }

  /** The first free slot at or after `from` (function 0), as do_pci_register_device picks for devfn -1. */
  freeSlot(from: number, name: string): number {
    for (let slot = from; slot < 32; slot++) if (!this.devices[slot << 3]) return slot;
    throw new PciBusError(`PCI: no slot/function available for ${name}, all in use`);
  }

  /** hw/pci/pci.c:pci_init_multifunction: other functions of a slot need a multifunction function 0. */
  private checkMultifunction(dev: PciDevice, slot: number, fn: number): void {
    const multi = (d: PciDevice) => (d.cfg.byte(R.PCI_HEADER_TYPE) & R.PCI_HEADER_TYPE_MULTI_FUNCTION) !== 0;
    if (fn !== 0) {
      const f0 = this.devices[slot << 3];
      if (f0 && !multi(f0))
        throw new PciBusError(
          `PCI: single function device can't be populated in function ${slot.toString(16)}.${fn.toString(16)}`,
        );
      return;
    }
    if (multi(dev)) return;
    for (let f = 1; f < 8; f++) {
      if (this.devices[(slot << 3) | f])
        throw new PciBusError(
          `PCI: ${slot.toString(16)}.0 indicates single function, but ${slot.toString(16)}.${f.toString(16)} ` +
            'is already populated.',
        );
    }
  }

  /** pci_find_bus_nr: this bus or the child bus with that number, following bridge ranges. */
  findBus(busNum: number): PciBus | null {
    if (this.number() === busNum) return this;
    for (let bus: PciBus | null = this; bus; ) {
      let next: PciBus | null = null;
      for (const sec of bus.children) {
        if (sec.number() === busNum) return sec;
        if (sec.parentBridge!.secondaryBusInRange(busNum)) {
          next = sec;
          break;
        }
      }
      bus = next;
    }
    return null;
  }

  /** pci_find_device. */
  findDevice(busNum: number, devfn: number): PciDevice | null {
    return this.findBus(busNum)?.devices[devfn & 0xff] ?? null;
  }

  /** Every function on this bus and below, depth first. */
  allDevices(): PciDevice[] {
    const out: PciDevice[] = [];
    for (const d of this.devices) if (d) out.push(d);
    for (const c of this.children) out.push(...c.allDevices());
    return out;
  }
}
