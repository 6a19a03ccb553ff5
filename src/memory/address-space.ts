import type { MemoryRegion } from './region.ts';
import type { FlatRange, FlatView } from './flat-view.ts';
import { sectionFromFlatRange } from './flat-view.ts';
import { topologyEvents, type TopologyEvent } from './view-diff.ts';
import type { ViewPatch } from './view-patch.ts';
import { Dispatch, NO_PAGES, Sec, SectionKind, type ClippedViews, type ReadFn, type WriteFn } from './dispatch.ts';
import { HOST_LITTLE_ENDIAN, type RamBlock } from '../common/ram-block.ts';
import { deviceLow32, lastAccess, regionRead, regionWrite, joinBig } from './access.ts';
import { Limit, MemTx } from './constants.ts';
import { type MemoryListener, insertByPriority } from './listener.ts';

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

/**
 * Byte buffers of the accesses that go through transfer() one piece at a time (unaligned, straddling
 * or wider than the device), one per nesting level: a device called for one piece may itself make
 * such an access, which must not overwrite the outer access's bytes.
 */
const scratches: Uint8Array[] = [];
let scratchDepth = 0;
/** Placeholder until a view's dispatch is compiled: every access misses and compiles it. */
const UNCOMPILED = new Dispatch([]);
UNCOMPILED.placeholder = true;
const NO_BYTES = new Uint8Array(0);
const NO_CALLBACKS: readonly null[] = [];
const NO_HALVES = new Uint16Array(0);
const NO_WORDS = new Uint32Array(0);
const NO_READ = (): number => 0;
const NO_WRITE = (): void => {};

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
 *
 * The fast paths are a RAM window left by the last miss (part of one RamBlock chunk, served by a
 * typed-array load), the dispatch's flat page index (a page of one MMIO section below 4 GiB is one
 * load away from its callback) and an MMIO window left by misses (one section whose callbacks
 * serve the access in one call); the MMIO paths call as memory_region_dispatch_read would after
 * its checks. Everything else, and every access while `stats` is on, takes the miss path: one
 * dispatch lookup and the general rules.
 */
export class AddressSpace {
  readonly listeners: MemoryListener[] = [];
  /**
   * Accesses by path. `unassigned` and `invalid` are always counted (they never take a fast path);
   * `ram`, `mmio` and `ramDevice` only while `stats` is on.
   */
  readonly counters: AccessCounters = { ram: 0, mmio: 0, ramDevice: 0, unassigned: 0, invalid: 0 };
  private tx: number = MemTx.Ok;
  /** High 32 bits of the last 8-byte read. */
  hi = 0;
  view!: FlatView;
  /** The current view's dispatch, or UNCOMPILED until the first access after a new view. */
  private d: Dispatch = UNCOMPILED;
  private counting = false;

  // RAM window: one chunk of a RamBlock (or the part of it the section covers: see clippedViews),
  // whose byte 0 is guest address ramBase, seen through 8-, 16- and 32-bit views; the views' own
  // lengths bound the window, so a hit is one subtract, one alignment test, one compare against the
  // length and one load. Stores go through the w* views, empty when the section is read-only.
  private ramBase = 0;
  private ram8: Uint8Array = NO_BYTES;
  private ram16: Uint16Array = NO_HALVES;
  private ram32: Uint32Array = NO_WORDS;
  private wram8: Uint8Array = NO_BYTES;
  private wram16: Uint16Array = NO_HALVES;
  private wram32: Uint32Array = NO_WORDS;
  // The same window for the inlined 4-byte path in 32-bit integer arithmetic: lowBase is ramBase | 0
  // (so (a - lowBase) >>> 0 is the offset modulo 2^32 for any a below 2^32), and low32/wlow32 are
  // ram32/wram32 while the window lies below 4 GiB, empty otherwise (readSized serves the rest).
  private lowBase = 0;
  private low32: Uint32Array = NO_WORDS;
  private wlow32: Uint32Array = NO_WORDS;
  // The RAM window's section: a miss inside it only moves the window to another chunk.
  private sectionStart = 0;
  private sectionEnd = 0;
  /** Block offset minus address. */
  private sectionDelta = 0;
  private sectionWritable = false;
  private sectionBlock: RamBlock | null = null;
  /** The RAM window's section id in the current dispatch. */
  private section = 0;
  // The dispatch's flat page index (Dispatch.pages) and the offsets (Dispatch.pageDelta) and
  // callbacks of the sections its entries name: an aligned 4-byte access to a block of one direct
  // MMIO section below 4 GiB is one load away from its callback, wherever the last access went.
  // Empty while `stats` is on.
  private pages: Int32Array = NO_PAGES;
  private pageShift = 0;
  private pageDelta: Int32Array = NO_PAGES;
  private secRead: readonly (ReadFn | null)[] = NO_CALLBACKS;
  private secWrite: readonly (WriteFn | null)[] = NO_CALLBACKS;
  // MMIO window (the last MMIO section two misses in a row reached, for what the page index does
  // not serve: sections above 4 GiB, pages shared by several sections, sizes other than 4):
  // addr + ioDelta is the region offset; offsets [ioLo, ioHi) are one section whose
  // callbacks take the sizes in ioReadSizes / ioWriteSizes (1|2|4|8 bits) in one direct call each.
  private ioDelta = 0;
  private ioLo = 0;
  private ioHi = 0;
  private ioReadSizes = 0;
  private ioWriteSizes = 0;
  private ioRead: ReadFn = NO_READ;
  private ioWrite: WriteFn = NO_WRITE;
  // The access being served off the inlined path. Handed over in fields, not as arguments: a call
  // boxes a number that is not a small integer (an address past 2^31, say) into a new heap object,
  // while a store into a number field overwrites the field's box.
  private at = 0;
  private value = 0;
  private valueHi = 0;

