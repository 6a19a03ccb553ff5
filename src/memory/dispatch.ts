import type { FlatRange, FlatView } from './flat-view.ts';
import type { MemoryRegion } from './region.ts';
import { RamBlock } from '../common/ram-block.ts';
import { DISPATCH_LIMIT, PAGE_SIZE } from './constants.ts';

/** How a section is reached; decides the access path (and so the counter) in AddressSpace. */
export const enum SectionKind {
  Unassigned = 0,
  /** Direct reads and writes of the RAM block. */
  Ram = 1,
  /** Direct reads; writes refused (ROM, or RAM seen through a readonly range). */
  Rom = 2,
  /** ROM device in romd mode: direct reads, writes go to the callbacks. */
  Romd = 3,
  /** Callbacks for both (MMIO, I/O, ROM device outside romd mode). */
  Mmio = 4,
  /** An mmapped device range: the fast path of a passthrough BAR. */
  RamDevice = 5,
}

/** A region's read callback as the hot path calls it (a bigint only ever comes back for size 8). */
export type ReadFn = (offset: number, size: number) => number | bigint;

/** A region's write callback as the hot path calls it (1-, 2- and 4-byte values are numbers). */
export type WriteFn = (offset: number, value: number, size: number) => void;

/** An address space's RAM window over the part of one chunk a section covers (see AddressSpace). */
export interface ClippedViews {
  chunk: Uint8Array;
  /** Guest address of the views' byte 0. */
  base: number;
  v8: Uint8Array;
  v16: Uint16Array;
  v32: Uint32Array;
  /**
   * The section's other clipped chunk, if it has one: only a section's first and last chunks can be
   * clipped, and with 1 GiB chunks a section often starts and ends inside one (pc's RAM from 1 MiB
   * to 0xe0000000), so both are kept and a window moving between them makes no new views.
   */
  other: ClippedViews | null;
}

/**
 * Layout of the packed section record: start, end, delta (region offset minus address), and a word
 * holding the kind (bits 0-2) and the access sizes (1|2|4|8 bit sets) whose reads (bits 3-6) and
 * writes (bits 7-10) reach the section's callbacks in one direct call each (see `directSizes`).
 * A const enum, so the bundler writes the numbers into the hot path (a module-level const is a
 * context-slot load there, checked on every access).
 */
export const enum Sec {
  Stride = 4,
  Start = 0,
  End = 1,
  Delta = 2,
  Word = 3,
  KindMask = 7,
  ReadSizesShift = 3,
  WriteSizesShift = 7,
}

/**
 * Whether an 8-byte access at a 4-aligned offset reaches the region as two direct 4-byte callbacks
 * (low half first) on every path: memory.c:access_with_adjusted_size with impl.max 4 when valid
 * allows 8, physmem.c:memory_access_size's two 4-byte chunks when it does not. No bigint.
 */
function splitsIn4(mr: MemoryRegion): boolean {
  return (mr.directSizes & 4) !== 0 && mr.implMax === 4;
}

/** The sizes an access of kind `kind` serves with direct callbacks: [reads, writes]. */
function directSizes(kind: SectionKind, mr: MemoryRegion): [number, number] {
  const sizes = mr.directSizes | (splitsIn4(mr) ? 8 : 0);
  if (kind === SectionKind.Mmio) return [sizes, sizes];
  if (kind === SectionKind.Romd) return [0, sizes]; // romd reads are direct RAM reads
  return [0, 0];
}

