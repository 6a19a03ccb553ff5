import type { MemoryRegion } from '../memory/index.ts';
import { PciDevice, type PciDeviceOptions } from './pci-device.ts';
import { PciBus } from './pci-bus.ts';
import * as R from '../common/pci-regs.ts';

const PCI_BRIDGE_CTL_BUS_RESET = 0x40;

/**
 * A PCI-to-PCI bridge (hw/pci/pci_bridge.c): a type 1 header with bus numbers and forwarding
 * windows. Its secondary bus decodes into "pci_bridge_pci" and "pci_bridge_io"; the windows are
 * aliases of those, laid into the parent bus's spaces at priority 1 and rebuilt on every write to
 * COMMAND, the window registers or BRIDGE_CONTROL (pci_bridge_update_mappings).
 */
export class PciBridge extends PciDevice {
  readonly secBus: PciBus;
  private readonly secMem: MemoryRegion;
  private readonly secIo: MemoryRegion;
  private windows: MemoryRegion[] = [];

  constructor(opts: Omit<PciDeviceOptions, 'classCode'> & { classCode?: number; busName?: string }) {
    super({ ...opts, classCode: opts.classCode ?? 0x060400 });
    this.secMem = this.mem.container('pci_bridge_pci', 1n << 64n);
    this.secIo = this.mem.container('pci_bridge_io', 0x100000000);
    this.secBus = new PciBus(
      this.mem,
      opts.busName ?? `${opts.name}.0`,
      { memSpace: this.secMem, ioSpace: this.secIo },
      this,
    );
  }

  override headerType(): number {
    return R.PCI_HEADER_TYPE_BRIDGE;
  }

  /** pci_init_mask_bridge on top of the type 0 masks. */
  protected override initMasks(): void {
    super.initMasks();
    const c = this.cfg;
    c.setWord(R.PCI_PRIMARY_BUS, 0xffff, c.wmask);
    c.wmask[R.PCI_SUBORDINATE_BUS] = 0xff;
    c.wmask[R.PCI_SEC_LATENCY_TIMER] = 0xff;
    c.wmask[R.PCI_IO_BASE] = R.PCI_IO_RANGE_MASK;
    c.wmask[R.PCI_IO_LIMIT] = R.PCI_IO_RANGE_MASK;
    c.setWord(R.PCI_MEMORY_BASE, R.PCI_MEMORY_RANGE_MASK, c.wmask);
    c.setWord(R.PCI_MEMORY_LIMIT, R.PCI_MEMORY_RANGE_MASK, c.wmask);
    c.setWord(R.PCI_PREF_MEMORY_BASE, R.PCI_PREF_RANGE_MASK, c.wmask);
    c.setWord(R.PCI_PREF_MEMORY_LIMIT, R.PCI_PREF_RANGE_MASK, c.wmask);
    c.setLong(R.PCI_PREF_BASE_UPPER32, 0xffffffff, c.wmask);
    c.setLong(R.PCI_PREF_LIMIT_UPPER32, 0xffffffff, c.wmask);
    c.config[R.PCI_IO_BASE] = c.config[R.PCI_IO_BASE]! | R.PCI_IO_RANGE_TYPE_16;
    c.config[R.PCI_IO_LIMIT] = c.config[R.PCI_IO_LIMIT]! | R.PCI_IO_RANGE_TYPE_16;
    c.setWord(R.PCI_PREF_MEMORY_BASE, c.word(R.PCI_PREF_MEMORY_BASE) | R.PCI_PREF_RANGE_TYPE_64);
    c.setWord(R.PCI_PREF_MEMORY_LIMIT, c.word(R.PCI_PREF_MEMORY_LIMIT) | R.PCI_PREF_RANGE_TYPE_64);
    c.setWord(R.PCI_BRIDGE_CONTROL, 0x0fff, c.wmask);
    c.setWord(R.PCI_SEC_STATUS, 0xf900, c.w1cmask); // parity, aborts, SERR, detected parity
    // The header has no subsystem ids and only BAR0/1; 0x28..0x33 are bridge registers.
  }

  override attached(bus: PciBus, devfn: number): void {
    super.attached(bus, devfn);
    bus.children.push(this.secBus);
    this.updateWindows();
  }