  constructor(
    private readonly host: AddressSpaceHost,
    readonly name: string,
    readonly root: MemoryRegion,
  ) {}

  /**
   * MemTxResult of the last access. A result other than MemTx.Ok closes every fast path (the RAM
   * window, the page index, the MMIO window), so while one is open the last access succeeded: the
   * RAM window never stores it. The MMIO paths store Ok once the device returns, because the device
   * may have made a failed access of its own meanwhile (a DMA from a doorbell write), and each
   * access has its own result (memory.c:memory_region_dispatch_read returns it by value).
   */
  get result(): number {
    return this.tx;
  }

  set result(tx: number) {
    this.tx = tx;
    if (tx !== MemTx.Ok) this.closeWindows();
  }

  /** Whether every access is counted by path in `counters` (off by default: the fast paths count nothing). */
  get stats(): boolean {
    return this.counting;
  }

  set stats(on: boolean) {
    this.counting = on;
    this.closeWindows();
  }

  /**
   * Loads `size` (1, 2, 4 or 8) bytes. The hot path: no allocation, no bigint, no counter, and small
   * enough that V8 inlines it into the caller; a 4-byte access is served here from the RAM window,
   * the page index or the MMIO window, other sizes one call away. `(addr >>> 0) === addr` checks
   * integer and below 2^32 with the address's one conversion; the RAM window and the page index are
   * then checked in 32-bit integers (the MMIO window, which also serves sections above 4 GiB, in
   * doubles). The page index and the MMIO window only hold sections that take 4-byte accesses in
   * one call.
   */
  read(addr: number, size: number): number {
    if (size === 4) {
      const a = addr >>> 0;
      if (a === addr) {
        const o = (a - this.lowBase) >>> 0;
        if ((o & 3) === 0 && o >>> 2 < this.low32.length) return this.low32[o >>> 2]!;
        if ((a & 3) === 0 && a >>> this.pageShift < this.pages.length) {
          const s = this.pages[a >>> this.pageShift]!;
          if (s !== 0) {
            const v = this.secRead[s]!((a + this.pageDelta[s]!) | 0, 4);
            this.tx = MemTx.Ok; // after the device, which may have made a failed access of its own
            return deviceLow32(v) >>> 0;
          }
        }
      }
      const off = addr + this.ioDelta;
      const j = off >>> 0;
      if (j === off && (j & 3) === 0 && j >= this.ioLo && j + 4 <= this.ioHi) {
        const v = this.ioRead(j, 4);
        this.tx = MemTx.Ok;
        return deviceLow32(v) >>> 0;
      }
    }
    this.at = addr;
    // readSized may hand back the low 32 bits signed (see readIo): `>>> 0` makes it the unsigned
    // value, and tells V8 that every path of this function gives a uint32, so the paths merge
    // unboxed (a merge of tagged values made a heap number of every result past 2^31).
    return this.readSized(size) >>> 0;
  }