// Fixed levels over a 53-bit address, hi = bits 32..52 and lo = bits 0..31:
//   root   2048 entries of 2^42 (hi >>> 10)      level 0
//   l1     1024 entries of 2^32 (hi & 1023)      level 1
//   window 1024 entries of 4 MiB (lo >>> 22)     level 2   <- the low 4 GiB start here
//   leaf   4 MiB in entries of 2^g, 4 KiB <= 2^g <= 2 MiB: the coarsest granule every boundary in
//          the window is aligned to, stored before the table (so 128 KiB regions cost 32 entries
//          per window, not 1024, and a random lookup stays in cache)         level 3
//   subpage, per page shared by several sections  level 4
// An entry >= 0 is a section; < 0 is ~(pool offset of the child table's first entry). A range that
// covers a whole entry's unit is stored at that level, so big aligned ranges stop high.
const LEVEL_UNIT = [2 ** 42, 2 ** 32, 2 ** 22, 2 ** 12];
const LEVEL_ENTRIES = [2048, 1024, 1024, 1024];
const LEAF = 3;
const SUBPAGE = 4;
/** A page whose finest boundary needs more direct entries than this keeps a boundary list instead. */
const MAX_DIRECT_SUBPAGE = 64;
/** The flat page index's block, as log2 bytes: from a target page (4 KiB) to a leaf window (4 MiB). */
const MIN_PAGE_SHIFT = 12;
const MAX_PAGE_SHIFT = 22;
/** Misses a dispatch serves before it builds its flat page index (an address space that is used). */
const FLAT_AFTER_MISSES = 64;
/** The page index of a dispatch that has none (shared, so an address space can tell it has the current one). */
export const NO_PAGES = new Int32Array(0);

/**
 * Compiled lookup structure of one FlatView, QEMU's AddressSpaceDispatch in spirit (physmem.c:
 * phys_page_find, register_subpage): fixed-depth tables in one Int32Array pool, so a lookup below
 * 4 GiB is two loads (window, leaf) plus one for a shared page, whatever the number of regions.
 * Sections are packed four numbers each in `sec` so one lookup yields start, end, delta and kind.
 * Section 0 is "unassigned". Only addresses below 2^53 are compiled; the rest is the cold path.
 *
 * `update` patches the tables in place for the changed address intervals of a new view of the same
 * root, reusing every table and section outside them (QEMU rebuilds the whole dispatch per commit).
 */
export class Dispatch {
  /** The stand-in an address space holds until its view's dispatch is first compiled. */
  placeholder = false;
  /** Section ids in use are below this (a fresh compile numbers ranges 1..n in address order). */
  count = 1;
  /** Packed [start, end, delta, word] per section: the hot path's one record. */
  sec: Float64Array;
  readonly secRegion: (MemoryRegion | null)[] = [null];
  /**
   * The region's callbacks, copied so a miss calls them without touching the region object (its
   * ops are fixed once it is initialised, as memory_region_init_io's are).
   */
  readonly secRead: (ReadFn | null)[] = [null];
  readonly secWrite: (WriteFn | null)[] = [null];
  /** Views a RAM window made of the part of a chunk this section covers, kept for the next miss. */
  readonly secViews: (ClippedViews | null)[] = [null];
  /** The RAM block of RAM, ROM, romd sections and of RAM-device sections backed by a RamBlock. */
  readonly secBlock: (RamBlock | null)[] = [null];
  /** The FlatRange each section was made from, for reports. */
  readonly secFlat: (FlatRange | null)[] = [null];

  private pool = new Int32Array(4096);
  private poolTop = 0;
  private readonly freeTables = new Map<number, number[]>();
  private readonly freeSections: number[] = [];
  /** Entry covering [0, 2^53): a section or the root table. */
  private root = 0;
  /** Entry covering [0, 2^32), refreshed after every change. */
  private lowEntry = 0;

  /** The last section a miss found (physmem.c:address_space_lookup_region's mru_section). */
  mru = 0;

