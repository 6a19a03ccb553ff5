import type { MemorySystem, MemoryRegion, AddressSpace } from '../memory/index.ts';
import { ConfigSpace } from './config-space.ts';
import * as R from '../common/pci-regs.ts';
import type { PciBus, PciIntxRoute } from './pci-bus.ts';
import type { Msi } from './msi.ts';
import type { Msix } from './msix.ts';

/** What a PCI function is, at creation (QEMU's PCIDeviceClass fields and qdev properties). */
export interface PciDeviceOptions {
  mem: MemorySystem;
  name: string;
  vendorId: number;
  deviceId: number;
  /** 24 bits: class, subclass, programming interface. */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 4 KiB config space with room for extended capabilities. */
  express?: boolean;
  multifunction?: boolean;
  /** 1 = INTA ... 4 = INTD, 0 = none. */
  interruptPin?: number;
  /** QEMU's msi_nonbroken: false when the interrupt controller cannot take MSIs. */
  msiSupported?: boolean;
}

/** One of the seven regions of a function (six BARs and the expansion ROM). */
export interface PciBar {
  /** Power-of-two size. */
  size: bigint;
  /** PCI_BASE_ADDRESS_SPACE_IO, or memory with MEM_TYPE_64 / MEM_PREFETCH bits. */
  type: number;
  region: MemoryRegion;
  /** Where it is mapped in the bus's address space, or PCI_BAR_UNMAPPED. */
  addr: bigint;
}

/** A config access that was dropped and why (bad offset or size); guests never make vdm throw. */
export interface DroppedConfigAccess {
  offset: number;
  len: number;
  isWrite: boolean;
  reason: string;
}

/**
 * A PCI function (QEMU's PCIDevice): config space with QEMU's masks, BARs mapped by
 * pci_update_mappings, MSI/MSI-X attachments and a bus-master address space.
 */
export class PciDevice {
  readonly cfg: ConfigSpace;
  readonly mem: MemorySystem;
  readonly name: string;
  readonly bars: (PciBar | null)[] = new Array(R.PCI_NUM_REGIONS).fill(null);
  readonly msiSupported: boolean;
  bus: PciBus | null = null;
  devfn = -1;
  msi: Msi | null = null;
  msix: Msix | null = null;
  /** "bus master container" and its disabled "bus master" alias of the DMA root (pci_init_bus_master). */
  busMasterContainer: MemoryRegion | null = null;
  busMasterEnable: MemoryRegion | null = null;
  busMasterAs: AddressSpace | null = null;
  readonly dropped: DroppedConfigAccess[] = [];
  /** INTx level as the device drives it (pci_set_irq). */
  intxLevel = 0;
  /** Called when the board's INTx routing changes (pci_device_set_intx_routing_notifier). */
  intxRoutingNotifier: (() => void) | null = null;
  /** MSI/MSI-X messages sent into the bus-master address space. */
  msiMessagesSent = 0;

  constructor(opts: PciDeviceOptions) {
    this.mem = opts.mem;
    this.name = opts.name;
    this.msiSupported = opts.msiSupported ?? true;
    this.cfg = new ConfigSpace(opts.express ? R.PCIE_CONFIG_SPACE_SIZE : R.PCI_CONFIG_SPACE_SIZE);
    const c = this.cfg;
    c.setWord(R.PCI_VENDOR_ID, opts.vendorId);
    c.setWord(R.PCI_DEVICE_ID, opts.deviceId);
    c.setByte(R.PCI_REVISION_ID, opts.revision ?? 0);
    c.setByte(R.PCI_CLASS_PROG, opts.classCode & 0xff);
    c.setWord(R.PCI_CLASS_DEVICE, opts.classCode >>> 8);
    c.setByte(R.PCI_HEADER_TYPE, this.headerType() | (opts.multifunction ? R.PCI_HEADER_TYPE_MULTI_FUNCTION : 0));
    if (this.headerType() === R.PCI_HEADER_TYPE_NORMAL) {
      c.setWord(R.PCI_SUBSYSTEM_VENDOR_ID, opts.subsystemVendorId ?? 0);
      c.setWord(R.PCI_SUBSYSTEM_ID, opts.subsystemId ?? 0);
    }
    c.setByte(R.PCI_INTERRUPT_PIN, opts.interruptPin ?? 0);
    this.initMasks();
  }