  /** Stores `size` (1, 2, 4 or 8) bytes; `hi` is the upper half of an 8-byte value. Returns the MemTxResult. */
  write(addr: number, value: number, size: number, hi = 0): number {
    if (size === 4) {
      const a = addr >>> 0;
      if (a === addr) {
        const o = (a - this.lowBase) >>> 0;
        if ((o & 3) === 0 && o >>> 2 < this.wlow32.length) {
          this.wlow32[o >>> 2] = value;
          return MemTx.Ok;
        }
        if ((a & 3) === 0 && a >>> this.pageShift < this.pages.length) {
          const s = this.pages[a >>> this.pageShift]!;
          if (s !== 0) {
            this.secWrite[s]!((a + this.pageDelta[s]!) | 0, value >>> 0, 4);
            return (this.tx = MemTx.Ok);
          }
        }
      }
      const off = addr + this.ioDelta;
      const j = off >>> 0;
      if (j === off && (j & 3) === 0 && j >= this.ioLo && j + 4 <= this.ioHi) {
        this.ioWrite(j, value >>> 0, 4);
        return (this.tx = MemTx.Ok);
      }
    }
    this.at = addr;
    this.value = value;
    this.valueHi = hi;
    return this.writeSized(size);
  }

  /**
   * read() of what its inlined part did not serve: 1, 2 and 8 bytes from the windows, 4 bytes from
   * a RAM window at or across 4 GiB, then the miss path.
   */
  private readSized(size: number): number {
    const addr = this.at;
    const o = addr - this.ramBase;
    if (size === 1) {
      if (o >>> 0 === o && o < this.ram8.length) {
        return this.ram8[o]!;
      }
    } else if (size === 2) {
      const i = o >>> 1;
      if (i << 1 === o && i < this.ram16.length) {
        return this.ram16[i]!;
      }
    } else if (size === 8 || size === 4) {
      const i = o >>> 2;
      if (i << 2 === o && i + (size >>> 2) <= this.ram32.length) {
        if (size === 8) this.hi = this.ram32[i + 1]!;
        return this.ram32[i]! | 0;
      }
    }
    const off = addr + this.ioDelta;
    const j = off >>> 0;
    // size may be anything a caller passed: 3 & (1|2) is not 0, so ask.
    if ((size === 1 || size === 2 || size === 8) && j === off && j >= this.ioLo && j + size <= this.ioHi) {
      if ((this.ioReadSizes & size) !== 0 && (j & (size - 1)) === 0) {
        const v = this.readIo(this.ioRead, j, size);
        this.tx = MemTx.Ok;
        return v;
      }
    }
    return this.readMiss(size);
  }

  /** write() of what its inlined part did not serve. */
  private writeSized(size: number): number {
    const addr = this.at;
    const value = this.value;
    const hi = this.valueHi;
    const o = addr - this.ramBase;
    if (size === 1) {
      if (o >>> 0 === o && o < this.wram8.length) {
        this.wram8[o] = value;
        return MemTx.Ok;
      }
    } else if (size === 2) {
      const i = o >>> 1;
      if (i << 1 === o && i < this.wram16.length) {
        this.wram16[i] = value;
        return MemTx.Ok;
      }
    } else if (size === 8 || size === 4) {
      const i = o >>> 2;
      if (i << 2 === o && i + (size >>> 2) <= this.wram32.length) {
        this.wram32[i] = value;
        if (size === 8) this.wram32[i + 1] = hi;
        return MemTx.Ok;
      }
    }
    const off = addr + this.ioDelta;
    const j = off >>> 0;
    if ((size === 1 || size === 2 || size === 8) && j === off && j >= this.ioLo && j + size <= this.ioHi) {
      if ((this.ioWriteSizes & size) !== 0 && (j & (size - 1)) === 0)
        return (this.tx = this.writeIo(this.ioWrite, j, value, size, hi));
    }
    return this.writeMiss(size);
  }

  /**
   * One direct callback of 1, 2 or 4 bytes, or an 8-byte load as the two 4-byte callbacks
   * memory.c:access_with_adjusted_size makes (low half first), for a section that takes them.
   * It leaves `result` alone: its callers store it once it returns (the device may have made an
   * access of its own, which set `result` for that access).
   * The value comes back as the low 32 bits signed, as readSized's and readMiss's frequent paths
   * return it: a function's result is a tagged value, and a signed 32-bit integer is a small
   * integer to V8 on 64-bit Node, where an unsigned one past 2^31 is a new heap number.
   */
  private readIo(read: ReadFn, off: number, size: number): number {
    if (size !== 8) {
      return deviceLow32(read(off, size)) & (size === 4 ? -1 : size === 2 ? 0xffff : 0xff);
    }
    const lo = deviceLow32(read(off, 4)) | 0;
    this.hi = deviceLow32(read(off + 4, 4)) >>> 0;
    return lo;
  }

