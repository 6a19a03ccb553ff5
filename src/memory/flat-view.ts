import type { MemoryRegion } from './region.ts';
import type { Dispatch } from './dispatch.ts';

/** One piece of a rendered view (QEMU's FlatRange). Addresses are absolute within the view. */
export interface FlatRange {
  mr: MemoryRegion;
  offsetInRegion: bigint;
  start: bigint;
  size: bigint;
  romdMode: boolean;
  readonly: boolean;
  nonvolatile: boolean;
  unmergeable: boolean;
  dirtyLogMask: number;
}

const ROMD_MODE = 1;
const READONLY = 2;
const NONVOLATILE = 4;
const UNMERGEABLE = 8;
/** dirtyLogMask is stored above the four flag bits. */
const MASK_SHIFT = 4;

/** The flags of a PackedFlatRange. */
export function flatRangeBits(
  romdMode: boolean,
  readonly: boolean,
  nonvolatile: boolean,
  unmergeable: boolean,
  dirtyLogMask: number,
): number {
  return (
    (romdMode ? ROMD_MODE : 0) |
    (readonly ? READONLY : 0) |
    (nonvolatile ? NONVOLATILE : 0) |
    (unmergeable ? UNMERGEABLE : 0) |
    (dirtyLogMask << MASK_SHIFT)
  );
}

/**
 * A FlatRange as the renderer makes it: the four flags and the dirty-log mask in one small integer
 * rather than a field each (a view of 100,000 ranges pays 8 bytes per field per range).
 */
export class PackedFlatRange implements FlatRange {
  constructor(
    public mr: MemoryRegion,
    public offsetInRegion: bigint,
    public start: bigint,
    public size: bigint,
    /** From flatRangeBits. */
    private bits: number,
  ) {}

  /** A copy of any FlatRange, with another size if given (the bigints are immutable, so shared). */
  static of(r: FlatRange, size = r.size): PackedFlatRange {
    const bits =
      r instanceof PackedFlatRange
        ? r.bits
        : flatRangeBits(r.romdMode, r.readonly, r.nonvolatile, r.unmergeable, r.dirtyLogMask);
    return new PackedFlatRange(r.mr, r.offsetInRegion, r.start, size, bits);
  }

  get romdMode(): boolean {
    return (this.bits & ROMD_MODE) !== 0;
  }
  set romdMode(on: boolean) {
    this.set(ROMD_MODE, on);
  }
  get readonly(): boolean {
    return (this.bits & READONLY) !== 0;
  }
  set readonly(on: boolean) {
    this.set(READONLY, on);
  }
  get nonvolatile(): boolean {
    return (this.bits & NONVOLATILE) !== 0;
  }
  set nonvolatile(on: boolean) {
    this.set(NONVOLATILE, on);
  }
  get unmergeable(): boolean {
    return (this.bits & UNMERGEABLE) !== 0;
  }
  set unmergeable(on: boolean) {
    this.set(UNMERGEABLE, on);
  }
  get dirtyLogMask(): number {
    return this.bits >>> MASK_SHIFT;
  }
  set dirtyLogMask(mask: number) {
    this.bits = (this.bits & ((1 << MASK_SHIFT) - 1)) | (mask << MASK_SHIFT);
  }

  private set(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }
}

/** What listeners receive (QEMU's MemoryRegionSection). */
export interface MemoryRegionSection {
  mr: MemoryRegion;
  offsetWithinRegion: bigint;
  size: bigint;
  offsetWithinAddressSpace: bigint;
  readonly: boolean;
  nonvolatile: boolean;
  unmergeable: boolean;
}

/** memory.c:flatrange_equal — dirty_log_mask deliberately not compared. */
export function flatRangeEqual(a: FlatRange, b: FlatRange): boolean {
  return (
    a.mr === b.mr &&
    a.start === b.start &&
    a.size === b.size &&
    a.offsetInRegion === b.offsetInRegion &&
    a.romdMode === b.romdMode &&
    a.readonly === b.readonly &&
    a.nonvolatile === b.nonvolatile &&
    a.unmergeable === b.unmergeable
  );
}

/** memory.c:section_from_flat_range. */
export function sectionFromFlatRange(fr: FlatRange): MemoryRegionSection {
  return {
    mr: fr.mr,
    offsetWithinRegion: fr.offsetInRegion,
    size: fr.size,
    offsetWithinAddressSpace: fr.start,
    readonly: fr.readonly,
    nonvolatile: fr.nonvolatile,
    unmergeable: fr.unmergeable,
  };
}

/**
 * The rendered, simplified view of one root (QEMU's FlatView): sorted, disjoint ranges, plus the
 * dispatch structure compiled from them on first use. Shared by every address space whose root
 * resolves to the same region.
 */
export class FlatView {
  /** Set by AddressSpace on first access; a new view starts with none. */
  dispatch: Dispatch | null = null;

  constructor(
    readonly root: MemoryRegion | null,
    /** Changed only through `replace` (the incremental render patches a view in place). */
    public ranges: readonly FlatRange[],
  ) {}

  /**
   * Replaces runs of ranges, each [from, to) of the current array by its items (ascending, disjoint
   * runs); returns the ranges each run took out. A run that keeps its count (a region toggled) is
   * overwritten in place; a few others are spliced (a memmove of the tail); many are copied in one
   * pass, O(n + k) rather than O(n · k).
   */
  replace(runs: readonly { from: number; to: number; items: readonly FlatRange[] }[]): FlatRange[][] {
    const old = this.ranges as FlatRange[];
    const removed = runs.map((r) => old.slice(r.from, r.to));
    // splice() takes its items as arguments, which overflows the stack for very large runs.
    if (runs.length <= 8 && runs.every((r) => r.items.length < 4096)) {
      for (let k = runs.length - 1; k >= 0; k--) {
        const r = runs[k]!;
        if (r.items.length === r.to - r.from) for (let j = 0; j < r.items.length; j++) old[r.from + j] = r.items[j]!;
        else old.splice(r.from, r.to - r.from, ...r.items);
      }
      return removed;
    }
    const first = runs[0]!.from;
    const last = runs[runs.length - 1]!.to;
    this.ranges = old.slice(0, first).concat(FlatView.merged(old, runs, first, last), old.slice(last));
    return removed;
  }

  /** old[first, last) with every run replaced by its items. */
  private static merged(
    old: readonly FlatRange[],
    runs: readonly { from: number; to: number; items: readonly FlatRange[] }[],
    first: number,
    last: number,
  ): FlatRange[] {
    const out: FlatRange[] = [];
    let i = first;
    for (const r of runs) {
      for (; i < r.from; i++) out.push(old[i]!);
      for (const item of r.items) out.push(item);
      i = r.to;
    }
    for (; i < last; i++) out.push(old[i]!);
    return out;
  }

  /** Index of the range containing addr, or -1 (binary search, cold path). */
  indexOf(addr: bigint): number {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.start + r.size) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Index of the first range ending after addr (for range queries). */
  firstEndingAfter(addr: bigint): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (r.start + r.size <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
