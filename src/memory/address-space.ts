import type { MemoryRegion } from './region.ts';
import type { FlatRange, FlatView } from './flat-view.ts';
import { sectionFromFlatRange } from './flat-view.ts';
import { topologyEvents, type TopologyEvent } from './view-diff.ts';
import type { ViewPatch } from './view-patch.ts';
import { Dispatch, SectionKind } from './dispatch.ts';
import { lastAccess, regionRead, regionWrite, joinBig } from './access.ts';
import { DISPATCH_LIMIT, MEMTX_DECODE_ERROR, MEMTX_OK } from './constants.ts';
import { MemoryListener, insertByPriority } from './listener.ts';

/** Which path accesses took: what users of vdm come to see. Counted per dispatched chunk. */
export interface AccessCounters {
  /** Direct RAM/ROM/romd-read accesses (the fast path). */
  ram: number;
  /** Callbacks into a device model (the slow, trapped path). */
  mmio: number;
  /** Accesses to an mmapped device range (RAM-device: fast, but reaching hardware). */
  ramDevice: number;
  /** Nothing decodes the address (or an unclaimed I/O port). */
  unassigned: number;
  /** Refused by the region's rules, a ROM write, a bad size or an address out of range. */
  invalid: number;
}

/** Host side of the address space: what the MemorySystem provides. */
export interface AddressSpaceHost {
  readonly globalListeners: MemoryListener[];
}

const scratch = new Uint8Array(8);
/** Placeholder until a view's dispatch is compiled: its MRU never matches, so the fast path defers. */
const UNCOMPILED = new Dispatch([]);
/** Value masks by access size (index 1, 2, 4); 4 keeps the int32 form, made unsigned where returned. */
const MASK = [0, 0xff, 0xffff, 0, -1];

function validSize(size: number): boolean {
  return size === 1 || size === 2 || size === 4 || size === 8;
}

/** physmem.c:memory_access_size — the chunk the address-space path sends to an MMIO region. */
function memoryAccessSize(mr: MemoryRegion | null, len: number, offset: number): number {
  let max = mr === null || mr.validMax === 0 ? 4 : mr.validMax;
  if (mr === null || !mr.implUnaligned) {
    const low = offset % 8;
    const align = low & -low;
    if (align !== 0 && align < max) max = align;
  }
  const l = len < max ? len : max;
  return l >= 8 ? 8 : l >= 4 ? 4 : l >= 2 ? 2 : 1;
}

/**
 * An address space (QEMU's AddressSpace): a root region, its current FlatView, listeners, and the
 * access paths. `read`/`write` are the CPU/DMA view of memory: values are little-endian byte lanes
 * (byte k of the access is at addr + k), addresses are numbers below 2^53. Results never throw:
 * the MemTxResult of the last access is in `result`, and the high half of an 8-byte read in `hi`.
 */
export class AddressSpace {
  readonly listeners: MemoryListener[] = [];
  readonly counters: AccessCounters = { ram: 0, mmio: 0, ramDevice: 0, unassigned: 0, invalid: 0 };
  /** MemTxResult of the last access. */
  result = MEMTX_OK;
  /** High 32 bits of the last 8-byte read. */
  hi = 0;
  view!: FlatView;
  /** The current view's dispatch, or UNCOMPILED until the first access after a new view. */
  private d: Dispatch = UNCOMPILED;

  constructor(
    private readonly host: AddressSpaceHost,
    readonly name: string,
    readonly root: MemoryRegion,
  ) {}

  /**
   * Loads `size` (1, 2, 4 or 8) bytes. The hot path: no allocation, no bigint. Kept small so
   * callers inline it: an MRU hit on RAM or on a direct-callback MMIO region returns here.
   */
  read(addr: number, size: number): number {
    const d = this.d;
    if (addr >= d.mruStart && addr + size <= d.mruEnd && Math.floor(addr) === addr && (size === 4 || size === 1 || size === 2)) {
      const kind = d.mruKind;
      if (kind === SectionKind.Ram || kind === SectionKind.Rom || kind === SectionKind.Romd) {
        this.counters.ram++;
        this.result = MEMTX_OK;
        return d.secBlock[d.mru]!.read(addr + d.mruDelta, size);
      }
      if (kind === SectionKind.RamDevice) {
        this.counters.ramDevice++;
        this.result = MEMTX_OK;
        return d.secBacking[d.mru]!.read(addr + d.mruDelta, size);
      }
      const mr = d.secRegion[d.mru]!;
      const off = addr + d.mruDelta;
      if (kind === SectionKind.Mmio && (mr.directSizes & size) !== 0 && (off & (size - 1)) === 0) {
        this.counters.mmio++;
        this.result = MEMTX_OK;
        return ((mr.readFn!(off, size) as number) & MASK[size]!) >>> 0;
      }
    }
    return this.readGeneral(addr, size);
  }

