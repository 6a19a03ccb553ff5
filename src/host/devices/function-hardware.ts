import { RamBlock } from '../../common/ram-block.ts';
import type { HostFunction } from '../iommu-groups.ts';
import type { MemorySpan, UserMemory } from '../user-memory.ts';
import { RUN_OK, type DmaRun, type TranslateResult } from '../kernel/iommu-backend.ts';
import { buildPhysicalConfig, type PhysicalConfig } from './physical-config.ts';
import { buildOptionRom } from './option-rom.ts';
import {
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_STATUS,
  PCI_STATUS_INTERRUPT,
} from '../../common/pci-regs.ts';

/** Which interrupt mechanism the function uses: the kernel switches it when it enables MSI or MSI-X. */
export type IrqMode = 'intx' | 'msi' | 'msix';

/** Translation and memory behind a device's DMA (the IOMMU domain and the user's memory). */
export interface DmaPort {
  translate(iova: bigint, isWrite: boolean): bigint | null;
  /** translate in numbers, a mapping's run at a time (IommuBackend.translateRun). */
  translateRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult;
  memory: UserMemory;
}

/** Chunk size of BAR storage. */
const BAR_CHUNK = 0x10000;

/** DMA below this IOVA takes the number path (iova + length stays below 2^53 for any length a Uint8Array has). */
const NUMBER_DMA_LIMIT = 1n << 52n;

/** Behaviour of a device model behind its BARs (src/host/devices). */
export interface DeviceModel {
  /** Called after a store lands in BAR storage. */
  onWrite?(bar: number, offset: number, value: number, size: number): void;
  /** Called before a load; may return a value instead of the stored one. */
  onRead?(bar: number, offset: number, size: number): number | undefined;
}

/**
 * The hardware behind a host function: its BAR contents (registers as plain storage, the MSI-X
 * table where the spec puts it), the COMMAND register's memory decode, an optional behaviour
 * model, and the line to the host kernel's interrupt handler. Shared by every open of the device,
 * as real hardware is.
 */
export class FunctionHardware {
  readonly bars = new Map<number, RamBlock>();
  /** The function's real config space. */
  readonly config: PhysicalConfig;
  model: DeviceModel | null = null;
  /** Set by the host kernel while a user has MSI-X vectors bound (vfio_msi_set_vector_signal). */
  irqSink: ((vector: number) => boolean) | null = null;
  /** MSI and MSI-X enabled by the kernel switch the function off INTx (PCI 3.0 6.8). */
  irqMode: IrqMode = 'intx';
  /** The INTx level the function's logic drives (STATUS.INTERRUPT follows it). */
  private intxLevel = false;
  /** Called when the pin's output rises (the host line sees an assertion). */
  intxSink: (() => void) | null = null;
  /** Where the device's DMA goes: the IOMMU domain of its group (null: blocked, every DMA faults). */
  dma: DmaPort | null = null;
  /** DMA the device could not issue because COMMAND.MASTER is clear (nothing reaches the bus). */
  dmaBlocked = 0;
  /**
   * MSI and MSI-X signals that never reached the host's handler, by why: no such vector or nothing
   * listening (unrouted), Bus Master off (blocked; also counted in dmaBlocked), or the physical
   * entry masked (pended: the PBA bit is set). With the kernel's counts, every signal is in
   * exactly one place.
   */
  readonly msiOutcomes = { unrouted: 0, blocked: 0, pended: 0 };
  /** IOMMU faults: DMA to an address the domain does not map. The memory is never touched. */
  readonly dmaFaults: { iova: bigint; write: boolean }[] = [];

  /** The expansion ROM's contents (what a ROM BAR read returns), or null. */
  readonly rom: Uint8Array | null;

  /**
   * Scratch of the DMA path, reused by every DMA so it allocates nothing: the IOMMU run and the
   * memory span being looked at, and the pieces of process memory a DMA resolved to, in order.
   */
  private readonly run: DmaRun = { vaddr: 0, length: 0 };
  private readonly span: MemorySpan = { block: null, at: 0, length: 0 };
  private readonly pieceBlock: RamBlock[] = [];
  private readonly pieceAt: number[] = [];
  private readonly pieceLength: number[] = [];

  constructor(readonly fn: HostFunction) {
    this.rom = buildOptionRom(fn.spec);
    this.config = buildPhysicalConfig(fn.spec);
    for (const b of fn.spec.bars) {
      // Sparse storage: a 32 MiB BAR costs only what is touched, in 64 KiB chunks (registers sit in
      // a page or two: a 16 MiB chunk per touched BAR made 256 NICs allocate 4 GiB of ArrayBuffers
      // and spend a third of their boot in the GC). Huge BARs are capped: vdm models their register
      // pages, not gigabytes of device memory.
      this.bars.set(b.index, new RamBlock(Number(b.size > 1n << 32n ? 1n << 32n : b.size), BAR_CHUNK));
    }
  }