  /**
   * pci_set_irq → pci_irq_handler: drive the function's INTx pin; the board routes it to an
   * interrupt line unless COMMAND.INTX_DISABLE holds it off (the pin's level is kept all the same).
   */
  setIrq(level: number): void {
    const pin = this.cfg.byte(R.PCI_INTERRUPT_PIN);
    if (!pin || level === this.intxLevel) return;
    this.intxLevel = level;
    if (this.irqDisabled()) return;
    this.bus?.intxRouter?.setLevel(this, pin - 1, level !== 0);
  }

  /** pci_irq_disabled: COMMAND.INTX_DISABLE of the emulated config space. */
  private irqDisabled(): boolean {
    return (this.cfg.word(R.PCI_COMMAND) & R.PCI_COMMAND_INTX_DISABLE) !== 0;
  }

  /** pci_update_irq_disabled: INTX_DISABLE changed, so an asserted pin leaves the line or comes back. */
  private updateIrqDisabled(wasDisabled: boolean): void {
    const disabled = this.irqDisabled();
    const pin = this.cfg.byte(R.PCI_INTERRUPT_PIN);
    if (disabled === wasDisabled || !pin || !this.intxLevel) return;
    this.bus?.intxRouter?.setLevel(this, pin - 1, !disabled);
  }

  /** pci_device_route_intx_to_irq: where pin `pin` (0 = INTA) ends at the interrupt controller. */
  routeIntx(pin: number): PciIntxRoute {
    return this.bus?.intxRouter?.route(this, pin) ?? { mode: 'disabled', irq: -1 };
  }

  /** Type 0 for endpoints; bridges override. */
  headerType(): number {
    return R.PCI_HEADER_TYPE_NORMAL;
  }

  get vendorId(): number {
    return this.cfg.word(R.PCI_VENDOR_ID);
  }

  get deviceId(): number {
    return this.cfg.word(R.PCI_DEVICE_ID);
  }

  /** "bb:dd.f" on its bus. */
  get address(): string {
    const bus = this.bus ? this.bus.number() : 0;
    return `${hex2(bus)}:${hex2(this.devfn >> 3)}.${this.devfn & 7}`;
  }

  /** pci_init_wmask / pci_init_w1cmask. */
  protected initMasks(): void {
    const c = this.cfg;
    c.wmask[R.PCI_CACHE_LINE_SIZE] = 0xff;
    c.wmask[R.PCI_INTERRUPT_LINE] = 0xff;
    c.setWord(
      R.PCI_COMMAND,
      R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE | R.PCI_COMMAND_SERR,
      c.wmask,
    );
    c.wmask.fill(0xff, R.PCI_CONFIG_HEADER_SIZE, c.size);
    c.setWord(
      R.PCI_STATUS,
      R.PCI_STATUS_PARITY |
        R.PCI_STATUS_SIG_TARGET_ABORT |
        R.PCI_STATUS_REC_TARGET_ABORT |
        R.PCI_STATUS_REC_MASTER_ABORT |
        R.PCI_STATUS_SIG_SYSTEM_ERROR |
        R.PCI_STATUS_DETECTED_PARITY,
      c.w1cmask,
    );
  }

  /** Called by PciBus.attach: the bus-master address space (do_pci_register_device, pci_init_bus_master). */
  attached(bus: PciBus, devfn: number): void {
    this.bus = bus;
    this.devfn = devfn;
    const mem = this.mem;
    this.busMasterContainer = mem.container('bus master container', 1n << 64n);
    this.busMasterEnable = mem.alias('bus master', bus.dmaRoot, 0, bus.dmaRoot.size);
    this.busMasterEnable.setEnabled(false);
    this.busMasterContainer.addSubregion(0, this.busMasterEnable);
    this.busMasterAs = mem.addressSpace(this.name, this.busMasterContainer);
  }

