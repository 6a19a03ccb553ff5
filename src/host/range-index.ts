/** 2^53: addresses from here on are not exact as numbers; an index holds only what lies below it. */
export const NUMBER_LIMIT = 2 ** 53;
const BIG_NUMBER_LIMIT = 1n << 53n;

/** One range for RangeIndex.build: [start, end) with a number `base` and `tag` the owner interprets. */
export interface IndexedRange {
  start: number;
  end: number;
  base: number;
  tag: number;
}

/**
 * Sorted, non-overlapping [start, end) ranges of addresses below 2^53 in parallel typed arrays, for
 * the DMA path: `find` is a one-entry last-hit check and otherwise a binary search, and allocates
 * nothing. The owner keeps its own (bigint) list as the truth and rebuilds the index when that list
 * changes (MAP/UNMAP: rare next to DMA).
 */
export class RangeIndex {
  readonly start: Float64Array;
  readonly end: Float64Array;
  readonly base: Float64Array;
  readonly tag: Int32Array;
  readonly count: number;
  private last = 0;

  constructor(ranges: readonly IndexedRange[]) {
    const n = ranges.length;
    this.count = n;
    this.start = new Float64Array(n);
    this.end = new Float64Array(n);
    this.base = new Float64Array(n);
    this.tag = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = ranges[i]!;
      if (i > 0 && r.start < this.end[i - 1]!)
        throw new RangeError(`RangeIndex: range ${i} starts at ${r.start}, before the end of the previous one`);
      this.start[i] = r.start;
      this.end[i] = r.end;
      this.base[i] = r.base;
      this.tag[i] = r.tag;
    }
  }

  /** The index of the range holding `addr`, or -1. */
  find(addr: number): number {
    const last = this.last;
    if (last < this.count && this.start[last]! <= addr && addr < this.end[last]!) return last;
    // The last range starting at or below addr.
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.start[mid]! <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0 || addr >= this.end[hi]!) return -1;
    this.last = hi;
    return hi;
  }
}

/** `start + size` clipped to 2^53, as a number (exact: both are below 2^53 or the limit itself is). */
export function clippedEnd(start: bigint, size: bigint): number {
  const end = start + size;
  return Number(end < BIG_NUMBER_LIMIT ? end : BIG_NUMBER_LIMIT);
}

/** Whether [start, start+size) lies entirely below 2^53. */
export function belowNumberLimit(start: bigint, size: bigint): boolean {
  return start + size <= BIG_NUMBER_LIMIT;
}