  /** COMMAND.MEMORY of the real config space. */
  get memoryDecode(): boolean {
    return (this.config.bytes[PCI_COMMAND]! & PCI_COMMAND_MEMORY) !== 0;
  }

  set memoryDecode(on: boolean) {
    this.config.bytes[PCI_COMMAND] =
      (this.config.bytes[PCI_COMMAND]! & ~PCI_COMMAND_MEMORY) | (on ? PCI_COMMAND_MEMORY : 0);
  }

  /** COMMAND.MASTER: without it the device cannot issue DMA (or MSI writes). */
  get busMaster(): boolean {
    return (this.config.bytes[PCI_COMMAND]! & PCI_COMMAND_MASTER) !== 0;
  }

  /** COMMAND.INTX_DISABLE of the real config space (PCI 2.3 INTx masking). */
  get intxDisabled(): boolean {
    return (this.config.bytes[PCI_COMMAND + 1]! & (PCI_COMMAND_INTX_DISABLE >> 8)) !== 0;
  }

  set intxDisabled(on: boolean) {
    const b = PCI_COMMAND_INTX_DISABLE >> 8;
    const was = this.intxOutput;
    this.config.bytes[PCI_COMMAND + 1] = (this.config.bytes[PCI_COMMAND + 1]! & ~b) | (on ? b : 0);
    if (!was && this.intxOutput) this.intxSink?.();
  }

  /** STATUS.INTERRUPT: the function wants an interrupt, whether or not INTX_DISABLE lets it out. */
  get intxPending(): boolean {
    return (this.config.bytes[PCI_STATUS]! & PCI_STATUS_INTERRUPT) !== 0;
  }

  /** What the pin drives: asserted, not masked by INTX_DISABLE, and INTx is the mode in use. */
  get intxOutput(): boolean {
    return this.intxLevel && !this.intxDisabled && this.irqMode === 'intx' && this.fn.spec.intxPin !== 0;
  }

  /** The device logic sets its INTx level (a level-triggered pin: it stays up until the cause is cleared). */
  setIntx(level: boolean): void {
    const was = this.intxOutput;
    this.intxLevel = level;
    this.config.bytes[PCI_STATUS] =
      (this.config.bytes[PCI_STATUS]! & ~PCI_STATUS_INTERRUPT) | (level ? PCI_STATUS_INTERRUPT : 0);
    if (!was && this.intxOutput) this.intxSink?.();
  }

  /** Switches the interrupt mode (the kernel's MSI/MSI-X enable and disable). */
  setIrqMode(mode: IrqMode): void {
    const was = this.intxOutput;
    this.irqMode = mode;
    if (!was && this.intxOutput) this.intxSink?.();
  }

  /**
   * The device logic signals an event on `vector`: an MSI-X or MSI message in those modes; in
   * INTx mode the level (setIntx) is what the host sees, so nothing more happens here.
   */
  interrupt(vector: number): boolean {
    if (this.irqMode === 'msix') return this.signalMsix(vector);
    if (this.irqMode === 'msi') {
      if (!this.irqSink) {
        this.msiOutcomes.unrouted++;
        return false;
      }
      if (!this.busMaster) {
        this.msiOutcomes.blocked++;
        return this.blocked() ?? false;
      }
      return this.irqSink(vector);
    }
    return false;
  }

  /** A load from BAR `bar` by anyone (mmap, read(), the device itself). */
  read(bar: number, offset: number, size: number): number {
    const v = this.model?.onRead?.(bar, offset, size);
    return v ?? this.bars.get(bar)!.read(offset, size);
  }

  /** A store to BAR `bar`; the model reacts after it lands. */
  write(bar: number, offset: number, value: number, size: number): void {
    this.bars.get(bar)!.write(offset, value, size);
    this.model?.onWrite?.(bar, offset, value, size);
  }

  /** DMA read through the IOMMU into a new array; null (and a recorded fault) if any byte is unmapped. */
  dmaRead(iova: bigint | number, length: number): Uint8Array | null {
    if (!this.busMaster) return this.blocked();
    const pieces = this.resolve(iova, length, false);
    if (pieces < 0) return null;
    const out = new Uint8Array(length);
    this.copyOut(pieces, out, 0);
    return out;
  }

  /**
   * DMA read through the IOMMU into `out` at `at` (a buffer the device model keeps, so a packet
   * allocates nothing). False, with `out` untouched and a recorded fault, if any byte is unmapped.
   */
  dmaReadInto(iova: bigint | number, out: Uint8Array, at = 0, length = out.length - at): boolean {
    if (!this.busMaster) return this.blocked() ?? false;
    const pieces = this.resolve(iova, length, false);
    if (pieces < 0) return false;
    this.copyOut(pieces, out, at);
    return true;
  }