  /** The store side of readIo. */
  private writeIo(write: WriteFn, off: number, value: number, size: number, hi: number): number {
    if (size === 8) {
      write(off, value >>> 0, 4);
      write(off + 4, hi >>> 0, 4);
    } else write(off, (value & (size === 4 ? -1 : size === 2 ? 0xffff : 0xff)) >>> 0, size);
    return MemTx.Ok;
  }

  /** Every load the windows do not serve: one lookup, then the path of the section's kind. */
  private readMiss(size: number): number {
    const addr = this.at;
    if (
      addr >= this.sectionStart &&
      addr + size <= this.sectionEnd &&
      (size === 4 || size === 1 || size === 2) &&
      Math.floor(addr) === addr
    ) {
      const block = this.sectionBlock!;
      const off = addr + this.sectionDelta;
      if (this.moveRam(block, false)) {
        this.result = MemTx.Ok;
        return block.read(off, size);
      }
    }
    const d = this.d.placeholder ? this.compile() : this.d;
    if (!(addr >= 0 && addr < Limit.Dispatch && Math.floor(addr) === addr)) return this.refuse(0);
    const s = d.lookup(addr);
    const again = this.noteMiss(d, s);
    const p = s * Sec.Stride;
    const sec = d.sec;
    if (s !== 0 && addr + size <= sec[p + Sec.End]!) {
      const word = sec[p + Sec.Word]!;
      const off = addr + sec[p + Sec.Delta]!;
      if (
        ((word >> Sec.ReadSizesShift) & size) !== 0 &&
        (size === 4 || size === 1 || size === 2 || size === 8) &&
        (off & (size === 8 ? 3 : size - 1)) === 0
      ) {
        // memory_region_dispatch_read with every check known to pass: direct callbacks, no swap.
        if (this.counting) this.counters.mmio++;
        else if (again) this.openIo(d, s);
        const v = this.readIo(d.secRead[s]!, off, size);
        this.result = MemTx.Ok; // after the device (see regionRead)
        return v;
      }
      const kind = word & Sec.KindMask;
      const block = kind === SectionKind.Mmio ? null : d.secBlock[s]!;
      if (block !== null && (kind <= SectionKind.Romd || kind === SectionKind.RamDevice) && validSize(size)) {
        if (this.counting) {
          if (kind === SectionKind.RamDevice) this.counters.ramDevice++;
          else this.counters.ram++;
        } else this.openRam(d, s, block, false);
        this.result = MemTx.Ok;
        if (size === 8) {
          this.hi = block.read(off + 4, 4);
          return block.read(off, 4);
        }
        return block.read(off, size);
      }
      if (kind === SectionKind.Mmio && size <= 4) {
        const mr = d.secRegion[s]!;
        if (
          size <= (mr.validMax === 0 ? 4 : mr.validMax) &&
          (mr.implUnaligned || (off & (size - 1)) === 0) &&
          validSize(size)
        ) {
          const v = regionRead(mr, off, size, false);
          this.count(mr);
          this.result = lastAccess.result;
          return v;
        }
      } else if (kind === SectionKind.RamDevice && size <= 4 && validSize(size)) {
        if (this.counting) this.counters.ramDevice++;
        const v = d.secRegion[s]!.ramDeviceBacking!.read(off, size);
        this.result = MemTx.Ok; // after the backing, which may call a device (see regionRead)
        return v;
      }
    } else if (s === 0 && this.wholyUnassigned(d, addr, size)) {
      // unassigned_mem_read: 0 and a decode error, one chunk (what transfer() would conclude).
      this.counters.unassigned++;
      this.result = MemTx.DecodeError;
      this.hi = 0;
      return 0;
    }
    return this.readSlow(addr, size);
  }

