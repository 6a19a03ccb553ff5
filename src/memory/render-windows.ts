import type { MemoryRegion } from './region.ts';
import { U64_SPAN } from './constants.ts';

/**
 * Where a region renders: for every path from a rendered root down to mr (through containers and
 * through aliases whose target is mr or an ancestor), the address window of mr's extent clipped by
 * every region on the path, as memory.c:render_memory_region clips it. Outside these windows a
 * change to mr (or to anything under it) cannot alter a render of that root.
 *
 * Walks upward with an explicit stack (no recursion to the tree depth). Disabled regions on the
 * way end a path (they render nothing below them); mr's own enabled flag is ignored, so a region
 * being enabled or disabled reports the window it has while enabled. Returns false when the walk
 * needs more than `budget` steps (many aliases to aliases): the caller renders everything instead.
 */
export function renderWindows(
  mr: MemoryRegion,
  isRoot: (r: MemoryRegion) => boolean,
  out: (root: MemoryRegion, start: bigint, end: bigint) => void,
  budget: number,
): boolean {
  // Each entry: a region and a window [lo, hi) of its own coordinates (0 is its first byte).
  const stack: [MemoryRegion, bigint, bigint][] = [[mr, 0n, mr.size]];
  let steps = 0;
  while (stack.length > 0) {
    if (++steps > budget) return false;
    const [r, lo, hi] = stack.pop()!;
    if (isRoot(r)) {
      // A root renders at its own address, clipped to the 64-bit space.
      const s = r.addr + lo;
      const e = r.addr + hi;
      if (s < U64_SPAN && e > 0n) out(r, s > 0n ? s : 0n, e < U64_SPAN ? e : U64_SPAN);
    }
    const parent = r.container;
    if (parent?.enabled) push(stack, parent, r.addr + lo, r.addr + hi);
    // Target offset t shows at alias offset t - alias_offset (the target's own addr cancels out).
    for (const a of r.aliasedBy) if (a.enabled) push(stack, a, lo - a.aliasOffset, hi - a.aliasOffset);
  }
  return true;
}

/** Pushes r's window [lo, hi) clipped to r's extent, if anything is left. */
function push(stack: [MemoryRegion, bigint, bigint][], r: MemoryRegion, lo: bigint, hi: bigint): void {
  if (lo < 0n) lo = 0n;
  if (hi > r.size) hi = r.size;
  if (lo < hi) stack.push([r, lo, hi]);
}

/** Sorts [start, end) intervals and merges those that overlap or touch. */
export function coalesce(intervals: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = [...intervals].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) {
      if (e > last[1]) last[1] = e;
    } else out.push([s, e]);
  }
  return out;
}