  /** Stores `size` (1, 2, 4 or 8) bytes; `hi` is the upper half of an 8-byte value. Returns the MemTxResult. */
  write(addr: number, value: number, size: number, hi = 0): number {
    const d = this.d;
    if (addr >= d.mruStart && addr + size <= d.mruEnd && Math.floor(addr) === addr && (size === 4 || size === 1 || size === 2)) {
      const kind = d.mruKind;
      if (kind === SectionKind.Ram) {
        this.counters.ram++;
        d.secBlock[d.mru]!.write(addr + d.mruDelta, value, size);
        return (this.result = MEMTX_OK);
      }
      if (kind === SectionKind.RamDevice) {
        this.counters.ramDevice++;
        d.secBacking[d.mru]!.write(addr + d.mruDelta, value, size);
        return (this.result = MEMTX_OK);
      }
      const mr = d.secRegion[d.mru]!;
      const off = addr + d.mruDelta;
      if ((kind === SectionKind.Mmio || kind === SectionKind.Romd) && (mr.directSizes & size) !== 0 && (off & (size - 1)) === 0) {
        this.counters.mmio++;
        mr.writeFn!(off, (value & MASK[size]!) >>> 0, size);
        return (this.result = MEMTX_OK);
      }
    }
    return this.writeGeneral(addr, value, size, hi);
  }

  /** Every load the inlined fast path does not serve: lookups, splits, checks, other paths. */
  private readGeneral(addr: number, size: number): number {
    const d = this.d === UNCOMPILED ? this.compile() : this.d;
    let s: number;
    if (addr >= d.mruStart && addr < d.mruEnd && Math.floor(addr) === addr) s = d.mru;
    else if (addr >= 0 && addr < DISPATCH_LIMIT && Number.isInteger(addr)) s = d.find(addr);
    else return this.refuse(0);
    const kind = d.secKind[s]!;
    if (kind !== SectionKind.Unassigned && addr + size <= d.secEnd[s]!) {
      const off = addr - d.secStart[s]! + d.secOffset[s]!;
      if (kind <= SectionKind.Romd) {
        const block = d.secBlock[s]!;
        this.counters.ram++;
        this.result = MEMTX_OK;
        if (size === 8) {
          this.hi = block.read(off + 4, 4);
          return block.read(off, 4);
        }
        if (validSize(size)) return block.read(off, size);
      } else if (kind === SectionKind.Mmio && size <= 4) {
        const mr = d.secRegion[s]!;
        if ((mr.directSizes & size) !== 0 && (off & (size - 1)) === 0) {
          // memory_region_dispatch_read with every check known to pass: one callback, no swap.
          this.counters.mmio++;
          this.result = MEMTX_OK;
          return ((mr.readFn!(off, size) as number) & MASK[size]!) >>> 0;
        }
        if (size <= (mr.validMax === 0 ? 4 : mr.validMax) && (mr.implUnaligned || (off & (size - 1)) === 0) && validSize(size)) {
          const v = regionRead(mr, off, size, false);
          this.count(mr);
          this.result = lastAccess.result;
          return v;
        }
      } else if (kind === SectionKind.RamDevice && size <= 4 && validSize(size)) {
        this.counters.ramDevice++;
        this.result = MEMTX_OK;
        return d.secBacking[s]!.read(off, size);
      }
    } else if (kind === SectionKind.Unassigned && this.wholyUnassigned(d, addr, size)) {
      // unassigned_mem_read: 0 and a decode error, one chunk (what transfer() would conclude).
      this.counters.unassigned++;
      this.result = MEMTX_DECODE_ERROR;
      this.hi = 0;
      return 0;
    }
    return this.readSlow(addr, size);
  }

