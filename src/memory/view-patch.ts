import { PackedFlatRange, type FlatRange, type FlatView } from './flat-view.ts';
import { canMerge, continuous, renderRanges } from './render.ts';

/** One run of a view's ranges replaced by a commit. */
export interface PatchSlice {
  /** Index of the first added range in the patched view. */
  at: number;
  removed: readonly FlatRange[];
  added: readonly FlatRange[];
}

/** What an incremental render changed in a view. */
export interface ViewPatch {
  /** Ascending, disjoint. */
  slices: readonly PatchSlice[];
  /** [start, end) address intervals holding every replaced range, ascending and disjoint. */
  changed: readonly (readonly [bigint, bigint])[];
}

/** The patch of a view whose root nothing touched. */
export const NO_CHANGE: ViewPatch = { slices: [], changed: [] };

interface Replacement {
  /** Old ranges [i0, i1) covering exactly the addresses of [a, b) that were mapped. */
  i0: number;
  i1: number;
  a: bigint;
  b: bigint;
  added: FlatRange[];
}

const endOf = (r: FlatRange): bigint => r.start + r.size;

/** Index of the first range starting at or after addr. */
function firstStartingAt(ranges: readonly FlatRange[], addr: bigint): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.start < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Unmergeable neighbours that one raw range of a render could span: whether the render made one
 * range or two there cannot be told from either side alone, so the edge moves past them.
 */
function ambiguous(left: FlatRange, right: FlatRange): boolean {
  return continuous(left, right) && left.unmergeable;
}

/**
 * Incremental generate_memory_topology: re-renders the view's root inside `dirty` (ascending,
 * disjoint intervals outside which no render of the root can differ) and patches the view in place,
 * so that it equals a full render + flatview_simplify.
 *
 * A clipped render is the full render's raw ranges cut at the clip edges. Each interval is first
 * widened to whole old ranges, and then across unmergeable neighbours a raw range could continue
 * into; the simplified edge ranges are then merged with their unchanged neighbours where
 * memory.c:can_merge allows. Intervals that come to meet are rendered as one.
 */
export function patchView(view: FlatView, dirty: readonly (readonly [bigint, bigint])[]): ViewPatch {
  const root = view.root;
  if (!root || dirty.length === 0) return NO_CHANGE;
  const ranges = view.ranges;
  const n = ranges.length;
  const done: Replacement[] = [];
  for (const [start, end] of dirty) {
    let a = start;
    let b = end;
    let i0 = view.firstEndingAfter(a);
    if (i0 < n && ranges[i0]!.start < a) a = ranges[i0]!.start;
    let i1 = firstStartingAt(ranges, b);
    if (i1 > i0 && endOf(ranges[i1 - 1]!) > b) b = endOf(ranges[i1 - 1]!);
    let added: FlatRange[];
    for (;;) {
      // Render as one with the previous interval when they share an old range or meet: the old
      // neighbour this edge would look at has been replaced there.
      for (let prev = done[done.length - 1]; prev && (i0 < prev.i1 || a <= prev.b); prev = done[done.length - 1]) {
        done.pop();
        a = prev.a;
        i0 = prev.i0;
        if (prev.b > b) b = prev.b;
        if (prev.i1 > i1) i1 = prev.i1;
      }
      added = renderRanges(root, a, b);
      const left = ranges[i0 - 1];
      if (left && added.length > 0 && ambiguous(left, added[0]!)) {
        a = left.start;
        i0--;
        continue;
      }
      const right = ranges[i1];
      if (right && added.length > 0 && ambiguous(added[added.length - 1]!, right)) {
        b = endOf(right);
        i1++;
        continue;
      }
      break;
    }
    // flatview_simplify across the edges: the unchanged neighbour and the new edge range merge.
    const left = ranges[i0 - 1];
    if (left && added.length > 0 && canMerge(left, added[0]!)) {
      added[0] = PackedFlatRange.of(left, left.size + added[0]!.size);
      a = left.start;
      i0--;
    }
    const right = ranges[i1];
    const last = added.length - 1;
    if (right && last >= 0 && canMerge(added[last]!, right)) {
      added[last] = PackedFlatRange.of(added[last]!, added[last]!.size + right.size);
      b = endOf(right);
      i1++;
    }
    done.push({ i0, i1, a, b, added });
  }
  const removed = view.replace(done.map((r) => ({ from: r.i0, to: r.i1, items: r.added })));
  let shift = 0;
  const slices = done.map((r, k) => {
    const slice = { at: r.i0 + shift, removed: removed[k]!, added: r.added };
    shift += r.added.length - (r.i1 - r.i0);
    return slice;
  });
  return { slices, changed: done.map((r) => [r.a, r.b] as const) };
}