  /**
   * Flat page index below 4 GiB, which AddressSpace.read/write consult inline: entry k is the
   * section holding all of block k (bytes k << pageShift onwards) when that is an MMIO section
   * whose callbacks take 4-byte reads and writes directly (see indexable), else 0 (ask `lookup`).
   * One load instead of the radix walk, as v86's block map; built once the address spaces using it
   * have missed FLAT_AFTER_MISSES times, kept up to date by every rebuild, and only as long as the
   * highest such block (a 64 KiB I/O space never gets one).
   */
  pages: Int32Array = NO_PAGES;
  /**
   * log2 of the bytes one entry of `pages` covers: the coarsest block (4 KiB to 4 MiB) every
   * indexed section is aligned to, so no page of one is lost and the index stays small enough to
   * stay in cache (10 000 BARs of 128 KiB: 10 000 entries, not 320 000).
   */
  pageShift = MAX_PAGE_SHIFT;
  /**
   * Region offset minus address of each section in the page index, as a 32-bit integer: the offset
   * of an access is then (addr + delta) | 0, integer arithmetic all the way to the call.
   */
  pageDelta: Int32Array;
  private misses = 0;
  private paged = false;

  // Scratch of one rebuild (cold path).
  private readonly partialPages: number[] = [];
  private readonly dropped: number[] = [];
  /** Section of each range of the current rebuild, by range index minus rebuiltFirst. */
  private readonly rebuilt: number[] = [];
  private rebuiltFirst = 0;
  private stamp: Uint32Array;
  private epoch = 0;

  constructor(ranges: readonly FlatRange[]) {
    const n = 16;
    this.sec = new Float64Array(n * Sec.Stride);
    this.pageDelta = new Int32Array(n);
    this.stamp = new Uint32Array(n);
    this.sec[Sec.End] = DISPATCH_LIMIT;
    this.rebuild(ranges, 0, DISPATCH_LIMIT);
  }

  /**
   * Brings the tables in line with `view`, a newer view of the same root. `changed` lists the
   * [start, end) intervals outside which nothing answers differently; null means anywhere.
   */
  update(view: FlatView, changed: readonly (readonly [bigint, bigint])[] | null): void {
    const limit = BigInt(DISPATCH_LIMIT);
    for (const [s, e] of changed ?? [[0n, limit] as const]) {
      if (e <= s || s >= limit) continue;
      this.rebuild(view.ranges, Number(s < 0n ? 0n : s), Number(e > limit ? limit : e));
    }
    this.mru = 0;
  }

  /** First address of section s. */
  start(s: number): number {
    return this.sec[s * Sec.Stride + Sec.Start]!;
  }

  /** End (exclusive) of section s. */
  end(s: number): number {
    return this.sec[s * Sec.Stride + Sec.End]!;
  }

  /** How section s is reached. */
  kind(s: number): SectionKind {
    return (this.sec[s * Sec.Stride + Sec.Word]! & Sec.KindMask) as SectionKind;
  }

  /** The region offset that `addr` in section s reaches. */
  offset(s: number, addr: number): number {
    return addr + this.sec[s * Sec.Stride + Sec.Delta]!;
  }

  /** Section index for an address in [0, 2^53). Allocation-free, no bigint. */
  lookup(addr: number): number {
    const pool = this.pool;
    let e: number;
    if (addr < 4294967296) {
      e = this.lowEntry;
    } else {
      const hi = (addr / 4294967296) >>> 0;
      e = this.root;
      if (e < 0) e = pool[~e + (hi >>> 10)]!;
      if (e < 0) e = pool[~e + (hi & 1023)]!;
    }
    if (e < 0) {
      const lo = addr >>> 0;
      e = pool[~e + (lo >>> 22)]!;
      if (e < 0) {
        const b = ~e;
        e = pool[b + ((lo & 0x3fffff) >>> pool[b - 1]!)]!;
        if (e < 0) e = this.subpage(~e, lo & 4095);
      }
    }
    return e;
  }