  /** Every store the inlined fast path does not serve. */
  private writeGeneral(addr: number, value: number, size: number, hi: number): number {
    const d = this.d === UNCOMPILED ? this.compile() : this.d;
    let s: number;
    if (addr >= d.mruStart && addr < d.mruEnd && Math.floor(addr) === addr) s = d.mru;
    else if (addr >= 0 && addr < DISPATCH_LIMIT && Number.isInteger(addr)) s = d.find(addr);
    else return this.refuse(MEMTX_DECODE_ERROR);
    const kind = d.secKind[s]!;
    if (kind !== SectionKind.Unassigned && addr + size <= d.secEnd[s]!) {
      const off = addr - d.secStart[s]! + d.secOffset[s]!;
      if (kind === SectionKind.Ram) {
        const block = d.secBlock[s]!;
        this.counters.ram++;
        if (size === 8) {
          block.write(off, value >>> 0, 4);
          block.write(off + 4, hi >>> 0, 4);
          return (this.result = MEMTX_OK);
        }
        if (validSize(size)) {
          block.write(off, value, size);
          return (this.result = MEMTX_OK);
        }
      } else if (kind >= SectionKind.Romd && kind <= SectionKind.Mmio && size <= 4) {
        const mr = d.secRegion[s]!;
        if ((mr.directSizes & size) !== 0 && (off & (size - 1)) === 0) {
          this.counters.mmio++;
          mr.writeFn!(off, (value & MASK[size]!) >>> 0, size);
          return (this.result = MEMTX_OK);
        }
        if (size <= (mr.validMax === 0 ? 4 : mr.validMax) && (mr.implUnaligned || (off & (size - 1)) === 0) && validSize(size)) {
          this.result = regionWrite(mr, off, value, 0, size, false);
          this.count(mr);
          return this.result;
        }
      } else if (kind === SectionKind.RamDevice && size <= 4 && validSize(size)) {
        this.counters.ramDevice++;
        d.secBacking[s]!.write(off, value, size);
        return (this.result = MEMTX_OK);
      }
    } else if (kind === SectionKind.Unassigned && this.wholyUnassigned(d, addr, size)) {
      this.counters.unassigned++;
      return (this.result = MEMTX_DECODE_ERROR);
    }
    if (!validSize(size)) return this.refuse(MEMTX_DECODE_ERROR);
    scratchPut(value, hi, size);
    return this.transfer(addr, scratch, size, true, false);
  }

  /** 8-byte load as a bigint (convenience, not the hot path). */
  read64(addr: number): bigint {
    const lo = this.read(addr, 8);
    return joinBig(lo, this.hi);
  }

  /** 8-byte store from a bigint (convenience, not the hot path). */
  write64(addr: number, value: bigint): number {
    const v = BigInt.asUintN(64, value);
    return this.write(addr, Number(v & 0xffffffffn), 8, Number(v >> 32n));
  }

  /** address_space_read: any length, split into chunks exactly as flatview_read_continue does. */
  readBytes(addr: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    this.transfer(addr, buf, length, false, false);
    return buf;
  }

  /** address_space_write. Returns the ORed MemTxResult. */
  writeBytes(addr: number, bytes: ArrayLike<number>): number {
    const buf = Uint8Array.from(bytes);
    return this.transfer(addr, buf, buf.length, true, false);
  }

  /** address_space_write_rom: writes RAM and ROM contents directly, skips everything else. */
  writeRom(addr: number, bytes: ArrayLike<number>): number {
    const buf = Uint8Array.from(bytes);
    return this.transfer(addr, buf, buf.length, true, true);
  }

  /** Loads at any 64-bit address (cold path for addresses at or past 2^53). */
  readAt(addr: bigint, size: number): bigint {
    if (addr + BigInt(size) <= BigInt(DISPATCH_LIMIT)) {
      const lo = this.read(Number(addr), size);
      return size === 8 ? joinBig(lo, this.hi) : BigInt(lo);
    }
    let value = 0n;
    let result = MEMTX_OK;
    for (let k = 0; k < size; k++) {
      value |= BigInt(this.byteAtBig(addr + BigInt(k), false, 0)) << BigInt(8 * k);
      result |= this.result;
    }
    this.result = result;
    return value;
  }

  /** Stores at any 64-bit address (cold path). */
  writeAt(addr: bigint, value: bigint, size: number): number {
    if (addr + BigInt(size) <= BigInt(DISPATCH_LIMIT)) {
      const v = BigInt.asUintN(64, value);
      return this.write(Number(addr), Number(v & 0xffffffffn), size, Number(v >> 32n));
    }
    let result = MEMTX_OK;
    for (let k = 0; k < size; k++) {
      this.byteAtBig(addr + BigInt(k), true, Number((value >> BigInt(8 * k)) & 0xffn));
      result |= this.result;
    }
    return (this.result = result);
  }