  /** pci_secondary_bus_in_range. */
  secondaryBusInRange(busNum: number): boolean {
    const c = this.cfg;
    return (
      !(c.word(R.PCI_BRIDGE_CONTROL) & PCI_BRIDGE_CTL_BUS_RESET) &&
      c.byte(R.PCI_SECONDARY_BUS) <= busNum &&
      busNum <= c.byte(R.PCI_SUBORDINATE_BUS)
    );
  }

  /** pci_bridge_get_base. */
  windowBase(kind: 'io' | 'mem' | 'pref'): bigint {
    const c = this.cfg;
    if (kind === 'io') {
      const v = c.byte(R.PCI_IO_BASE);
      let base = BigInt(v & R.PCI_IO_RANGE_MASK) << 8n;
      if (v & R.PCI_IO_RANGE_TYPE_32) base |= BigInt(c.word(R.PCI_IO_BASE_UPPER16)) << 16n;
      return base;
    }
    if (kind === 'mem') return BigInt(c.word(R.PCI_MEMORY_BASE) & R.PCI_MEMORY_RANGE_MASK) << 16n;
    const v = c.word(R.PCI_PREF_MEMORY_BASE);
    let base = BigInt(v & R.PCI_PREF_RANGE_MASK) << 16n;
    if (v & R.PCI_PREF_RANGE_TYPE_64) base |= BigInt(c.long(R.PCI_PREF_BASE_UPPER32)) << 32n;
    return base;
  }

  /** pci_bridge_get_limit. */
  windowLimit(kind: 'io' | 'mem' | 'pref'): bigint {
    const c = this.cfg;
    if (kind === 'io') {
      const v = c.byte(R.PCI_IO_LIMIT);
      let limit = BigInt(v & R.PCI_IO_RANGE_MASK) << 8n;
      if (v & R.PCI_IO_RANGE_TYPE_32) limit |= BigInt(c.word(R.PCI_IO_LIMIT_UPPER16)) << 16n;
      return limit | 0xfffn;
    }
    if (kind === 'mem') return (BigInt(c.word(R.PCI_MEMORY_LIMIT) & R.PCI_MEMORY_RANGE_MASK) << 16n) | 0xfffffn;
    const v = c.word(R.PCI_PREF_MEMORY_LIMIT);
    let limit = BigInt(v & R.PCI_PREF_RANGE_MASK) << 16n;
    if (v & R.PCI_PREF_RANGE_TYPE_64) limit |= BigInt(c.long(R.PCI_PREF_LIMIT_UPPER32)) << 32n;
    return limit | 0xfffffn;
  }

  /** pci_bridge_update_mappings: drop the three window aliases and lay new ones, in one transaction. */
  updateWindows(): void {
    const parent = this.bus;
    if (!parent) return;
    const cmd = this.cfg.word(R.PCI_COMMAND);
    this.mem.transaction(() => {
      for (const w of this.windows) w.container!.delSubregion(w);
      const make = (
        name: string,
        kind: 'io' | 'mem' | 'pref',
        target: MemoryRegion,
        space: MemoryRegion,
        enabled: boolean,
      ) => {
        const base = this.windowBase(kind);
        const limit = this.windowLimit(kind);
        const size = enabled && limit >= base ? limit + 1n - base : 0n;
        const alias = this.mem.alias(name, target, base, size);
        alias.owner = { owner: `dev id=${this.name}` };
        space.addSubregionOverlap(base, alias, 1);
        return alias;
      };
      this.windows = [
        make('pci_bridge_pref_mem', 'pref', this.secMem, parent.memSpace, (cmd & R.PCI_COMMAND_MEMORY) !== 0),
        make('pci_bridge_mem', 'mem', this.secMem, parent.memSpace, (cmd & R.PCI_COMMAND_MEMORY) !== 0),
        make('pci_bridge_io', 'io', this.secIo, parent.ioSpace, (cmd & R.PCI_COMMAND_IO) !== 0),
      ];
    });
  }

  /** pci_bridge_write_config. */
  protected override writeConfig(offset: number, value: number, len: number): void {
    super.writeConfig(offset, value, len);
    const overlaps = (start: number, size: number) => offset < start + size && start < offset + len;
    if (
      overlaps(R.PCI_COMMAND, 2) ||
      overlaps(R.PCI_IO_BASE, 2) ||
      overlaps(R.PCI_MEMORY_BASE, 20) ||
      overlaps(R.PCI_BRIDGE_CONTROL, 2)
    ) {
      this.updateWindows();
    }
  }
}