  /** DMA write through the IOMMU; nothing is written unless every byte translates. */
  dmaWrite(iova: bigint | number, bytes: ArrayLike<number>): boolean {
    if (!this.busMaster) return this.blocked() ?? false;
    const pieces = this.resolve(iova, bytes.length, true);
    if (pieces < 0) return false;
    const src = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    for (let k = 0, done = 0; k < pieces; k++) {
      this.pieceBlock[k]!.writeFrom(this.pieceAt[k]!, src, done, this.pieceLength[k]!);
      done += this.pieceLength[k]!;
    }
    return true;
  }

  private copyOut(pieces: number, out: Uint8Array, at: number): void {
    for (let k = 0, done = at; k < pieces; k++) {
      this.pieceBlock[k]!.readInto(this.pieceAt[k]!, out, done, this.pieceLength[k]!);
      done += this.pieceLength[k]!;
    }
  }

  /**
   * Resolves [iova, iova+length) to contiguous pieces of process memory in the scratch arrays and
   * returns how many, or -1 after recording a fault at the first byte that does not translate or is
   * not backed. Every byte is resolved before any is copied, so a faulting DMA copies nothing. One
   * translation per IOMMU run, as drivers/vfio/vfio_iommu_type1.c:vfio_iommu_type1_dma_rw_chunk
   * finds the vfio_dma once and copies up to its end (count clipped to dma->size - offset).
   */
  private resolve(iova: bigint | number, length: number, isWrite: boolean): number {
    if (typeof iova === 'bigint') {
      if (iova >= NUMBER_DMA_LIMIT) return this.resolveBigint(iova, length, isWrite);
      iova = Number(iova);
    } else if (iova >= 2 ** 52) return this.resolveBigint(BigInt(iova), length, isWrite);
    const port = this.dma;
    if (port === null) return this.resolveBigint(BigInt(iova), length, isWrite);
    const run = this.run;
    const span = this.span;
    let n = 0;
    for (let done = 0; done < length; n++) {
      const at = iova + done;
      // Anything unusual (a fault, a number that would not be exact) is settled by the bigint path.
      if (port.translateRun(at, isWrite, run) !== RUN_OK || !port.memory.locate(run.vaddr, span))
        return this.resolveBigint(BigInt(iova), length, isWrite);
      const piece = Math.min(length - done, run.length, span.length);
      this.pieceBlock[n] = span.block!;
      this.pieceAt[n] = span.at;
      this.pieceLength[n] = piece;
      done += piece;
    }
    return n;
  }

  /**
   * resolve with bigints, the reference: the IOMMU's translate once per 4 KiB (no IOMMU maps smaller
   * pages) and the process memory's piece. Takes DMA at or above 2^52 and settles every fault.
   */
  private resolveBigint(iova: bigint, length: number, isWrite: boolean): number {
    let n = 0;
    for (let i = 0; i < length; n++) {
      const at = iova + BigInt(i);
      const va = this.dma?.translate(at, isWrite) ?? null;
      const piece = va === null ? null : this.dma!.memory.piece(va, Math.min(length - i, 0x1000 - Number(at & 0xfffn)));
      if (!piece) {
        this.dmaFaults.push({ iova: at, write: isWrite });
        return -1;
      }
      this.pieceBlock[n] = piece.block;
      this.pieceAt[n] = piece.at;
      this.pieceLength[n] = piece.length;
      i += piece.length;
    }
    return n;
  }

  private blocked(): null {
    this.dmaBlocked++;
    return null;
  }

  /**
   * The device signals MSI-X vector `v` as hardware does: a masked entry (per the physical table)
   * sets its PBA bit; an unmasked one reaches the host's handler. Returns whether it was delivered.
   */
  signalMsix(v: number): boolean {
    const m = this.fn.spec.msix;
    if (!m || v >= m.entries || !this.irqSink) {
      this.msiOutcomes.unrouted++;
      return false;
    }
    if (!this.busMaster) {
      this.msiOutcomes.blocked++;
      return this.blocked() ?? false; // an MSI is a memory write: it needs MASTER too
    }
    const table = this.bars.get(m.table.bar)!;
    if (table.read(m.table.offset + v * 16 + 12, 4) & 1) {
      const pba = this.bars.get(m.pba.bar)!;
      const at = m.pba.offset + (v >> 3);
      pba.writeByte(at, pba.readByte(at) | (1 << (v & 7)));
      this.msiOutcomes.pended++;
      return false;
    }
    return this.irqSink(v);
  }
}

const registry = new WeakMap<HostFunction, FunctionHardware>();

/** Device models by the host file's "model" name; registered by src/host/devices. */
export const deviceModels = new Map<string, (hw: FunctionHardware) => DeviceModel>();

/** The one FunctionHardware of a host function, with its behaviour model attached. */
export function hardwareOf(fn: HostFunction): FunctionHardware {
  let p = registry.get(fn);
  if (!p) {
    registry.set(fn, (p = new FunctionHardware(fn)));
    if (fn.spec.model) deviceModels.get(fn.spec.model)?.(p);
  }
  return p;
}