  /** Every store the windows do not serve. */
  private writeMiss(size: number): number {
    const addr = this.at;
    const value = this.value;
    const hi = this.valueHi;
    if (
      addr >= this.sectionStart &&
      addr + size <= this.sectionEnd &&
      this.sectionWritable &&
      (size === 4 || size === 1 || size === 2) &&
      Math.floor(addr) === addr
    ) {
      const block = this.sectionBlock!;
      const off = addr + this.sectionDelta;
      this.moveRam(block, true);
      block.write(off, value, size);
      return (this.result = MemTx.Ok);
    }
    const d = this.d.placeholder ? this.compile() : this.d;
    if (!(addr >= 0 && addr < Limit.Dispatch && Math.floor(addr) === addr)) return this.refuse(MemTx.DecodeError);
    const s = d.lookup(addr);
    const again = this.noteMiss(d, s);
    const p = s * Sec.Stride;
    const sec = d.sec;
    if (s !== 0 && addr + size <= sec[p + Sec.End]!) {
      const word = sec[p + Sec.Word]!;
      const off = addr + sec[p + Sec.Delta]!;
      if (
        ((word >> Sec.WriteSizesShift) & size) !== 0 &&
        (size === 4 || size === 1 || size === 2 || size === 8) &&
        (off & (size === 8 ? 3 : size - 1)) === 0
      ) {
        if (this.counting) this.counters.mmio++;
        else if (again) this.openIo(d, s);
        return (this.result = this.writeIo(d.secWrite[s]!, off, value, size, hi));
      }
      const kind = word & Sec.KindMask;
      const block = kind === SectionKind.Mmio ? null : d.secBlock[s]!;
      if (block !== null && (kind === SectionKind.Ram || kind === SectionKind.RamDevice) && validSize(size)) {
        if (this.counting) {
          if (kind === SectionKind.RamDevice) this.counters.ramDevice++;
          else this.counters.ram++;
        } else this.openRam(d, s, block, true);
        if (size === 8) {
          block.write(off, value >>> 0, 4);
          block.write(off + 4, hi >>> 0, 4);
        } else block.write(off, value, size);
        return (this.result = MemTx.Ok);
      }
      if ((kind === SectionKind.Mmio || kind === SectionKind.Romd) && size <= 4) {
        const mr = d.secRegion[s]!;
        if (
          size <= (mr.validMax === 0 ? 4 : mr.validMax) &&
          (mr.implUnaligned || (off & (size - 1)) === 0) &&
          validSize(size)
        ) {
          this.result = regionWrite(mr, off, value, 0, size, false);
          this.count(mr);
          return this.result;
        }
      } else if (kind === SectionKind.RamDevice && size <= 4 && validSize(size)) {
        if (this.counting) this.counters.ramDevice++;
        d.secRegion[s]!.ramDeviceBacking!.write(off, value, size);
        return (this.result = MemTx.Ok);
      }
    } else if (s === 0 && this.wholyUnassigned(d, addr, size)) {
      this.counters.unassigned++;
      return (this.result = MemTx.DecodeError);
    }
    if (!validSize(size)) return this.refuse(MemTx.DecodeError);
    const buf = scratchEnter();
    try {
      numberToBytes(value >>> 0, buf, 0, Math.min(size, 4));
      if (size === 8) numberToBytes(hi >>> 0, buf, 4, 4);
      return this.transfer(addr, buf, size, true, false);
    } finally {
      scratchDepth--;
    }
  }

  /** Points the RAM window at section s and the chunk of `block` holding `at` (a new chunk only for a store). */
  private openRam(d: Dispatch, s: number, block: RamBlock, create: boolean): void {
    if (!HOST_LITTLE_ENDIAN) return;
    const sec = d.sec;
    const p = s * Sec.Stride; // read here, not through d.start() etc.: see openIo
    const kind = sec[p + Sec.Word]! & Sec.KindMask;
    this.sectionStart = sec[p + Sec.Start]!;
    this.sectionEnd = sec[p + Sec.End]!;
    this.sectionDelta = sec[p + Sec.Delta]!;
    this.sectionBlock = block;
    this.sectionWritable = kind === SectionKind.Ram || kind === SectionKind.RamDevice;
    this.section = s;
    this.moveRam(block, create);
  }

