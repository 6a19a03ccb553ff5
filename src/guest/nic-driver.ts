// The datasheet of the synthetic NIC (register offsets and descriptor layout) is shared with the
// device model the way a driver's header mirrors the hardware manual; no device object is used.
import { NIC_DESC_SIZE, NIC_REGS } from '../common/nic-datasheet.ts';
import type { GuestPlatform } from './platform.ts';
import type { ConfigAccess, FoundFunction } from './firmware.ts';
import type { GuestProgram } from './guest-file.ts';
import type { GuestKernel } from './kernel.ts';

import {
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_INTERRUPT_LINE,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_ENABLE as MSIX_ENABLE,
  PCI_MSIX_FLAGS_MASKALL as MSIX_MASKALL,
} from '../common/pci-regs.ts';
import { RTAS_CHANGE_MSI_FN, RTAS_CHANGE_MSIX_FN } from '../common/papr.ts';

/** What the driver saw and did. */
export interface DriverStats {
  /** How MSI-X was programmed: table writes (x86, arm, e500) or RTAS ibm,change-msi (pseries). */
  msixProgrammedBy: 'table' | 'rtas' | 'none';
  /** What pci_alloc_irq_vectors settled on: MSI-X, else MSI, else the INTx pin (none: polling only). */
  irqMode: 'msix' | 'msi' | 'intx' | 'none';
  /** Guest interrupt number of each vector. */
  vectorIrqs: number[];
  /** Interrupts handled, per vector. */
  handled: number[];
  transmits: number;
  completions: number;
  statusReads: number;
  masks: number;
  /** TCE entries the guest installed (pseries). */
  tces: number;
}

/**
 * The driver stage: a NIC driver as data. It finds its MSI-X capability, enables MSI-X the
 * machine's way, builds a TX ring in guest RAM (mapping it through its TCE window on pseries),
 * then runs the workload loop: post a descriptor, ring the doorbell, poll STATUS, take the
 * completion interrupt (reading the read-to-clear ICR), sometimes mask vector 0 across a round.
 */
export class NicDriver {
  readonly stats: DriverStats = {
    msixProgrammedBy: 'none',
    irqMode: 'none',
    vectorIrqs: [],
    handled: [],
    transmits: 0,
    completions: 0,
    statusReads: 0,
    masks: 0,
    tces: 0,
  };
  private readonly bar0: number;
  private msixCap = 0;
  private tableBase = 0;
  private ringGpa = 0n;
  private ringBus = 0n;
  private bufGpa = 0n;
  private bufBus = 0n;
  private tail = 0;

  constructor(
    private readonly p: GuestPlatform,
    private readonly kernel: GuestKernel,
    private readonly cfg: ConfigAccess,
    private readonly fn: FoundFunction,
    private readonly program: GuestProgram,
  ) {
    this.bar0 = Number(fn.bars.find((b) => b.index === 0)!.address);
  }

  private rd(off: number): number {
    return this.p.memory.read(this.bar0 + off, 4);
  }

  private wr(off: number, v: number): void {
    this.p.memory.write(this.bar0 + off, v >>> 0, 4);
  }

