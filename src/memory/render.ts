import BTreeModule from 'sorted-btree';
import type { MemoryRegion } from './region.ts';
import { FlatView, type FlatRange } from './flat-view.ts';
import { U64_SPAN } from './constants.ts';

// sorted-btree is CommonJS with `exports.default`: Node's ESM loader and bundlers disagree on
// which object the default import is, so accept both.
const BTree = ((BTreeModule as unknown as { default?: typeof BTreeModule }).default ?? BTreeModule) as typeof BTreeModule;
type BTree<K, V> = BTreeModule<K, V>;

const compareBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * memory.c:generate_memory_topology — renders a root into a FlatView and simplifies it. Ranges
 * already in the view are kept in a B-tree keyed by start, so filling a region's gaps costs
 * O(log n + ranges it meets) instead of QEMU's linear scan with memmove.
 */
export function renderFlatView(root: MemoryRegion | null): FlatView {
  if (!root) return new FlatView(null, []);
  const tree = new BTree<bigint, FlatRange>(undefined, compareBig);
  renderRegion(tree, root, 0n, 0n, U64_SPAN, false, false, false);
  return new FlatView(root, simplify([...tree.values()]));
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
  base += mr.addr;
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
  for (let i = children.length - 1; i >= 0; i--) renderRegion(view, children[i]!, base, start, end, readonly, nonvolatile, unmergeable);

  if (!mr.terminates) return;

  // Fill every part of [start, end) that no earlier renderer claimed.
  const insert = (from: bigint, to: bigint): void => {
    view.set(from, {
      mr,
      offsetInRegion: from - base,
      start: from,
      size: to - from,
      romdMode: mr.romdMode,
      readonly,
      nonvolatile,
      unmergeable,
      dirtyLogMask: 0,
    });
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

/** memory.c:can_merge. */
function canMerge(a: FlatRange, b: FlatRange): boolean {
  return (
    a.start + a.size === b.start &&
    a.mr === b.mr &&
    a.offsetInRegion + a.size === b.offsetInRegion &&
    a.dirtyLogMask === b.dirtyLogMask &&
    a.romdMode === b.romdMode &&
    a.readonly === b.readonly &&
    a.nonvolatile === b.nonvolatile &&
    !a.unmergeable &&
    !b.unmergeable
  );
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
      out.push({ ...r });
    }
    prev = r;
  }
  return out;
}
