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
    /** Replaced only through `replace` (the incremental render patches a view in place). */
    public ranges: readonly FlatRange[],
  ) {}

  /** Replaces ranges [from, to) by `items`; returns the ranges taken out. */
  replace(from: number, to: number, items: readonly FlatRange[]): FlatRange[] {
    const ranges = this.ranges as FlatRange[];
    // splice() takes its items as arguments, which overflows the stack for very large slices.
    if (items.length < 4096) return ranges.splice(from, to - from, ...items);
    const removed = ranges.slice(from, to);
    this.ranges = ranges.slice(0, from).concat(items, ranges.slice(to));
    return removed;
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