  /** How many tables lookup(addr) visits (0 when the entry it starts from is a section): at most 5. */
  depth(addr: number): number {
    let n = 0;
    const low = addr < 4294967296;
    let e = low ? this.lowEntry : this.root;
    for (let level = low ? 2 : 0; e < 0; level++, n++) {
      if (level === SUBPAGE) return n + 1;
      e =
        this.pool[~e + (level === LEAF ? ((addr >>> 0) & 0x3fffff) >>> this.pool[~e - 1]! : this.index(level, addr))]!;
    }
    return n;
  }

  /** Size in entries of each table in use, for tests and reports. */
  tableSizes(): number[] {
    const sizes: number[] = [];
    const walk = (e: number, level: number): void => {
      if (e >= 0) return;
      const b = ~e;
      if (level === SUBPAGE) {
        const h = this.pool[b - 1]!;
        sizes.push(h >= 0 ? PAGE_SIZE >> h : -h);
        return;
      }
      const n = this.entries(b, level);
      sizes.push(n);
      for (let i = 0; i < n; i++) walk(this.pool[b + i]!, level + 1);
    };
    walk(this.root, 0);
    return sizes;
  }

  /** Int32 words of table pool in use (for memory reports). */
  get poolWords(): number {
    return this.poolTop;
  }

  /**
   * A page shared by several sections: a direct table indexed by the finest granule in the page
   * (header >= 0: its log2), or for fine granules a short list of (first byte, section) pairs
   * (header < 0: minus the pair count), so an 8-byte PBA does not cost a 512-entry table.
   */
  private subpage(b: number, inPage: number): number {
    const pool = this.pool;
    const h = pool[b - 1]!;
    if (h >= 0) return pool[b + (inPage >>> h)]!;
    let k = b + 2 * (-h - 1);
    while (pool[k]! > inPage) k -= 2;
    return pool[k + 1]!;
  }

  private index(level: number, addr: number): number {
    if (level === 0) return Math.floor(addr / 2 ** 42);
    if (level === 1) return Math.floor(addr / 2 ** 32) & 1023;
    return (addr >>> 22) & 1023;
  }

  /** Entries of the table at pool offset t whose parent entry is of `level` (not a subpage). */
  private entries(t: number, level: number): number {
    return level === LEAF ? 1 << (22 - this.pool[t - 1]!) : LEVEL_ENTRIES[level]!;
  }

  // ---- building (cold path) ----

  /**
   * Recompiles [a, b) from `ranges`: widened to whole pages and to every old section and new range
   * that crosses it, so no section is left half in the old tables; then cleared and refilled.
   */
  private rebuild(ranges: readonly FlatRange[], a: number, b: number): void {
    for (;;) {
      const a0 = a;
      const b0 = b;
      a = Math.floor(a / PAGE_SIZE) * PAGE_SIZE;
      b = Math.min(Math.ceil(b / PAGE_SIZE) * PAGE_SIZE, DISPATCH_LIMIT);
      const sa = this.lookup(a);
      if (sa !== 0) a = Math.min(a, this.start(sa));
      const sb = this.lookup(b - 1);
      if (sb !== 0) b = Math.max(b, this.end(sb));
      const ia = firstEndingAfter(ranges, a);
      if (ia < ranges.length && Number(ranges[ia]!.start) < a) a = Number(ranges[ia]!.start);
      const ib = firstEndingAfter(ranges, b - 1);
      if (ib < ranges.length && Number(ranges[ib]!.start) < b) b = Math.min(DISPATCH_LIMIT, rangeEnd(ranges[ib]!));
      a = Math.floor(a / PAGE_SIZE) * PAGE_SIZE;
      b = Math.min(Math.ceil(b / PAGE_SIZE) * PAGE_SIZE, DISPATCH_LIMIT);
      if (a === a0 && b === b0) break;
    }
    // Clear, collecting the sections that lived there (all of them wholly inside [a, b)).
    this.dropped.length = 0;
    this.epoch++;
    this.root = this.setRange(this.root, 0, 0, 2 ** 53, a, b, 0);
    for (const s of this.dropped) this.freeSection(s);
    // Refill: whole pages at the highest level they cover, shared pages as subpage tables.
    const pages = this.partialPages;
    pages.length = 0;
    this.rebuilt.length = 0;
    this.rebuiltFirst = firstEndingAfter(ranges, a);
    for (let i = this.rebuiltFirst; i < ranges.length; i++) {
      const r = ranges[i]!;
      const start = Number(r.start);
      if (start >= b) break;
      const end = Math.min(rangeEnd(r), DISPATCH_LIMIT);
      const s = this.newSection(r, start, end);
      this.rebuilt.push(s);
      const whole0 = Math.ceil(start / PAGE_SIZE) * PAGE_SIZE;
      const whole1 = Math.floor(end / PAGE_SIZE) * PAGE_SIZE;
      if (whole0 < whole1) this.root = this.setRange(this.root, 0, 0, 2 ** 53, whole0, whole1, s);
      if (start !== whole0 || whole0 > whole1) pushPage(pages, Math.floor(start / PAGE_SIZE) * PAGE_SIZE);
      if (end !== whole1 && whole1 >= whole0) pushPage(pages, whole1);
    }
    for (const page of pages) this.buildSubpage(ranges, page);
    this.lowEntry = this.root >= 0 ? this.root : this.pool[~this.root]!;
    if (this.lowEntry < 0) this.lowEntry = this.pool[~this.lowEntry]!;
    if (this.paged) {
      // Every section holding all of a block that meets [a, b) lies inside [a, b) (see above).
      const unit = 2 ** this.pageShift;
      const n = this.pages.length;
      this.pages.fill(0, Math.min(Math.floor(a / unit), n), Math.min(Math.ceil(b / unit), n));
      for (const s of this.rebuilt) this.indexPages(s);
    }
  }

