import type { FunctionSpec } from '../host-file.ts';
import { COMMAND_IMPLEMENTED, type PhysicalConfig } from '../devices/physical-config.ts';
import * as P from '../../common/pci-regs.ts';

/** How the kernel treats one config byte (vfio_pci_config.c perm_bits, reduced to whole bytes). */
const enum Perm {
  /** Read from hardware; writes dropped. */
  ReadOnly,
  /** Read and written on the hardware (gaps between capabilities, cache line, PMCSR, DEVCTL). */
  PassThrough,
  /** Kept in vconfig; writes land there and never reach the device. */
  Virtual,
  /** Kept in vconfig, read-only. */
  VirtualReadOnly,
  /** BARs and ROM: virtual with sizing semantics (vfio_bar_fixup). */
  Bar,
  /** COMMAND: INTX_DISABLE virtual, every other bit to the hardware. */
  Command,
  /** MSI flags low byte: virtual, ENABLE only while MSI is enabled through SET_IRQS. */
  MsiFlags,
}

/**
 * The config region of a vfio-pci device fd: the kernel's virtualization of the physical config
 * space (drivers/vfio/pci/vfio_pci_config.c). BARs and ROM are virtual with sizing semantics and
 * never move the hardware; COMMAND's bits reach the device (which keeps those it implements), but
 * its INTX_DISABLE is virtual and masks INTx (the caller's commandWritten hook); MSI address and data stay in
 * vconfig; the MSI-X capability is read-only; gaps between capabilities pass through.
 */
export class VirtualConfig {
  private readonly perm: Perm[];
  private readonly vconfig: Uint8Array;

  constructor(
    private readonly spec: FunctionSpec,
    private readonly phys: PhysicalConfig,
    /** Whether MSI is enabled through SET_IRQS right now. */
    private readonly msiEnabled: () => boolean,
    /** After each write that touches COMMAND: the virtual INTX_DISABLE as it now reads. */
    private readonly commandWritten: (intxDisable: boolean) => void,
  ) {
    const n = phys.bytes.length;
    this.perm = new Array<Perm>(n).fill(Perm.ReadOnly);
    this.vconfig = new Uint8Array(n);
    const set = (from: number, len: number, p: Perm) => {
      for (let i = from; i < from + len; i++) this.perm[i] = p;
    };
    set(0, 4, Perm.VirtualReadOnly); // vendor and device: VFs read 0xffff, so the real ids live in vconfig
    set(P.PCI_COMMAND, 2, Perm.Command);
    set(P.PCI_CACHE_LINE_SIZE, 2, Perm.PassThrough);
    set(P.PCI_BASE_ADDRESS_0, 24, Perm.Bar);
    set(P.PCI_ROM_ADDRESS, 4, Perm.Bar);
    set(P.PCI_CAPABILITY_LIST, 1, Perm.VirtualReadOnly);
    set(P.PCI_INTERRUPT_LINE, 1, Perm.Virtual);
    set(P.PCI_INTERRUPT_PIN, 1, Perm.VirtualReadOnly);
    // Gaps between capabilities are raw pass-through (be2net needs it).
    set(P.PCI_CONFIG_HEADER_SIZE, Math.min(n, P.PCI_CONFIG_SPACE_SIZE) - P.PCI_CONFIG_HEADER_SIZE, Perm.PassThrough);
    for (const c of phys.caps) {
      set(c.offset, c.length, Perm.ReadOnly);
      set(c.offset + 1, 1, Perm.VirtualReadOnly); // every next pointer is virtual
      if (c.id === P.PCI_CAP_ID_PM) set(c.offset + 4, 2, Perm.PassThrough); // PMCSR: power state
      if (c.id === P.PCI_CAP_ID_EXP) set(c.offset + 8, 2, Perm.PassThrough); // DEVCTL
      if (c.id === P.PCI_CAP_ID_MSI) {
        set(c.offset + P.PCI_MSI_FLAGS, 1, Perm.MsiFlags);
        const dataEnd = c.offset + (spec.msi!.is64 ? 14 : 10);
        set(c.offset + P.PCI_MSI_ADDRESS_LO, dataEnd - c.offset - P.PCI_MSI_ADDRESS_LO, Perm.Virtual);
        // mask and pending
        if (spec.msi!.perVectorMask) set(dataEnd, c.length - (dataEnd - c.offset), Perm.PassThrough);
      }
    }
    for (let i = 0; i < n; i++)
      if (this.perm[i] === Perm.VirtualReadOnly || this.perm[i] === Perm.Virtual || this.perm[i] === Perm.MsiFlags)
        this.vconfig[i] = phys.bytes[i]!;
    // The user's view of BARs starts at zero (QEMU zeroes its copy anyway); the type bits stay.
    for (let i = P.PCI_BASE_ADDRESS_0; i < P.PCI_BASE_ADDRESS_0 + 24; i++) this.vconfig[i] = 0;
  }

  get size(): number {
    return this.phys.bytes.length;
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.readByte(offset + i);
    return v;
  }