  /**
   * Moves the RAM window to the chunk holding `at` in the window's section (to the part of it the
   * section covers, when that is less). False if the chunk was never written (reads see 0).
   */
  private moveRam(block: RamBlock, create: boolean): boolean {
    const addr = this.at; // the access that missed (see `at`)
    const off = addr + this.sectionDelta;
    const chunk = block.chunk(off, create);
    if (chunk === undefined) return false;
    const idx = Math.floor(off / block.chunkSize);
    const base = addr - (off - idx * block.chunkSize);
    if (base < this.sectionStart || base + chunk.length > this.sectionEnd) {
      // The section covers part of this chunk (a BAR cut by the MSI-X overlays, say): the window
      // gets views of just that part, made once per section and clipped chunk and kept with the section.
      const v = this.clippedViews(chunk, base);
      if (v === null) {
        this.closeRam();
        return true;
      }
      this.ramBase = v.base;
      this.ram8 = v.v8;
      this.ram16 = v.v16;
      this.ram32 = v.v32;
    } else {
      this.ramBase = base;
      this.ram8 = chunk;
      this.ram16 = block.view16(idx);
      this.ram32 = block.view32(idx);
    }
    this.wram8 = this.sectionWritable ? this.ram8 : NO_BYTES;
    this.wram16 = this.sectionWritable ? this.ram16 : NO_HALVES;
    this.wram32 = this.sectionWritable ? this.ram32 : NO_WORDS;
    // Only a window wholly below 4 GiB: one that crosses it would wrap (a - lowBase) onto low addresses.
    const low = this.ramBase + this.ram8.length <= 2 ** 32;
    this.lowBase = this.ramBase | 0;
    this.low32 = low ? this.ram32 : NO_WORDS;
    this.wlow32 = low ? this.wram32 : NO_WORDS;
    return true;
  }

  /** Views of the part of `chunk` (byte 0 at guest `base`) the window's section covers; null if not 4-aligned. */
  private clippedViews(chunk: Uint8Array, base: number): ClippedViews | null {
    const d = this.d;
    const cached = d.secViews[this.section];
    if (cached != null) {
      if (cached.chunk === chunk) return cached;
      if (cached.other !== null && cached.other.chunk === chunk) return cached.other;
    }
    const lo = Math.max(base, this.sectionStart);
    const hi = Math.min(base + chunk.length, this.sectionEnd);
    const from = lo - base;
    if (from % 4 !== 0) return null;
    const at = chunk.byteOffset + from;
    const bytes = hi - lo;
    const v: ClippedViews = {
      chunk,
      base: lo,
      v8: new Uint8Array(chunk.buffer, at, bytes),
      v16: new Uint16Array(chunk.buffer, at, bytes >>> 1),
      v32: new Uint32Array(chunk.buffer, at, bytes >>> 2),
      other: cached ?? null,
    };
    if (cached != null) cached.other = null; // at most two per section
    d.secViews[this.section] = v;
    return v;
  }

  private closeRam(): void {
    this.ramBase = 0;
    this.ram8 = this.wram8 = NO_BYTES;
    this.ram16 = this.wram16 = NO_HALVES;
    this.ram32 = this.wram32 = NO_WORDS;
    this.lowBase = 0;
    this.low32 = this.wlow32 = NO_WORDS;
  }

  /**
   * Points the MMIO window at section s, if its reads and
   * writes both take 4 bytes in one call (read() and write() serve 4-byte accesses from it without
   * asking). Offsets past 2^30 stay on the miss path, so the window's bounds stay small integers.
   */
  private openIo(d: Dispatch, s: number): void {
    // The record is read here rather than through d.start()/d.end(): a call that V8 does not inline
    // returns a number past 2^31 as a new heap object.
    const sec = d.sec;
    const p = s * Sec.Stride;
    const delta = sec[p + Sec.Delta]!;
    const lo = sec[p + Sec.Start]! + delta;
    const word = sec[p + Sec.Word]!;
    const both4 = (word >> Sec.ReadSizesShift) & (word >> Sec.WriteSizesShift) & 4;
    if (lo >= Limit.IoWindow || both4 === 0) return;
    this.ioDelta = delta;
    this.ioLo = lo;
    this.ioHi = Math.min(sec[p + Sec.End]! + delta, Limit.IoWindow);
    this.ioReadSizes = (word >> Sec.ReadSizesShift) & 15;
    this.ioWriteSizes = (word >> Sec.WriteSizesShift) & 15;
    this.ioRead = d.secRead[s] ?? NO_READ;
    this.ioWrite = d.secWrite[s] ?? NO_WRITE;
  }

  /**
   * A miss's bookkeeping once it found section s: the MRU, whose repeat opens the MMIO window, and
   * the page index, built after enough misses and taken up here (an address space that counts
   * never uses it, so its misses do not build one). True if the previous miss found s too.
   */
  private noteMiss(d: Dispatch, s: number): boolean {
    const again = d.mru === s;
    d.mru = s;
    if (!this.counting) {
      d.missed();
      if (this.pages !== d.pages) this.usePages(d);
    }
    return again;
  }

