import { flatRangeEqual, type FlatRange, type FlatView } from './flat-view.ts';
import type { ViewPatch } from './view-patch.ts';

export type TopologyEvent = 'region-add' | 'region-del' | 'region-nop';
export type TopologySink = (event: TopologyEvent, fr: FlatRange) => void;

/**
 * memory.c:address_space_update_topology_pass over two sorted runs of ranges: the delete pass
 * (`adding` false) or the add pass, which reports unchanged ranges as nops when `nops` is set.
 */
function pass(
  olds: readonly FlatRange[],
  news: readonly FlatRange[],
  adding: boolean,
  nops: boolean,
  sink: TopologySink,
): void {
  let io = 0;
  let inew = 0;
  while (io < olds.length || inew < news.length) {
    const fo = olds[io];
    const fn = news[inew];
    if (fo && (!fn || fo.start < fn.start || (fo.start === fn.start && !flatRangeEqual(fo, fn)))) {
      if (!adding) sink('region-del', fo);
      io++;
    } else if (fo && fn && flatRangeEqual(fo, fn)) {
      if (adding && nops) sink('region-nop', fn);
      io++;
      inew++;
    } else {
      if (adding) sink('region-add', fn!);
      inew++;
    }
  }
}

/** address_space_set_flatview's two passes from an old view to a different new one. */
export function diffViews(
  olds: readonly FlatRange[],
  news: readonly FlatRange[],
  nops: boolean,
  sink: TopologySink,
): void {
  pass(olds, news, false, nops, sink);
  pass(olds, news, true, nops, sink);
}

/**
 * The same events for a view patched in place: outside the patch's slices the old and new ranges
 * are the same, so the full diff is the slices' diffs, with every range between them a nop. Costs
 * O(changed) when no listener takes nops.
 */
export function diffPatch(news: readonly FlatRange[], patch: ViewPatch, nops: boolean, sink: TopologySink): void {
  for (const s of patch.slices) pass(s.removed, s.added, false, nops, sink);
  let i = 0;
  for (const s of patch.slices) {
    if (nops) for (; i < s.at; i++) sink('region-nop', news[i]!);
    pass(s.removed, s.added, true, nops, sink);
    i = s.at + s.added.length;
  }
  if (nops) for (; i < news.length; i++) sink('region-nop', news[i]!);
}

/**
 * What an address space's listeners see when its view goes from `old` to `view`: the patch's events
 * when the view was patched in place, else a full diff from the old ranges (`previous` when the old
 * view was patched meanwhile). The same object without a patch is QEMU's shared empty view: nothing.
 */
export function topologyEvents(
  old: FlatView,
  view: FlatView,
  patch: ViewPatch | null,
  previous: readonly FlatRange[] | undefined,
  nops: boolean,
  sink: TopologySink,
): void {
  if (old !== view) diffViews(previous ?? old.ranges, view.ranges, nops, sink);
  else if (patch) diffPatch(view.ranges, patch, nops, sink);
}