  write(offset: number, value: number, size: number): void {
    for (let i = 0; i < size; i++) this.writeByte(offset + i, Math.floor(value / 256 ** i) & 0xff);
    // vfio_basic_config_write emulates INTx disable after any write whose chunk starts at COMMAND or
    // its upper byte; vfio_config_do_rw cuts writes into aligned chunks, so any write touching them.
    if (offset <= P.PCI_COMMAND + 1 && P.PCI_COMMAND < offset + size) this.commandWritten(this.intxDisable);
  }

  /** The user's COMMAND.INTX_DISABLE (kept in vconfig). */
  get intxDisable(): boolean {
    return (this.vconfig[P.PCI_COMMAND + 1]! & (P.PCI_COMMAND_INTX_DISABLE >> 8)) !== 0;
  }

  private readByte(off: number): number {
    switch (this.perm[off]) {
      case Perm.Virtual:
      case Perm.VirtualReadOnly:
        return this.vconfig[off]!;
      case Perm.MsiFlags:
        return (this.vconfig[off]! & ~P.PCI_MSI_FLAGS_ENABLE) | (this.msiEnabled() ? P.PCI_MSI_FLAGS_ENABLE : 0);
      case Perm.Bar:
        return this.barByte(off);
      case Perm.Command:
        return off === P.PCI_COMMAND
          ? this.phys.bytes[off]!
          : (this.phys.bytes[off]! & ~(P.PCI_COMMAND_INTX_DISABLE >> 8)) | this.vconfig[off]!;
      default:
        return this.phys.bytes[off] ?? 0xff;
    }
  }

  private writeByte(off: number, b: number): void {
    switch (this.perm[off]) {
      case Perm.Virtual:
      case Perm.Bar:
        this.vconfig[off] = b;
        return;
      case Perm.MsiFlags: {
        // QSIZE is clamped to what the device offers; ENABLE follows SET_IRQS, not the user.
        const qmax = (this.phys.bytes[off]! & P.PCI_MSI_FLAGS_QMASK) >> 1;
        const qsize = Math.min((b & P.PCI_MSI_FLAGS_QSIZE) >> 4, qmax);
        this.vconfig[off] = (this.vconfig[off]! & ~(P.PCI_MSI_FLAGS_QSIZE | P.PCI_MSI_FLAGS_ENABLE)) | (qsize << 4);
        return;
      }
      case Perm.Command:
        // init_pci_cap_basic_perm: p_setw(perm, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, ALL_WRITE),
        // so every bit but INTX_DISABLE is written through to the device, which keeps the bits it
        // implements; INTX_DISABLE lands in vconfig (the kernel drives the hardware bit itself).
        if (off === P.PCI_COMMAND) {
          const hw = COMMAND_IMPLEMENTED & 0xff;
          this.phys.bytes[off] = (this.phys.bytes[off]! & ~hw) | (b & hw);
        } else {
          const virt = P.PCI_COMMAND_INTX_DISABLE >> 8;
          const hw = (COMMAND_IMPLEMENTED >> 8) & ~virt;
          this.phys.bytes[off] = (this.phys.bytes[off]! & ~hw) | (b & hw);
          this.vconfig[off] = b & virt;
        }
        return;
      case Perm.PassThrough:
        this.phys.bytes[off] = b;
        return;
      default:
        return; // read-only: dropped silently
    }
  }

  /** vfio_bar_fixup: the user's value masked to the BAR's size, with the real type bits. */
  private barByte(off: number): number {
    const reg = off & ~3;
    const shift = (off & 3) * 8;
    const user =
      this.vconfig[reg]! |
      (this.vconfig[reg + 1]! << 8) |
      (this.vconfig[reg + 2]! << 16) |
      (this.vconfig[reg + 3]! * 0x1000000);
    return Number((this.barValue(reg, BigInt(user >>> 0)) >> BigInt(shift)) & 0xffn);
  }

  private barValue(reg: number, user: bigint): bigint {
    if (reg === P.PCI_ROM_ADDRESS) {
      const size = this.spec.romSize;
      return size ? (user & ~(size - 1n) & 0xfffff800n) | (user & BigInt(P.PCI_ROM_ADDRESS_ENABLE)) : 0n;
    }
    const index = (reg - P.PCI_BASE_ADDRESS_0) / 4;
    const own = this.spec.bars.find((b) => b.index === index);
    const lower = this.spec.bars.find((b) => b.index === index - 1 && b.kind === 'mem64');
    if (lower) return user & ((~(lower.size - 1n) >> 32n) & 0xffffffffn); // upper half of a 64-bit BAR
    if (!own) return 0n;
    const mask = ~(own.size - 1n) & 0xffffffffn;
    if (own.kind === 'io') return (user & mask & ~3n) | BigInt(P.PCI_BASE_ADDRESS_SPACE_IO);
    return (
      (user & mask & ~0xfn) |
      BigInt(
        (own.kind === 'mem64' ? P.PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
          (own.prefetchable ? P.PCI_BASE_ADDRESS_MEM_PREFETCH : 0),
      )
    );
  }
}