  /**
   * Counts a miss the flat index could not serve; the FLAT_AFTER_MISSES-th builds it. Cheap enough
   * for the miss path: an address space that is never used much never pays for the index.
   */
  missed(): void {
    if (++this.misses !== FLAT_AFTER_MISSES || this.paged) return;
    this.paged = true;
    this.reindex();
  }

  /** Builds the flat page index afresh, at the coarsest block every indexable section is aligned to. */
  private reindex(): void {
    const ids: number[] = [];
    for (let s = 1; s < this.count; s++) if (this.indexable(s)) ids.push(s);
    this.pageShift = ids.reduce((shift, s) => Math.min(shift, this.alignment(s)), MAX_PAGE_SHIFT);
    const need = ids.reduce((n, s) => Math.max(n, this.blocks(s)[1]), 0);
    this.pages = need === 0 ? NO_PAGES : new Int32Array(need);
    for (const s of ids) this.fillPages(s);
  }

  /**
   * Whether section s belongs in the flat page index: an MMIO section taking direct 4-byte reads
   * and writes below 4 GiB whose region offsets are as aligned as its addresses (delta a multiple
   * of 8: the index checks the address's alignment, which is then the offset's) and below 2^31
   * (pageDelta).
   */
  private indexable(s: number): boolean {
    const p = s * Sec.Stride;
    const word = this.sec[p + Sec.Word]!;
    const direct4 = (word >> Sec.ReadSizesShift) & (word >> Sec.WriteSizesShift) & 4;
    const mmio = (word & Sec.KindMask) === SectionKind.Mmio;
    const delta = this.sec[p + Sec.Delta]!;
    const offsets31 = this.sec[p + Sec.End]! + delta <= 2 ** 31;
    return this.secFlat[s] !== null && mmio && direct4 !== 0 && delta % 8 === 0 && offsets31 && this.start(s) < 2 ** 32;
  }

  /** log2 of the largest block both ends of section s are aligned to, from 4 KiB to 4 MiB. */
  private alignment(s: number): number {
    let shift = MAX_PAGE_SHIFT;
    for (const x of [this.start(s), this.end(s)]) {
      if (x % 2 ** 32 === 0) continue;
      const low = x % 2 ** 32;
      shift = Math.min(shift, 31 - Math.clz32(low & -low));
    }
    return Math.max(shift, MIN_PAGE_SHIFT);
  }