  /**
   * pci_register_bar: a power-of-two region whose base bits become writable (sizing by writing
   * all ones reads back ~(size-1) | type). Slot 6 is the expansion ROM.
   */
  registerBar(n: number, type: number, region: MemoryRegion): void {
    const size = region.size;
    if (
      n < 0 ||
      n >= R.PCI_NUM_REGIONS ||
      (this.headerType() === R.PCI_HEADER_TYPE_BRIDGE && n > 1 && n !== R.PCI_ROM_SLOT)
    ) {
      throw new RangeError(`${this.name}: BAR ${n} does not exist on this header type`);
    }
    if (size === 0n || (size & (size - 1n)) !== 0n)
      throw new RangeError(`${this.name}: BAR ${n} size 0x${size.toString(16)} is not a power of two`);
    const is64 = !(type & R.PCI_BASE_ADDRESS_SPACE_IO) && (type & R.PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0;
    if (is64 && n >= 5) throw new RangeError(`${this.name}: a 64-bit BAR cannot start at BAR ${n}`);
    if (is64 && this.bars[n + 1]) throw new RangeError(`${this.name}: 64-bit BAR ${n} overlaps BAR ${n + 1}`);
    let wmask = ~(size - 1n);
    if (n === R.PCI_ROM_SLOT) wmask |= BigInt(R.PCI_ROM_ADDRESS_ENABLE);
    const off = this.barOffset(n);
    const c = this.cfg;
    c.setLong(off, type);
    if (is64) {
      c.setQuad(off, wmask, c.wmask);
      c.setQuad(off, -1n, c.cmask);
    } else {
      c.setLong(off, Number(BigInt.asUintN(32, wmask)), c.wmask);
      c.setLong(off, 0xffffffff, c.cmask);
    }
    this.bars[n] = { size, type, region, addr: R.PCI_BAR_UNMAPPED };
  }

  /** Config offset of a BAR (pci_bar). */
  barOffset(n: number): number {
    if (n === R.PCI_ROM_SLOT)
      return this.headerType() === R.PCI_HEADER_TYPE_BRIDGE ? R.PCI_ROM_ADDRESS1 : R.PCI_ROM_ADDRESS;
    return R.PCI_BASE_ADDRESS_0 + n * 4;
  }

  /** pci_bar_address: where BAR n decodes now, or PCI_BAR_UNMAPPED. */
  barAddress(n: number): bigint {
    const bar = this.bars[n]!;
    const cmd = this.cfg.word(R.PCI_COMMAND);
    const off = this.barOffset(n);
    const size = bar.size;
    if (bar.type & R.PCI_BASE_ADDRESS_SPACE_IO) {
      if (!(cmd & R.PCI_COMMAND_IO)) return R.PCI_BAR_UNMAPPED;
      const addr = BigInt(this.cfg.long(off)) & ~(size - 1n);
      const last = addr + size - 1n;
      if (last <= addr || last >= 0xffffffffn || addr === 0n) return R.PCI_BAR_UNMAPPED;
      return addr;
    }
    if (!(cmd & R.PCI_COMMAND_MEMORY)) return R.PCI_BAR_UNMAPPED;
    const is64 = (bar.type & R.PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0;
    let addr = is64 ? this.cfg.quad(off) : BigInt(this.cfg.long(off));
    if (n === R.PCI_ROM_SLOT && !(addr & BigInt(R.PCI_ROM_ADDRESS_ENABLE))) return R.PCI_BAR_UNMAPPED;
    addr &= ~(size - 1n);
    const last = addr + size - 1n;
    if (last <= addr || addr === 0n || last >= R.PCI_BAR_UNMAPPED) return R.PCI_BAR_UNMAPPED; // no wrapping
    if (!is64 && last >= 0xffffffffn) return R.PCI_BAR_UNMAPPED;
    return addr;
  }

  /**
   * pci_update_mappings: a BAR is in the bus's memory or I/O space, at priority 1, exactly while
   * decoding is enabled and its address is valid; a move deletes and re-adds it.
   */
  updateMappings(): void {
    const bus = this.bus;
    if (!bus) return;
    this.mem.transaction(() => {
      this.bars.forEach((bar, n) => {
        if (!bar) return;
        const next = this.barAddress(n);
        if (next === bar.addr) return;
        const space = bar.type & R.PCI_BASE_ADDRESS_SPACE_IO ? bus.ioSpace : bus.memSpace;
        if (bar.addr !== R.PCI_BAR_UNMAPPED) space.delSubregion(bar.region);
        bar.addr = next;
        if (next !== R.PCI_BAR_UNMAPPED) space.addSubregionOverlap(next, bar.region, 1);
      });
    });
  }

  /** A config read from the bus (config_read): bad offsets or sizes read all ones and are recorded. */
  configRead(offset: number, len: number): number {
    if (!this.accessOk(offset, len, false)) return len === 4 ? 0xffffffff : (1 << (len * 8)) - 1;
    return this.readConfig(offset, len);
  }

  /** A config write from the bus (config_write): bad offsets or sizes are dropped and recorded. */
  configWrite(offset: number, value: number, len: number): void {
    if (!this.accessOk(offset, len, true)) return;
    this.writeConfig(offset, value >>> 0, len);
  }

  /** pci_default_read_config; device models override to add side effects. */
  protected readConfig(offset: number, len: number): number {
    return this.cfg.read(offset, len);
  }

  /** pci_default_write_config, with the MSI and MSI-X hooks it runs. */
  protected writeConfig(offset: number, value: number, len: number): void {
    const c = this.cfg;
    const wasIrqDisabled = this.irqDisabled();
    c.write(offset, value, len);
    const overlaps = (start: number, size: number) => offset < start + size && start < offset + len;
    if (
      overlaps(R.PCI_BASE_ADDRESS_0, 24) ||
      overlaps(R.PCI_ROM_ADDRESS, 4) ||
      overlaps(R.PCI_ROM_ADDRESS1, 4) ||
      overlaps(R.PCI_COMMAND, 1)
    ) {
      this.updateMappings();
    }
    if (overlaps(R.PCI_COMMAND, 1)) {
      this.busMasterEnable?.setEnabled((c.word(R.PCI_COMMAND) & R.PCI_COMMAND_MASTER) !== 0);
    }
    if (overlaps(R.PCI_COMMAND, 2)) this.updateIrqDisabled(wasIrqDisabled);
    this.msi?.writeConfig(offset, value, len);
    this.msix?.writeConfig(offset, value, len);
  }

  /** pci_device_reset, the parts vdm models: INTx deasserted, command, BARs, MSI/MSI-X state. */
  reset(): void {
    const c = this.cfg;
    this.setIrq(0); // pci_do_device_reset: pci_device_deassert_intx first
    c.setWord(R.PCI_COMMAND, c.word(R.PCI_COMMAND) & ~c.word(R.PCI_COMMAND, c.wmask));
    c.setWord(R.PCI_STATUS, c.word(R.PCI_STATUS) & ~c.word(R.PCI_STATUS, c.w1cmask));
    c.setByte(R.PCI_CACHE_LINE_SIZE, 0);
    c.setByte(R.PCI_INTERRUPT_LINE, 0);
    this.bars.forEach((bar, n) => {
      if (!bar) return;
      const off = this.barOffset(n);
      const is64 = !(bar.type & R.PCI_BASE_ADDRESS_SPACE_IO) && (bar.type & R.PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0;
      if (is64) c.setQuad(off, BigInt(bar.type));
      else c.setLong(off, bar.type);
    });
    this.updateMappings();
    this.busMasterEnable?.setEnabled(false);
    this.msi?.reset();
    this.msix?.reset();
  }

  private accessOk(offset: number, len: number, isWrite: boolean): boolean {
    let reason = '';
    if (len !== 1 && len !== 2 && len !== 4) reason = `size ${len}`;
    else if (!Number.isInteger(offset) || offset < 0 || offset + len > this.cfg.size)
      reason = `offset 0x${offset.toString(16)} outside the ${this.cfg.size}-byte config space`;
    if (reason) this.dropped.push({ offset, len, isWrite, reason });
    return !reason;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