  /** The range serving an address, from the current view (cold path). */
  lookup(addr: bigint): FlatRange | undefined {
    return this.view.ranges[this.view.indexOf(addr)];
  }

  /** The compiled dispatch of the current view. */
  get dispatch(): Dispatch {
    return this.d === UNCOMPILED ? this.compile() : this.d;
  }

  /** memory_listener_register: replay the current view as adds, in ascending address order. */
  addListener(l: MemoryListener): void {
    insertByPriority(this.listeners, l);
    insertByPriority(this.host.globalListeners, l);
    l.emit('begin');
    for (const fr of this.view.ranges) l.emit('region-add', sectionFromFlatRange(fr));
    l.emit('commit');
  }

  /** memory_listener_unregister: replay the view as deletes, still in ascending order. */
  removeListener(l: MemoryListener): void {
    const i = this.listeners.indexOf(l);
    if (i < 0) throw new Error(`listener ${l.name} is not registered on ${this.name}`);
    l.emit('begin');
    for (const fr of this.view.ranges) l.emit('region-del', sectionFromFlatRange(fr));
    l.emit('commit');
    this.listeners.splice(i, 1);
    this.host.globalListeners.splice(this.host.globalListeners.indexOf(l), 1);
  }

  /** Resets the access counters (e.g. between phases of a boot). */
  resetCounters(): void {
    const c = this.counters;
    c.ram = c.mmio = c.ramDevice = c.unassigned = c.invalid = 0;
  }

  /**
   * address_space_set_flatview: publish the view and tell the listeners what changed (two passes).
   * `patch` is set when `view` is the current view, patched in place by this commit; `previous` holds
   * the old view's ranges when it was patched for other address spaces while this one moves away.
   */
  setFlatView(view: FlatView, patch: ViewPatch | null = null, previous?: readonly FlatRange[]): void {
    const old = this.view;
    this.view = view;
    this.d = view.dispatch ?? UNCOMPILED;
    if (old === undefined || this.listeners.length === 0) return;
    topologyEvents(old, view, patch, previous, this.wantsNops(), (event, fr) => this.notify(event, fr, event === 'region-del'));
  }

  /** Whether a listener takes region-nop: only then are the unchanged ranges walked at all. */
  wantsNops(): boolean {
    return this.listeners.some((l) => l.listenerCount('region-nop') > 0);
  }

  private notify(event: TopologyEvent, fr: FlatRange, reverse: boolean): void {
    const section = sectionFromFlatRange(fr);
    const ls = this.listeners;
    if (reverse) for (let i = ls.length - 1; i >= 0; i--) ls[i]!.emit(event, section);
    else for (let i = 0; i < ls.length; i++) ls[i]!.emit(event, section);
  }

  /** An aligned 1-, 2- or 4-byte access that nothing decodes, in one piece (no region starts inside it). */
  private wholyUnassigned(d: Dispatch, addr: number, size: number): boolean {
    return (size === 4 || size === 2 || size === 1) && (addr & (size - 1)) === 0 && (size === 1 || d.lookup(addr + size - 1) === 0);
  }

  private compile(): Dispatch {
    const view = this.view;
    view.dispatch ??= new Dispatch(view.ranges);
    return (this.d = view.dispatch);
  }

  private count(mr: MemoryRegion): void {
    if (mr.countsAsUnassigned) this.counters.unassigned++;
    else if (lastAccess.rejected) this.counters.invalid++;
    else this.counters.mmio++;
  }

  private refuse(result: number): number {
    this.counters.invalid++;
    this.result = MEMTX_DECODE_ERROR;
    this.hi = 0;
    return result;
  }

  private readSlow(addr: number, size: number): number {
    if (!validSize(size)) return this.refuse(0);
    this.transfer(addr, scratch, size, false, false);
    this.hi = size === 8 ? scratchGet(4, 4) : 0;
    return scratchGet(0, size === 8 ? 4 : size);
  }

