import { BTree } from './btree.ts';
import type { MemoryRegion } from './region.ts';
import { FlatView, PackedFlatRange, flatRangeBits, type FlatRange } from './flat-view.ts';
import { ChildIndex } from './child-index.ts';
import { U64_SPAN } from './constants.ts';

const compareBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** A container with at least this many children gets a ChildIndex for clipped renders. */
const INDEXED_CHILDREN = 32;

/**
 * memory.c:generate_memory_topology — renders a root into a FlatView and simplifies it. Ranges
 * already in the view are kept in a B-tree keyed by start, so filling a region's gaps costs
 * O(log n + ranges it meets) instead of QEMU's linear scan with memmove.
 */
export function renderFlatView(root: MemoryRegion | null): FlatView {
  if (!root) return new FlatView(null, []);
  return new FlatView(root, renderRanges(root, 0n, U64_SPAN));
}

/**
 * The simplified ranges of root's render inside [clipStart, clipEnd) only: exactly the full
 * render's raw ranges cut at the clip edges, then simplified (the incremental render's building
 * block; edges are the caller's business).
 */
export function renderRanges(root: MemoryRegion, clipStart: bigint, clipEnd: bigint): FlatRange[] {
  const tree = new BTree<bigint, FlatRange>(undefined, compareBig);
  renderRegion(tree, root, 0n, clipStart, clipEnd, false, false, false);
  return simplify([...tree.values()]);
}

/** memory.c:render_memory_region — "the first renderer wins". */
function renderRegion(
  view: BTree<bigint, FlatRange>,
  mr: MemoryRegion,
  base: bigint,
  clipStart: bigint,
  clipEnd: bigint,
  readonly: boolean,
  nonvolatile: boolean,
  unmergeable: boolean,
): void {
  if (!mr.enabled) return;
  base = plus(base, mr.addr);
  readonly ||= mr.readonly;
  nonvolatile ||= mr.nonvolatile;
  unmergeable ||= mr.unmergeable;

  const start = base > clipStart ? base : clipStart;
  const regionEnd = base + mr.size;
  const end = regionEnd < clipEnd ? regionEnd : clipEnd;
  if (start >= end) return; // no intersection with the clip: nothing to render or obscure

  if (mr.alias) {
    // The target's own address cancels out: target offset alias_offset lands on the alias start.
    base -= mr.alias.addr;
    base -= mr.aliasOffset;
    renderRegion(view, mr.alias, base, start, end, readonly, nonvolatile, unmergeable);
    return;
  }

  const children = mr.children; // back to front: render from the end for QEMU's order
  if (children.length >= INDEXED_CHILDREN && (start > base || end < regionEnd)) {
    // A clip narrower than the container: only the children meeting it can render anything.
    mr.childIndex ??= new ChildIndex(children);
    for (const child of mr.childIndex.meeting(start - base, end - base))
      renderRegion(view, child, base, start, end, readonly, nonvolatile, unmergeable);
  } else {
    for (let i = children.length - 1; i >= 0; i--)
      renderRegion(view, children[i]!, base, start, end, readonly, nonvolatile, unmergeable);
  }

  if (!mr.terminates) return;

  // Fill every part of [start, end) that no earlier renderer claimed. A range of the whole region
  // keeps the region's own size and a zero offset, not new bigints (24 bytes each per range).
  const insert = (from: bigint, to: bigint): void => {
    const whole = from === base && to === regionEnd;
    const offset = from === base ? 0n : from - base;
    const bits = flatRangeBits(mr.romdMode, readonly, nonvolatile, unmergeable, 0);
    view.set(from, new PackedFlatRange(mr, offset, from, whole ? mr.size : to - from, bits));
  };
  let cursor = start;
  const before = view.getPairOrNextLower(start);
  if (before) {
    const beforeEnd = before[1].start + before[1].size;
    if (beforeEnd > cursor) cursor = beforeEnd;
  }
  if (cursor >= end) return;
  const gaps: [bigint, bigint][] = [];
  view.forRange(cursor, end, false, (_k, r) => {
    if (r.start > cursor) gaps.push([cursor, r.start]);
    const rEnd = r.start + r.size;
    if (rEnd > cursor) cursor = rEnd;
  });
  if (cursor < end) gaps.push([cursor, end]);
  for (const [from, to] of gaps) insert(from, to);
}

/** a + b, returning an operand itself when the other is 0: a root's child then renders at its own addr object. */
function plus(a: bigint, b: bigint): bigint {
  return a === 0n ? b : b === 0n ? a : a + b;
}

/**
 * Same region, contiguous offsets and equal attributes: one raw range of a render could span both
 * (memory.c:can_merge without its unmergeable test).
 */
export function continuous(a: FlatRange, b: FlatRange): boolean {
  return (
    a.start + a.size === b.start &&
    a.mr === b.mr &&
    a.offsetInRegion + a.size === b.offsetInRegion &&
    a.dirtyLogMask === b.dirtyLogMask &&
    a.romdMode === b.romdMode &&
    a.readonly === b.readonly &&
    a.nonvolatile === b.nonvolatile &&
    a.unmergeable === b.unmergeable
  );
}

/** memory.c:can_merge. */
export function canMerge(a: FlatRange, b: FlatRange): boolean {
  return continuous(a, b) && !a.unmergeable;
}

/** memory.c:flatview_simplify — one pass merging each range into its surviving predecessor. */
export function simplify(ranges: FlatRange[]): FlatRange[] {
  const out: FlatRange[] = [];
  let prev: FlatRange | undefined;
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && prev && canMerge(prev, r)) {
      last.size += r.size;
    } else {
      out.push(PackedFlatRange.of(r));
    }
    prev = r;
  }
  return out;
}