  /** The blocks [first, last) of the index that section s holds all of (below 4 GiB). */
  private blocks(s: number): [number, number] {
    const unit = 2 ** this.pageShift;
    const first = Math.ceil(this.start(s) / unit);
    const last = Math.min(Math.floor(this.end(s) / unit), 2 ** 32 / unit);
    return first < last ? [first, last] : [0, 0];
  }

  /** Enters section s in the flat page index if it belongs there (afresh at a finer block if it needs one). */
  private indexPages(s: number): void {
    if (!this.indexable(s)) return;
    if (this.alignment(s) < this.pageShift) this.reindex();
    else this.fillPages(s);
  }

  /** Fills the blocks an indexable section s holds all of, growing the index if it must. */
  private fillPages(s: number): void {
    const [first, last] = this.blocks(s);
    if (first >= last) return;
    this.pageDelta[s] = this.sec[s * Sec.Stride + Sec.Delta]! | 0;
    if (last > this.pages.length) {
      const grown = new Int32Array(Math.min(2 ** (32 - this.pageShift), Math.max(last, 2 * this.pages.length)));
      grown.set(this.pages);
      this.pages = grown;
    }
    this.pages.fill(s, first, last);
  }

  /**
   * Sets [start, end) to section s below `entry` (a table or section of `level` covering `unit`
   * bytes from `base`); returns the entry's new value. Tables left uniform collapse into their parent entry.
   */
  private setRange(
    entry: number,
    level: number,
    base: number,
    unit: number,
    start: number,
    end: number,
    s: number,
  ): number {
    if (start <= base && base + unit <= end) {
      this.release(entry, level);
      return s;
    }
    if (entry >= 0 && entry === s) return entry;
    if (level === SUBPAGE) throw new Error(`dispatch: a subpage at 0x${base.toString(16)} was set in part`);
    let t: number;
    if (level === LEAF) {
      const g = leafGranule(Math.max(start, base) - base, Math.min(end, base + unit) - base);
      if (entry >= 0) {
        t = this.allocTable(1 << (22 - g), g);
        this.pool.fill(entry, t, t + (1 << (22 - g)));
      } else {
        t = ~entry;
        if (g < this.pool[t - 1]!) t = this.refineLeaf(t, g);
      }
    } else if (entry >= 0) {
      t = this.allocTable(LEVEL_ENTRIES[level]!);
      this.pool.fill(entry, t, t + LEVEL_ENTRIES[level]!);
    } else {
      t = ~entry;
    }
    const n = this.entries(t, level);
    const childUnit = level === LEAF ? 2 ** this.pool[t - 1]! : LEVEL_UNIT[level]!;
    const first = Math.max(0, Math.floor((start - base) / childUnit));
    const last = Math.min(n, Math.ceil((end - base) / childUnit));
    for (let i = first; i < last; i++) {
      const v = this.setRange(this.pool[t + i]!, level + 1, base + i * childUnit, childUnit, start, end, s);
      this.pool[t + i] = v;
    }
    const pool = this.pool;
    const v0 = pool[t]!;
    if (v0 >= 0) {
      let i = 1;
      while (i < n && pool[t + i] === v0) i++;
      if (i === n) {
        this.freeTable(t, n);
        return v0;
      }
    }
    return ~t;
  }

  /** A leaf again at the finer granule 2^g: every entry repeated (entries above 4 KiB are sections). */
  private refineLeaf(t: number, g: number): number {
    const h = this.pool[t - 1]!;
    const n = 1 << (22 - h);
    const r = 1 << (h - g);
    const t2 = this.allocTable(n * r, g);
    for (let i = 0; i < n; i++) this.pool.fill(this.pool[t + i]!, t2 + i * r, t2 + (i + 1) * r);
    this.freeTable(t, n);
    return t2;
  }