  /**
   * Probe: interrupts as pci_alloc_irq_vectors(PCI_IRQ_ALL_TYPES) falls back (MSI-X, then MSI,
   * then the INTx pin; the program's noMsix/noMsi act like pci=nomsi), the ring, the handler.
   */
  probe(): void {
    const { bus, devfn } = this.fn;
    const rtas = this.p.firmware.config === 'rtas';
    this.msixCap = this.program.noMsix ? 0 : this.cfg.findCapability(bus, devfn, PCI_CAP_ID_MSIX);
    const n = this.program.vectors;
    if (this.msixCap) {
      if (rtas) this.msixByRtas(n);
      else this.msixByTable(n);
      if (this.stats.vectorIrqs.length) this.stats.irqMode = 'msix';
    }
    const msiCap = this.program.noMsi ? 0 : this.cfg.findCapability(bus, devfn, PCI_CAP_ID_MSI);
    if (!this.stats.vectorIrqs.length && msiCap) {
      if (rtas) this.msiByRtas(msiCap);
      else this.msiByConfig(msiCap);
      if (this.stats.vectorIrqs.length) this.stats.irqMode = 'msi';
    }
    this.stats.handled = new Array(Math.max(this.stats.vectorIrqs.length, 1)).fill(0);
    this.stats.vectorIrqs.forEach((irq, v) => this.kernel.requestIrq(irq, () => this.interrupt(v)));
    const irq = this.kernel.intxIrq(this.fn, this.cfg);
    if (irq >= 0) this.cfg.write(bus, devfn, PCI_INTERRUPT_LINE, irq & 0xff, 1); // pci_assign_irq tells the device
    if (!this.stats.vectorIrqs.length && irq >= 0) {
      this.stats.irqMode = 'intx';
      this.stats.vectorIrqs.push(irq);
      this.kernel.requestSharedIrq(irq, () => this.intxInterrupt());
    }
    this.setUpRing();
  }

  /** msi_capability_init: one vector, the message in the capability, then ENABLE. */
  private msiByConfig(cap: number): void {
    const { bus, devfn } = this.fn;
    const { first, count } = this.kernel.allocVectors(1);
    if (count === 0) return;
    const flags = this.cfg.read(bus, devfn, cap + 2, 2);
    const msg = this.p.firmware.msiMessage(first);
    const is64 = (flags & PCI_MSI_FLAGS_64BIT) !== 0;
    this.cfg.write(bus, devfn, cap + 4, Number(msg.address & 0xffffffffn), 4);
    if (is64) this.cfg.write(bus, devfn, cap + 8, Number(msg.address >> 32n), 4);
    this.cfg.write(bus, devfn, cap + (is64 ? 12 : 8), msg.data, 2);
    this.intxOff();
    this.cfg.write(bus, devfn, cap + 2, (flags & ~0x70) | PCI_MSI_FLAGS_ENABLE, 2);
    this.stats.vectorIrqs.push(this.p.firmware.msiIrq(first));
  }

  /** rtas_setup_msi_irqs for MSI: ibm,change-msi function 3 writes the capability; the kernel enables it. */
  private msiByRtas(cap: number): void {
    const { bus, devfn } = this.fn;
    const cfgAddr = (bus << 16) | (devfn << 8);
    const buid = this.p.firmware.buid!;
    const hi = Number(buid >> 32n);
    const lo = Number(buid & 0xffffffffn);
    const r = this.p.rtas('ibm,change-msi', [cfgAddr, hi, lo, RTAS_CHANGE_MSI_FN, 1, 1]);
    if (r[0] !== 0 || r[1] !== 1) return;
    this.stats.vectorIrqs.push(this.p.rtas('ibm,query-interrupt-source-number', [cfgAddr, hi, lo, 0])[1]!);
    this.intxOff();
    this.cfg.write(bus, devfn, cap + 2, this.cfg.read(bus, devfn, cap + 2, 2) | PCI_MSI_FLAGS_ENABLE, 2);
  }

  /**
   * pci_intx_for_msi(dev, 0) → pci_intx (drivers/pci/pci.c), which msi_capability_init and
   * msix_capability_init run once the vectors are set up: COMMAND.INTX_DISABLE, written only if
   * it changes.
   */
  private intxOff(): void {
    const { bus, devfn } = this.fn;
    const cmd = this.cfg.read(bus, devfn, PCI_COMMAND, 2);
    if (!(cmd & PCI_COMMAND_INTX_DISABLE)) this.cfg.write(bus, devfn, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE, 2);
  }

  /** The INTx handler on a possibly shared line: read-to-clear ICR says whether this device interrupted. */
  private intxInterrupt(): boolean {
    const icr = this.rd(NIC_REGS.ICR);
    if (!icr) return false;
    this.stats.handled[0]!++;
    if (icr & 1) this.stats.completions++;
    return true;
  }

