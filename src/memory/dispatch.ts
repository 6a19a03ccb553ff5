import type { FlatRange } from './flat-view.ts';
import type { MemoryRegion, RamDeviceBacking } from './region.ts';
import type { RamBlock } from '../common/ram-block.ts';
import { DISPATCH_LIMIT, PAGE_BITS, PAGE_SIZE } from './constants.ts';

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

// Radix levels over a 53-bit address split as hi (bits 32..52) and lo (bits 0..31) words:
// L0 = hi bits 10..20, L1 = hi bits 0..9, then lo-word levels L2 = bits 22..31, L3 = bits 12..21
// (4 KiB pages), and per-page subpage tables whose granule fits the boundaries in that page.
const UNIT_LOG2 = [42, 32, 22, 12];
const ENTRIES = [2048, 1024, 1024, 1024];

/**
 * Compiled lookup structure of one FlatView, QEMU's AddressSpaceDispatch in spirit (physmem.c):
 * a fixed-depth radix table plus subpage tables, so a lookup visits at most five small typed-array
 * entries whatever the number of regions, and an MRU section that skips even that.
 * Section 0 is "unassigned". Only addresses below 2^53 are compiled; the rest is the cold path.
 */
export class Dispatch {
  readonly count: number;
  readonly secStart: Float64Array;
  readonly secEnd: Float64Array;
  /** Offset within the region of the section's first byte. */
  readonly secOffset: Float64Array;
  readonly secKind: Uint8Array;
  readonly secRegion: (MemoryRegion | null)[];
  readonly secBlock: (RamBlock | null)[];
  readonly secBacking: (RamDeviceBacking | null)[];
  /** Index into the FlatView's ranges, for reports. */
  readonly secRange: Int32Array;

  /**
   * Every table, each laid out as [shift, mask, entries...]. An entry >= 0 is a section; an entry
   * < 0 is ~(pool offset of a table's first entry), so one level costs three loads from one array.
   */
  private readonly pool: Int32Array;
  /** Entry covering [0, 2^53): a section or a table (L0). */
  private readonly rootEntry: number;
  /** Entry covering [0, 2^32), so low addresses skip the two hi-word levels. */
  private readonly lowEntry: number;

  // The most-recently-used section, with what the inlined fast path needs to serve it.
  mru = 0;
  mruStart = Infinity;
  mruEnd = 0;
  /** Region offset minus address for the MRU section. */
  mruDelta = 0;
  mruKind = SectionKind.Unassigned;

  constructor(ranges: readonly FlatRange[]) {
    const inRange = ranges.map((r, i) => [r, i] as const).filter(([r]) => r.start < BigInt(DISPATCH_LIMIT));
    const n = inRange.length + 1;
    this.count = n;
    this.secStart = new Float64Array(n);
    this.secEnd = new Float64Array(n);
    this.secOffset = new Float64Array(n);
    this.secKind = new Uint8Array(n);
    this.secRegion = new Array(n).fill(null);
    this.secBlock = new Array(n).fill(null);
    this.secBacking = new Array(n).fill(null);
    this.secRange = new Int32Array(n).fill(-1);
    this.secEnd[0] = DISPATCH_LIMIT;

    const builder = new RadixBuilder();
    inRange.forEach(([r, rangeIndex], k) => {
      const s = k + 1;
      const start = Number(r.start);
      const endBig = r.start + r.size;
      const end = endBig > BigInt(DISPATCH_LIMIT) ? DISPATCH_LIMIT : Number(endBig);
      this.secStart[s] = start;
      this.secEnd[s] = end;
      this.secOffset[s] = Number(r.offsetInRegion);
      this.secRegion[s] = r.mr;
      this.secRange[s] = rangeIndex;
      this.secKind[s] = sectionKind(r);
      this.secBlock[s] = r.mr.ramBlock;
      this.secBacking[s] = r.mr.ramDeviceBacking;
      builder.noteBoundaries(start, end);
    });
    for (let s = 1; s < n; s++) builder.fill(this.secStart[s]!, this.secEnd[s]!, s);
    const compiled = builder.finish();
    this.pool = compiled.pool;
    this.rootEntry = compiled.rootEntry;
    this.lowEntry = compiled.lowEntry;
  }

  /** Section index for an address in [0, 2^53). Allocation-free, no bigint. */
  lookup(addr: number): number {
    let e: number;
    if (addr < 4294967296) {
      e = this.lowEntry;
    } else {
      const hi = (addr / 4294967296) >>> 0;
      e = this.rootEntry;
      if (e < 0) e = this.pool[~e + (hi >>> 10)]!;
      if (e < 0) e = this.pool[~e + (hi & 0x3ff)]!;
    }
    if (e < 0) {
      const pool = this.pool;
      const lo = addr >>> 0;
      do {
        const b = ~e;
        e = pool[b + ((lo >>> pool[b - 2]!) & pool[b - 1]!)]!;
      } while (e < 0);
    }
    return e;
  }

  /** Looks up through the most-recently-used section first (physmem.c:address_space_lookup_region). */
  find(addr: number): number {
    if (addr >= this.mruStart && addr < this.mruEnd) return this.mru;
    const s = this.lookup(addr);
    if (s !== 0) {
      this.mru = s;
      this.mruStart = this.secStart[s]!;
      this.mruEnd = this.secEnd[s]!;
      this.mruDelta = this.secOffset[s]! - this.secStart[s]!;
      this.mruKind = this.secKind[s]!;
    }
    return s;
  }