  /**
   * physmem.c:flatview_read_continue / flatview_write_continue: every chunk is translated again;
   * RAM chunks stop at the section end, MMIO chunks are sized by memory_access_size only.
   */
  private transfer(addr: number, buf: Uint8Array, length: number, isWrite: boolean, romWrite: boolean): number {
    if (!(addr >= 0 && addr + length <= DISPATCH_LIMIT && Number.isInteger(addr))) {
      if (!isWrite) buf.fill(0, 0, length);
      return this.refuse(MEMTX_DECODE_ERROR);
    }
    const d = this.d === UNCOMPILED ? this.compile() : this.d;
    let result = MEMTX_OK;
    let pos = 0;
    while (pos < length) {
      const a = addr + pos;
      const s = d.find(a);
      const kind = d.secKind[s]!;
      const off = a - d.secStart[s]! + d.secOffset[s]!;
      const left = length - pos;
      let l: number;
      const direct = isWrite ? kind === SectionKind.Ram || (romWrite && kind <= SectionKind.Romd && kind !== SectionKind.Unassigned) : kind !== SectionKind.Unassigned && kind <= SectionKind.Romd;
      if (direct) {
        l = Math.min(left, d.secEnd[s]! - a);
        const block = d.secBlock[s]!;
        for (let k = 0; k < l; k++) {
          if (isWrite) block.writeByte(off + k, buf[pos + k]!);
          else buf[pos + k] = block.readByte(off + k);
        }
        this.counters.ram++;
      } else if (romWrite) {
        l = kind === SectionKind.Unassigned ? 1 : Math.min(left, d.secEnd[s]! - a); // I/O is skipped
      } else if (kind === SectionKind.RamDevice) {
        l = memoryAccessSize(null, Math.min(left, 4, d.secEnd[s]! - a), 0);
        const backing = d.secBacking[s]!;
        if (isWrite) backing.write(off, bytesToNumber(buf, pos, l), l);
        else numberToBytes(backing.read(off, l), buf, pos, l);
        this.counters.ramDevice++;
      } else if (kind === SectionKind.Unassigned) {
        l = memoryAccessSize(null, left, a);
        if (!isWrite) buf.fill(0, pos, pos + l);
        result |= MEMTX_DECODE_ERROR;
        this.counters.unassigned++;
      } else {
        const mr = d.secRegion[s]!;
        l = memoryAccessSize(mr, left, off);
        if (isWrite) {
          const lo = bytesToNumber(buf, pos, Math.min(l, 4));
          const hi = l === 8 ? bytesToNumber(buf, pos + 4, 4) : 0;
          result |= regionWrite(mr, off, lo, hi, l, false);
        } else {
          const lo = regionRead(mr, off, l, false);
          numberToBytes(lo, buf, pos, Math.min(l, 4));
          if (l === 8) numberToBytes(lastAccess.hi, buf, pos + 4, 4);
          result |= lastAccess.result;
        }
        this.count(mr);
      }
      pos += l;
    }
    return (this.result = result);
  }

  /** One byte at a 64-bit address, through the FlatView (cold path past 2^53). */
  private byteAtBig(addr: bigint, isWrite: boolean, byte: number): number {
    const fr = this.lookup(addr);
    this.result = MEMTX_OK;
    if (!fr) {
      this.counters.unassigned++;
      this.result = MEMTX_DECODE_ERROR;
      return 0;
    }
    const off = Number(addr - fr.start + fr.offsetInRegion);
    const mr = fr.mr;
    if (mr.isRamDevice) {
      this.counters.ramDevice++;
      if (isWrite) mr.ramDeviceBacking!.write(off, byte, 1);
      return isWrite ? 0 : mr.ramDeviceBacking!.read(off, 1);
    }
    const directRead = (mr.isRam || (mr.isRomDevice && fr.romdMode)) && !isWrite;
    if (directRead || (isWrite && mr.isRam && !fr.readonly)) {
      this.counters.ram++;
      if (isWrite) mr.ramBlock!.writeByte(off, byte);
      return isWrite ? 0 : mr.ramBlock!.readByte(off);
    }
    const v = isWrite ? (regionWrite(mr, off, byte, 0, 1, false), 0) : regionRead(mr, off, 1, false);
    this.count(mr);
    this.result = lastAccess.result;
    return v;
  }
}

function scratchPut(lo: number, hi: number, size: number): void {
  numberToBytes(lo >>> 0, scratch, 0, Math.min(size, 4));
  if (size === 8) numberToBytes(hi >>> 0, scratch, 4, 4);
}

function scratchGet(pos: number, size: number): number {
  return bytesToNumber(scratch, pos, size);
}

function bytesToNumber(buf: Uint8Array, pos: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + buf[pos + k]!;
  return v;
}

function numberToBytes(v: number, buf: Uint8Array, pos: number, size: number): void {
  for (let k = 0; k < size; k++) {
    buf[pos + k] = v & 0xff;
    v = Math.floor(v / 256);
  }
}