  private msixByTable(n: number): void {
    const { bus, devfn } = this.fn;
    const table = this.cfg.read(bus, devfn, this.msixCap + 4, 4);
    const bar = this.fn.bars.find((b) => b.index === (table & 7))!;
    this.tableBase = Number(bar.address) + (table & ~7);
    const entries = (this.cfg.read(bus, devfn, this.msixCap + 2, 2) & 0x7ff) + 1;
    const { first, count } = this.kernel.allocVectors(Math.min(n, entries));
    if (count === 0) return; // the controller's vectors are gone: no MSI-X for this device
    // msix_capability_init: ENABLE with MASKALL, program entries, unmask them, INTx off, drop MASKALL.
    this.cfg.write(bus, devfn, this.msixCap + 2, MSIX_ENABLE | MSIX_MASKALL, 2);
    for (let v = 0; v < count; v++) {
      const msg = this.p.firmware.msiMessage(first + v);
      const e = this.tableBase + v * 16;
      this.p.memory.write(e, Number(msg.address & 0xffffffffn), 4);
      this.p.memory.write(e + 4, Number(msg.address >> 32n), 4);
      this.p.memory.write(e + 8, msg.data, 4);
      this.p.memory.write(e + 12, 0, 4);
      this.stats.vectorIrqs.push(this.p.firmware.msiIrq(first + v));
    }
    this.intxOff();
    this.cfg.write(bus, devfn, this.msixCap + 2, MSIX_ENABLE, 2);
    this.stats.msixProgrammedBy = 'table';
  }

  private msixByRtas(n: number): void {
    const { bus, devfn } = this.fn;
    const cfgAddr = (bus << 16) | (devfn << 8);
    const buid = this.p.firmware.buid!;
    const hi = Number(buid >> 32n);
    const lo = Number(buid & 0xffffffffn);
    let want = n;
    let seq = 1;
    for (;;) {
      const r = this.p.rtas('ibm,change-msi', [cfgAddr, hi, lo, RTAS_CHANGE_MSIX_FN, want, seq]);
      if (r[0] !== 0) return;
      seq = r[2]!;
      if (r[1] === want) break;
      want = r[1]!; // fewer available: ask again for what the platform offered
    }
    for (let v = 0; v < want; v++)
      this.stats.vectorIrqs.push(this.p.rtas('ibm,query-interrupt-source-number', [cfgAddr, hi, lo, v])[1]!);
    this.intxOff();
    this.cfg.write(bus, devfn, this.msixCap + 2, MSIX_ENABLE, 2);
    this.stats.msixProgrammedBy = 'rtas';
  }

  /** Ring and buffers from the kernel's RAM; bus addresses through the TCE window when there is one. */
  private setUpRing(): void {
    const ringBytes = BigInt(this.program.ringSize * NIC_DESC_SIZE);
    const bufBytes = BigInt(this.program.ringSize * this.program.bufferSize);
    this.ringGpa = this.kernel.allocRam(ringBytes);
    this.bufGpa = this.kernel.allocRam(bufBytes);
    this.ringBus = this.dmaMap(this.ringGpa, ringBytes);
    this.bufBus = this.dmaMap(this.bufGpa, bufBytes);
    this.wr(NIC_REGS.RING_LO, Number(this.ringBus & 0xffffffffn));
    this.wr(NIC_REGS.RING_HI, Number(this.ringBus >> 32n));
    this.wr(NIC_REGS.RING_LEN, this.program.ringSize);
  }