  /** Frees the tables below an entry being overwritten and notes the sections it held. */
  private release(entry: number, level: number): void {
    if (entry >= 0) {
      this.drop(entry);
      return;
    }
    const t = ~entry;
    if (level === SUBPAGE) {
      const h = this.pool[t - 1]!;
      const n = h >= 0 ? PAGE_SIZE >> h : -h;
      const step = h >= 0 ? 1 : 2;
      for (let i = 0; i < n; i++) this.drop(this.pool[t + i * step + step - 1]!);
      this.freeTable(t, h >= 0 ? n : 2 * n);
      return;
    }
    const n = this.entries(t, level);
    for (let i = 0; i < n; i++) this.release(this.pool[t + i]!, level + 1);
    this.freeTable(t, n);
  }

  private drop(s: number): void {
    if (s === 0 || this.stamp[s] === this.epoch) return;
    this.stamp[s] = this.epoch;
    this.dropped.push(s);
  }

  /** The subpage table of one shared page, from the ranges that overlap it. */
  private buildSubpage(ranges: readonly FlatRange[], page: number): void {
    const pieces: number[] = []; // (first byte in page, section) pairs, gaps as section 0
    let granule = 12;
    let at = 0;
    for (let i = firstEndingAfter(ranges, page); i < ranges.length; i++) {
      const r = ranges[i]!;
      const start = Number(r.start);
      if (start >= page + PAGE_SIZE) break;
      const s0 = Math.max(start, page) - page;
      const s1 = Math.min(Math.min(rangeEnd(r), DISPATCH_LIMIT), page + PAGE_SIZE) - page;
      if (s0 > at) pieces.push(at, 0);
      pieces.push(s0, this.rebuilt[i - this.rebuiltFirst]!);
      at = s1;
      for (const x of [s0, s1]) if (x % PAGE_SIZE !== 0) granule = Math.min(granule, Math.log2(x & -x));
    }
    if (at < PAGE_SIZE) pieces.push(at, 0);
    const direct = PAGE_SIZE >> granule;
    const pairs = pieces.length / 2;
    let t: number;
    if (direct <= MAX_DIRECT_SUBPAGE || direct <= pairs * 2) {
      t = this.allocTable(direct, granule);
      for (let k = 0; k < pairs; k++) {
        const from = pieces[2 * k]! >> granule;
        const to = (k + 1 < pairs ? pieces[2 * k + 2]! : PAGE_SIZE) >> granule;
        this.pool.fill(pieces[2 * k + 1]!, t + from, t + to);
      }
    } else {
      t = this.allocTable(2 * pairs, -pairs);
      this.pool.set(pieces, t);
    }
    this.root = this.setLeaf(this.root, 0, 0, page, ~t);
  }

  /** Sets the leaf entry of `page` to `value` (a subpage table), creating tables down to it. */
  private setLeaf(entry: number, level: number, base: number, page: number, value: number): number {
    if (level === SUBPAGE) {
      this.release(entry, level);
      return value;
    }
    let t: number;
    const n = level === LEAF ? 1024 : LEVEL_ENTRIES[level]!;
    if (entry >= 0) {
      t = this.allocTable(n, level === LEAF ? 12 : 0);
      this.pool.fill(entry, t, t + n);
    } else {
      t = ~entry;
      if (level === LEAF && this.pool[t - 1]! > 12) t = this.refineLeaf(t, 12);
    }
    const childUnit = level === LEAF ? PAGE_SIZE : LEVEL_UNIT[level]!;
    const i = Math.floor((page - base) / childUnit);
    const v = this.setLeaf(this.pool[t + i]!, level + 1, base + i * childUnit, page, value);
    this.pool[t + i] = v;
    return ~t;
  }