  /** Serves accesses from d's flat page index (and the offsets and callbacks its entries name) from now on. */
  private usePages(d: Dispatch): void {
    // The index only opens with result Ok (see result): the miss under way may call a device
    // before it sets its own result, and an access that device makes through the index sets none.
    this.tx = MemTx.Ok;
    this.pages = d.pages;
    this.pageShift = d.pageShift;
    this.pageDelta = d.pageDelta;
    this.secRead = d.secRead;
    this.secWrite = d.secWrite;
  }

  /** Closes every fast path (RAM window, page index, MMIO window): the next access misses. */
  closeWindows(): void {
    this.closeRam();
    this.pages = NO_PAGES;
    this.pageDelta = NO_PAGES;
    this.secRead = this.secWrite = NO_CALLBACKS; // no hold on a dispatch the address space left
    this.sectionStart = this.sectionEnd = this.sectionDelta = 0;
    this.sectionWritable = false;
    this.sectionBlock = null;
    this.ioDelta = this.ioLo = this.ioHi = 0;
    this.ioReadSizes = this.ioWriteSizes = 0;
    this.ioRead = NO_READ;
    this.ioWrite = NO_WRITE;
  }

  /**
   * The guest ranges the fast windows serve right now, [start, end) each, or null when closed: what
   * the next access at those addresses costs (no lookup) and what a test of the design can see.
   */
  get windows(): { ram: [number, number] | null; mmio: [number, number] | null } {
    return {
      ram: this.ram8.length === 0 ? null : [this.ramBase, this.ramBase + this.ram8.length],
      mmio: this.ioHi <= this.ioLo ? null : [this.ioLo - this.ioDelta, this.ioHi - this.ioDelta],
    };
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

  /** address_space_read into a caller's buffer (no allocation). Returns the ORed MemTxResult. */
  readInto(addr: number, out: Uint8Array, length = out.length): number {
    return this.transfer(addr, out, length, false, false);
  }

  /** address_space_write. Returns the ORed MemTxResult. */
  writeBytes(addr: number, bytes: ArrayLike<number>): number {
    const buf = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    return this.transfer(addr, buf, buf.length, true, false);
  }

  /** address_space_write_rom: writes RAM and ROM contents directly, skips everything else. */
  writeRom(addr: number, bytes: ArrayLike<number>): number {
    const buf = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    return this.transfer(addr, buf, buf.length, true, true);
  }

  /** Loads at any 64-bit address (cold path for addresses at or past 2^53). */
  readAt(addr: bigint, size: number): bigint {
    if (addr + BigInt(size) <= BigInt(Limit.Dispatch)) {
      const lo = this.read(Number(addr), size);
      return size === 8 ? joinBig(lo, this.hi) : BigInt(lo);
    }
    let value = 0n;
    let result = MemTx.Ok;
    for (let k = 0; k < size; k++) {
      value |= BigInt(this.byteAtBig(addr + BigInt(k), false, 0)) << BigInt(8 * k);
      result |= this.result;
    }
    this.result = result;
    return value;
  }

  /** Stores at any 64-bit address (cold path). */
  writeAt(addr: bigint, value: bigint, size: number): number {
    if (addr + BigInt(size) <= BigInt(Limit.Dispatch)) {
      const v = BigInt.asUintN(64, value);
      return this.write(Number(addr), Number(v & 0xffffffffn), size, Number(v >> 32n));
    }
    let result = MemTx.Ok;
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
    return this.d.placeholder ? this.compile() : this.d;
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
   * The RAM and MMIO windows close: they may point into what changed.
   */
  setFlatView(view: FlatView, patch: ViewPatch | null = null, previous?: readonly FlatRange[]): void {
    const old = this.view;
    this.view = view;
    this.closeWindows();
    this.d = view.dispatch ?? UNCOMPILED;
    if (old === undefined || this.listeners.length === 0) return;
    topologyEvents(old, view, patch, previous, this.wantsNops(), (event, fr) =>
      this.notify(event, fr, event === 'region-del'),
    );
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
    return (
      (size === 4 || size === 2 || size === 1) &&
      (addr & (size - 1)) === 0 &&
      (size === 1 || d.lookup(addr + size - 1) === 0)
    );
  }

  private compile(): Dispatch {
    const view = this.view;
    view.dispatch ??= new Dispatch(view.ranges);
    return (this.d = view.dispatch);
  }

  private count(mr: MemoryRegion): void {
    if (mr.countsAsUnassigned) this.counters.unassigned++;
    else if (lastAccess.rejected) this.counters.invalid++;
    else if (this.counting) this.counters.mmio++;
  }

  private refuse(result: number): number {
    this.counters.invalid++;
    this.result = MemTx.DecodeError;
    this.hi = 0;
    return result;
  }

  private readSlow(addr: number, size: number): number {
    if (!validSize(size)) return this.refuse(0);
    const buf = scratchEnter();
    try {
      this.transfer(addr, buf, size, false, false);
      this.hi = size === 8 ? bytesToNumber(buf, 4, 4) : 0;
      return bytesToNumber(buf, 0, size === 8 ? 4 : size);
    } finally {
      scratchDepth--;
    }
  }

  /**
   * physmem.c:flatview_read_continue / flatview_write_continue: every chunk is translated again;
   * RAM chunks stop at the section end, MMIO chunks are sized by memory_access_size only.
   */
  private transfer(addr: number, buf: Uint8Array, length: number, isWrite: boolean, romWrite: boolean): number {
    if (!(addr >= 0 && addr + length <= Limit.Dispatch && Number.isInteger(addr))) {
      if (!isWrite) buf.fill(0, 0, length);
      return this.refuse(MemTx.DecodeError);
    }
    const d = this.d.placeholder ? this.compile() : this.d;
    let result = MemTx.Ok;
    let pos = 0;
    while (pos < length) {
      const a = addr + pos;
      const s = d.lookup(a);
      const kind = d.kind(s);
      const off = d.offset(s, a);
      const left = length - pos;
      let l: number;
      const direct = isWrite
        ? kind === SectionKind.Ram || (romWrite && kind <= SectionKind.Romd && kind !== SectionKind.Unassigned)
        : kind !== SectionKind.Unassigned && kind <= SectionKind.Romd;
      if (direct) {
        // A whole piece of the block at once (typed-array set), as QEMU's memcpy in flatview_read_continue.
        l = Math.min(left, d.end(s) - a);
        const block = d.secBlock[s]!;
        if (isWrite) block.writeFrom(off, buf, pos, l);
        else block.readInto(off, buf, pos, l);
        if (this.counting) this.counters.ram++;
      } else if (romWrite) {
        l = kind === SectionKind.Unassigned ? 1 : Math.min(left, d.end(s) - a); // I/O is skipped
      } else if (kind === SectionKind.RamDevice) {
        l = memoryAccessSize(null, Math.min(left, 4, d.end(s) - a), 0);
        const backing = d.secRegion[s]!.ramDeviceBacking!;
        if (isWrite) backing.write(off, bytesToNumber(buf, pos, l), l);
        else numberToBytes(backing.read(off, l), buf, pos, l);
        if (this.counting) this.counters.ramDevice++;
      } else if (kind === SectionKind.Unassigned) {
        l = memoryAccessSize(null, left, a);
        if (!isWrite) buf.fill(0, pos, pos + l);
        result |= MemTx.DecodeError;
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
    this.result = MemTx.Ok;
    if (!fr) {
      this.counters.unassigned++;
      this.result = MemTx.DecodeError;
      return 0;
    }
    const off = Number(addr - fr.start + fr.offsetInRegion);
    const mr = fr.mr;
    if (mr.isRamDevice) {
      if (this.counting) this.counters.ramDevice++;
      let v = 0;
      if (isWrite) mr.ramDeviceBacking!.write(off, byte, 1);
      else v = mr.ramDeviceBacking!.read(off, 1);
      this.result = MemTx.Ok; // after the backing, which may have made an access of its own
      return v;
    }
    const directRead = (mr.isRam || (mr.isRomDevice && fr.romdMode)) && !isWrite;
    if (directRead || (isWrite && mr.isRam && !fr.readonly)) {
      if (this.counting) this.counters.ram++;
      if (isWrite) mr.ramBlock!.writeByte(off, byte);
      return isWrite ? 0 : mr.ramBlock!.readByte(off);
    }
    const v = isWrite ? (regionWrite(mr, off, byte, 0, 1, false), 0) : regionRead(mr, off, 1, false);
    this.count(mr);
    this.result = lastAccess.result;
    return v;
  }
}

/** The scratch buffer of the next nesting level (made once per level); the caller decrements scratchDepth. */
function scratchEnter(): Uint8Array {
  let buf = scratches[scratchDepth];
  if (buf === undefined) scratches[scratchDepth] = buf = new Uint8Array(8);
  scratchDepth++;
  return buf;
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