  /** How many tables lookup(addr) visits (0 when the entry it starts from is a leaf): at most 5. */
  depth(addr: number): number {
    let n = 0;
    const low = addr < 4294967296;
    let e = low ? this.lowEntry : this.rootEntry;
    const hi = (addr / 4294967296) >>> 0;
    const lo = addr >>> 0;
    for (let level = low ? 2 : 0; e < 0; level++, n++) {
      const b = ~e;
      const index = level === 0 ? hi >>> 10 : level === 1 ? hi & 0x3ff : (lo >>> this.pool[b - 2]!) & this.pool[b - 1]!;
      e = this.pool[b + index]!;
    }
    return n;
  }

  /** Size in entries of each table, for tests and reports. */
  tableSizes(): number[] {
    const sizes: number[] = [];
    for (let b = 2; b < this.pool.length; b += sizes[sizes.length - 1]! + 2) sizes.push(this.pool[b - 1]! + 1);
    return sizes;
  }
}

function sectionKind(r: FlatRange): SectionKind {
  const mr = r.mr;
  if (mr.isRamDevice) return SectionKind.RamDevice;
  if (mr.isRomDevice) return r.romdMode ? SectionKind.Romd : SectionKind.Mmio;
  if (mr.isRam) return r.readonly ? SectionKind.Rom : SectionKind.Ram;
  return SectionKind.Mmio;
}

/** Builds the radix tables; kept apart so the lookup class holds only the flattened arrays. */
class RadixBuilder {
  private readonly tables: Int32Array[] = [];
  private readonly shifts: number[] = [];
  /** Smallest power-of-two granule needed by the boundaries inside each partially covered page. */
  private readonly granule = new Map<number, number>();
  private rootEntry = 0;

  noteBoundaries(start: number, end: number): void {
    for (const b of [start, end]) {
      const inPage = b % PAGE_SIZE;
      if (inPage === 0) continue;
      const page = Math.floor(b / PAGE_SIZE);
      const g = Math.log2(inPage & -inPage);
      const old = this.granule.get(page);
      if (old === undefined || g < old) this.granule.set(page, g);
    }
  }

  fill(start: number, end: number, section: number): void {
    if (start === 0 && end === DISPATCH_LIMIT) {
      this.rootEntry = section;
      return;
    }
    if (this.rootEntry >= 0) this.rootEntry = ~this.newTable(ENTRIES[0]!, UNIT_LOG2[0]! - 32, this.rootEntry);
    this.fillTable(~this.rootEntry, 0, 0, start, end, section);
  }

  /** Lays the tables out in one pool and turns table ids into pool offsets. */
  finish() {
    const base = new Int32Array(this.tables.length);
    let total = 0;
    this.tables.forEach((t, i) => {
      base[i] = total + 2;
      total += t.length + 2;
    });
    const pool = new Int32Array(total);
    const relink = (e: number) => (e < 0 ? ~base[~e]! : e);
    this.tables.forEach((t, i) => {
      pool[base[i]! - 2] = this.shifts[i]!;
      pool[base[i]! - 1] = t.length - 1;
      for (let k = 0; k < t.length; k++) pool[base[i]! + k] = relink(t[k]!);
    });
    const rootEntry = relink(this.rootEntry);
    // Walk hi = 0 down to the entry covering [0, 2^32).
    let lowEntry = rootEntry;
    for (let level = 0; level < 2 && lowEntry < 0; level++) lowEntry = pool[~lowEntry]!;
    return { pool, rootEntry, lowEntry };
  }

  private newTable(entries: number, shift: number, fillWith: number): number {
    const t = new Int32Array(entries);
    if (fillWith !== 0) t.fill(fillWith);
    this.tables.push(t);
    this.shifts.push(shift);
    return this.tables.length - 1;
  }

  /** Sets [start, end) to `section` inside table `id` of `level`, whose span begins at `base`. */
  private fillTable(id: number, level: number, base: number, start: number, end: number, section: number): void {
    const table = this.tables[id]!;
    const unit = level < UNIT_LOG2.length ? 2 ** UNIT_LOG2[level]! : 2 ** this.shifts[id]!;
    const first = Math.floor((start - base) / unit);
    const last = Math.min(Math.ceil((end - base) / unit), table.length);
    for (let i = first; i < last; i++) {
      const unitStart = base + i * unit;
      const unitEnd = unitStart + unit;
      if (start <= unitStart && unitEnd <= end) {
        table[i] = section;
        continue;
      }
      if (level >= UNIT_LOG2.length) throw new Error(`dispatch: subpage granule too coarse at ${unitStart}`);
      let child = table[i]!;
      if (child >= 0) {
        child = ~this.childTable(level + 1, unitStart, child);
        table[i] = child;
      }
      this.fillTable(~child, level + 1, unitStart, Math.max(start, unitStart), Math.min(end, unitEnd), section);
    }
  }

  private childTable(level: number, base: number, fillWith: number): number {
    if (level < UNIT_LOG2.length) {
      const wordShift = level < 2 ? UNIT_LOG2[level]! - 32 : UNIT_LOG2[level]!;
      return this.newTable(ENTRIES[level]!, wordShift, fillWith);
    }
    const g = this.granule.get(Math.floor(base / PAGE_SIZE)) ?? PAGE_BITS;
    return this.newTable(PAGE_SIZE >> g, g, fillWith);
  }
}

