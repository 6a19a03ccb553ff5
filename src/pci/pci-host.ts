import type { MemorySystem, MemoryRegion } from '../memory/index.ts';
import { PciBus, type PciBusSpaces } from './pci-bus.ts';
import type { PciDevice } from './pci-device.ts';
import { PCI_CONFIG_SPACE_SIZE } from '../common/pci-regs.ts';

const ALL_ONES = 0xffffffff;

function truncate(v: number, len: number): number {
  return len === 4 ? v >>> 0 : v & ((1 << (len * 8)) - 1);
}

/**
 * A PCI host bridge (QEMU's PCIHostState / PCIExpressHost): the root bus and the config access
 * mechanisms machines use — the x86 0xCF8/0xCFC port pair, PCIe ECAM, and a plain call path
 * for hypervisor calls such as pseries RTAS read-pci-config / write-pci-config.
 */
export class PciHost {
  readonly bus: PciBus;
  /** The CONFIG_ADDRESS latch behind port 0xCF8. */
  configReg = 0;

  constructor(
    readonly mem: MemorySystem,
    spaces: Required<PciBusSpaces>,
    busName = 'pci.0',
  ) {
    this.bus = new PciBus(mem, busName, spaces);
  }

  /**
   * pci_host_config_read_common / _write_common: nothing answers reads of a missing function or
   * past its config space (all ones); writes there are dropped.
   */
  configRead(busNum: number, devfn: number, offset: number, len: number, limit?: number): number {
    const dev = this.bus.findDevice(busNum, devfn);
    const lim = Math.min(limit ?? Infinity, dev?.cfg.size ?? 0);
    if (!dev || offset >= lim) return truncate(ALL_ONES, len);
    return dev.configRead(offset, Math.min(len, lim - offset));
  }

  configWrite(busNum: number, devfn: number, offset: number, value: number, len: number, limit?: number): void {
    const dev = this.bus.findDevice(busNum, devfn);
    const lim = Math.min(limit ?? Infinity, dev?.cfg.size ?? 0);
    if (!dev || offset >= lim) return;
    dev.configWrite(offset, value, Math.min(len, lim - offset));
  }

  /**
   * "pci-conf-idx" (4 bytes at 0xCF8) and "pci-conf-data" (4 bytes at 0xCFC), as
   * hw/pci/pci_host.c: only a 4-byte write at offset 0 latches CONFIG_ADDRESS; data accesses
   * reach bus/devfn/register from the latch when its enable bit (31) is set, 256 bytes only.
   */
  portRegions(): { index: MemoryRegion; data: MemoryRegion } {
    const index = this.mem.io('pci-conf-idx', 4, {
      endianness: 'little',
      read: () => this.configReg,
      write: (addr, v, len) => {
        if (addr === 0 && len === 4) this.configReg = Number(v) >>> 0;
      },
    });
    const data = this.mem.io('pci-conf-data', 4, {
      endianness: 'little',
      read: (addr, len) => {
        if (!(this.configReg & 0x80000000)) return truncate(ALL_ONES, len);
        const a = (this.configReg | (addr & 3)) >>> 0;
        return this.configRead(
          (a >>> 16) & 0xff,
          (a >>> 8) & 0xff,
          a & (PCI_CONFIG_SPACE_SIZE - 1),
          len,
          PCI_CONFIG_SPACE_SIZE,
        );
      },
      write: (addr, v, len) => {
        if (!(this.configReg & 0x80000000)) return;
        const a = (this.configReg | (addr & 3)) >>> 0;
        this.configWrite(
          (a >>> 16) & 0xff,
          (a >>> 8) & 0xff,
          a & (PCI_CONFIG_SPACE_SIZE - 1),
          Number(v),
          len,
          PCI_CONFIG_SPACE_SIZE,
        );
      },
    });
    return { index, data };
  }

  /**
   * PCIe ECAM ("pcie-mmcfg-mmio", hw/pci/pcie_host.c): bus in bits 20-27, devfn in 12-19, the
   * register in 0-11. `size` is the window (256 MiB for 256 buses).
   */
  ecamRegion(size = 0x10000000): MemoryRegion {
    return this.mem.io('pcie-mmcfg-mmio', size, {
      endianness: 'little',
      read: (addr, len) => this.configRead((addr >>> 20) & 0xff, (addr >>> 12) & 0xff, addr & 0xfff, len),
      write: (addr, v, len) =>
        this.configWrite((addr >>> 20) & 0xff, (addr >>> 12) & 0xff, addr & 0xfff, Number(v), len),
    });
  }

  /** Every function below the host, depth first. */
  devices(): PciDevice[] {
    return this.bus.allDevices();
  }
}