  /** The bus address of [gpa, gpa+len): identity, or TCEs installed with H_PUT_TCE. */
  private dmaMap(gpa: bigint, len: bigint): bigint {
    const w = this.p.firmware.dmaWindow;
    if (!w) return gpa;
    const page = 1n << BigInt(w.pageShift);
    const pages = Number((len + (gpa & (page - 1n)) + page - 1n) / page);
    const first = this.kernel.allocIoba(pages, page);
    const base = gpa & ~(page - 1n);
    for (let k = 0; k < pages; k++) {
      this.p.hcall('H_PUT_TCE', first + BigInt(k) * page, (base + BigInt(k) * page) | 3n);
      this.stats.tces++;
    }
    return first + (gpa & (page - 1n));
  }

  /** The workload loop; `onIteration` (progress reporting) runs after each iteration. */
  run(onIteration?: () => void): void {
    const prog = this.program;
    for (let i = 0; i < prog.iterations; i++) {
      const mask =
        prog.maskEvery > 0 && i % prog.maskEvery === prog.maskEvery - 1 && this.stats.msixProgrammedBy === 'table';
      if (mask) this.setMask(0, true);
      this.post(this.tail, this.bufBus + BigInt(this.tail * prog.bufferSize), prog.bufferSize);
      for (let s = 0; s < prog.statusReads; s++) {
        this.rd(NIC_REGS.STATUS);
        this.stats.statusReads++;
      }
      if (mask) this.setMask(0, false);
      if (prog.iterationUs) this.p.wait(prog.iterationUs * 1000);
      onIteration?.();
    }
  }

  /** Writes descriptor `slot` and rings the doorbell with the new tail. */
  private post(slot: number, busAddr: bigint, length: number): void {
    const d = Number(this.ringGpa) + slot * NIC_DESC_SIZE;
    this.p.memory.write(d, Number(busAddr & 0xffffffffn), 4);
    this.p.memory.write(d + 4, Number(busAddr >> 32n), 4);
    this.p.memory.write(d + 8, length, 4);
    this.p.memory.write(d + 12, 0, 4);
    this.tail = (this.tail + 1) % this.program.ringSize;
    this.wr(NIC_REGS.DOORBELL, this.tail);
    this.stats.transmits++;
  }

  private setMask(v: number, masked: boolean): void {
    this.p.memory.write(this.tableBase + v * 16 + 12, masked ? 1 : 0, 4);
    if (masked) this.stats.masks++;
  }

  /** The handler of vector v: read-to-clear the cause. */
  private interrupt(v: number): void {
    this.stats.handled[v]!++;
    if (this.rd(NIC_REGS.ICR) & 1) this.stats.completions++;
  }

  /**
   * A misbehaving guest: garbage into config space, the MSI-X table past its entries and the PBA,
   * loads and stores where nothing is mapped, and a descriptor whose buffer lies outside RAM.
   */
  misbehave(): void {
    const { bus, devfn } = this.fn;
    for (let reg = 0; reg < 0x100; reg += 4) this.cfg.write(bus, devfn, reg, 0xdeadbeef, 4);
    this.cfg.write(bus, devfn, 4, 0x6, 2); // keep decoding so the rest of the run means something
    for (const b of this.fn.bars) {
      const reg = 0x10 + 4 * b.index;
      this.cfg.write(bus, devfn, reg, Number(b.address & 0xffffffffn), 4);
      if (b.kind === 'mem64') this.cfg.write(bus, devfn, reg + 4, Number(b.address >> 32n), 4);
    }
    this.cfg.write(bus, devfn, 0x1000, 1, 4); // past config space
    if (this.tableBase) {
      this.p.memory.write(this.tableBase + 0x7f0, 0xffffffff, 4);
      this.p.memory.write(this.tableBase + 0x1000, 0xffffffff, 4);
    }
    const unmapped = Number(this.p.firmware.mmio32.base + this.p.firmware.mmio32.size - 0x1000n);
    this.p.memory.write(unmapped, 0x12345678, 4);
    this.p.memory.read(unmapped, 4);
    const outside = this.p.firmware.ram.base + this.p.firmware.ram.size + 0x10000000n;
    this.post(this.tail, outside, 64);
  }
}
