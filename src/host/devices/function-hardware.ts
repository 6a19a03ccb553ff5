import { RamBlock } from '../../common/ram-block.ts';
import type { HostFunction } from '../iommu-groups.ts';
import type { UserMemory } from '../user-memory.ts';
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
  memory: UserMemory;
}

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

  constructor(readonly fn: HostFunction) {
    this.rom = buildOptionRom(fn.spec);
    this.config = buildPhysicalConfig(fn.spec);
    for (const b of fn.spec.bars) {
      // Sparse storage: a 32 MiB BAR costs only what is touched. Huge BARs are capped: vdm models
      // their register pages, not gigabytes of device memory.
      this.bars.set(b.index, new RamBlock(Number(b.size > 1n << 32n ? 1n << 32n : b.size)));
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

  /** DMA read through the IOMMU; null (and a recorded fault) if any byte is unmapped. */
  dmaRead(iova: bigint, length: number): Uint8Array | null {
    if (!this.busMaster) return this.blocked();
    const pieces = this.translateAll(iova, length, false);
    if (!pieces) return null;
    const out = new Uint8Array(length);
    for (const p of pieces) p.block.readInto(p.at, out, p.i, p.length);
    return out;
  }

  /** DMA write through the IOMMU; nothing is written unless every byte translates. */
  dmaWrite(iova: bigint, bytes: ArrayLike<number>): boolean {
    if (!this.busMaster) return this.blocked() ?? false;
    const pieces = this.translateAll(iova, bytes.length, true);
    if (!pieces) return false;
    const all = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    for (const p of pieces) p.block.writeBytes(p.at, all.subarray(p.i, p.i + p.length)); // a view: no copy
    return true;
  }

  /**
   * [iova, iova+length) as contiguous pieces of process memory, translating once per 4 KiB (no
   * IOMMU maps smaller pages, so one translation holds for the rest of the chunk). Records a
   * fault at the first byte that does not translate, or is not backed, and returns null.
   */
  private translateAll(
    iova: bigint,
    length: number,
    isWrite: boolean,
  ): { i: number; block: RamBlock; at: number; length: number }[] | null {
    const pieces = [];
    let i = 0;
    while (i < length) {
      const at = iova + BigInt(i);
      const va = this.dma?.translate(at, isWrite) ?? null;
      const piece = va === null ? null : this.dma!.memory.piece(va, Math.min(length - i, 0x1000 - Number(at & 0xfffn)));
      if (!piece) {
        this.dmaFaults.push({ iova: at, write: isWrite });
        return null;
      }
      pieces.push({ i, ...piece });
      i += piece.length;
    }
    return pieces;
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