  private newSection(r: FlatRange, start: number, end: number): number {
    const s = this.freeSections.pop() ?? this.count++;
    if (s >= this.stamp.length) this.growSections(s + 1);
    const offset = Number(r.offsetInRegion);
    const kind = sectionKind(r);
    const mr = r.mr;
    const p = s * Sec.Stride;
    const [reads, writes] = directSizes(kind, mr);
    this.sec[p + Sec.Start] = start;
    this.sec[p + Sec.End] = end;
    this.sec[p + Sec.Delta] = offset - start;
    this.sec[p + Sec.Word] = kind | (reads << Sec.ReadSizesShift) | (writes << Sec.WriteSizesShift);
    this.secRegion[s] = mr;
    this.secRead[s] = reads === 0 ? null : mr.readFn;
    this.secViews[s] = null;
    this.secWrite[s] = writes === 0 ? null : mr.writeFn;
    this.secBlock[s] = mr.ramBlock ?? (mr.ramDeviceBacking instanceof RamBlock ? mr.ramDeviceBacking : null);
    this.secFlat[s] = r;
    return s;
  }

  private freeSection(s: number): void {
    this.secRegion[s] = this.secBlock[s] = this.secFlat[s] = null;
    this.secRead[s] = this.secWrite[s] = null;
    this.secViews[s] = null;
    this.sec.fill(0, s * Sec.Stride, (s + 1) * Sec.Stride);
    this.freeSections.push(s);
  }

  private growSections(min: number): void {
    const n = Math.max(min, this.stamp.length * 2);
    const sec = new Float64Array(n * Sec.Stride);
    sec.set(this.sec);
    this.sec = sec;
    const stamp = new Uint32Array(n);
    stamp.set(this.stamp);
    this.stamp = stamp;
    const pageDelta = new Int32Array(n);
    pageDelta.set(this.pageDelta);
    this.pageDelta = pageDelta;
  }

  /** A table of `n` entries with a one-word header before it; returns the offset of entry 0. */
  private allocTable(n: number, header = 0): number {
    const free = this.freeTables.get(n);
    let t = free?.pop();
    if (t === undefined) {
      if (this.poolTop + n + 1 > this.pool.length) {
        const bigger = new Int32Array(Math.max(this.pool.length * 2, this.poolTop + n + 1));
        bigger.set(this.pool);
        this.pool = bigger;
      }
      t = this.poolTop + 1;
      this.poolTop += n + 1;
    }
    this.pool[t - 1] = header;
    return t;
  }

  private freeTable(t: number, n: number): void {
    let free = this.freeTables.get(n);
    if (!free) this.freeTables.set(n, (free = []));
    free.push(t);
  }
}

function rangeEnd(r: FlatRange): number {
  const end = r.start + r.size;
  return end > BigInt(DISPATCH_LIMIT) ? DISPATCH_LIMIT : Number(end);
}

/** Index of the first range ending after addr (ranges sorted and disjoint). */
function firstEndingAfter(ranges: readonly FlatRange[], addr: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rangeEnd(ranges[mid]!) <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** log2 of the coarsest granule (4 KiB to 2 MiB) that both ends of a piece of a 4 MiB window are aligned to. */
function leafGranule(from: number, to: number): number {
  let g = 21;
  for (const x of [from, to]) if (x > 0 && x < 0x400000) g = Math.min(g, 31 - Math.clz32(x & -x));
  return Math.max(12, g);
}

function pushPage(pages: number[], page: number): void {
  if (pages[pages.length - 1] !== page) pages.push(page);
}

function sectionKind(r: FlatRange): SectionKind {
  const mr = r.mr;
  if (mr.isRamDevice) return SectionKind.RamDevice;
  if (mr.isRomDevice) return r.romdMode ? SectionKind.Romd : SectionKind.Mmio;
  if (mr.isRam) return r.readonly ? SectionKind.Rom : SectionKind.Ram;
  return SectionKind.Mmio;
}
