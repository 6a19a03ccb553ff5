import { flatRangeEqual, type FlatRange, type FlatView } from './flat-view.ts';
import type { AddressSpace } from './address-space.ts';
import { Dispatch, SectionKind } from './dispatch.ts';
import { renderRanges } from './render.ts';
import { diffViews, topologyEvents, type TopologyEvent } from './view-diff.ts';
import type { ViewPatch } from './view-patch.ts';
import { DISPATCH_LIMIT, U64_SPAN } from './constants.ts';
import { VdmError } from '../util/errors.ts';

/** The incremental render disagrees with a render from scratch: a bug in vdm, never in the input. */
export class RenderMismatchError extends VdmError {
  override name = 'RenderMismatchError';
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function describe(r: FlatRange | undefined): string {
  if (!r) return 'nothing';
  const flags = [r.readonly && 'ro', r.nonvolatile && 'nv', r.unmergeable && 'unmergeable', !r.romdMode && 'romd-off']
    .filter(Boolean)
    .join(' ');
  return (
    `[${hex(r.start)}-${hex(r.start + r.size - 1n)}] ` +
    `${r.mr.name}@${hex(r.offsetInRegion)}${flags ? ` ${flags}` : ''}`
  );
}

/** flatRangeEqual, and the dirty-log mask too: a full render must agree on every field. */
function sameRange(a: FlatRange, b: FlatRange): boolean {
  return flatRangeEqual(a, b) && a.dirtyLogMask === b.dirtyLogMask;
}

/** The view must hold exactly what rendering its root from scratch gives. */
function checkView(view: FlatView): void {
  if (!view.root) return;
  const full = renderRanges(view.root, 0n, U64_SPAN);
  const got = view.ranges;
  for (let i = 0; i < Math.max(full.length, got.length); i++) {
    if (got[i] && full[i] && sameRange(got[i]!, full[i]!)) continue;
    throw new RenderMismatchError(
      `incremental render of ${view.root.name}: range ${i} is ${describe(got[i])}, a full render has ` +
        `${describe(full[i])}`,
    );
  }
}

/** Every lookup of the view's dispatch must answer as one compiled from scratch, at every range edge. */
function checkDispatch(as: AddressSpace): void {
  const d = as.dispatch;
  const ref = new Dispatch(as.view.ranges);
  const points = new Set<number>();
  for (const r of as.view.ranges) {
    if (r.start >= BigInt(DISPATCH_LIMIT)) break;
    const s = Number(r.start);
    const e = r.start + r.size >= BigInt(DISPATCH_LIMIT) ? DISPATCH_LIMIT : Number(r.start + r.size);
    for (const p of [s - 1, s, e - 1, e]) if (p >= 0 && p < DISPATCH_LIMIT) points.add(p);
  }
  points.add(0);
  for (const p of points) {
    const a = d.lookup(p);
    const b = ref.lookup(p);
    const got = a === 0 ? 'unassigned' : `${d.secRegion[a]!.name}@${hex(d.offset(a, p))} kind ${d.kind(a)}`;
    const want = b === 0 ? 'unassigned' : `${ref.secRegion[b]!.name}@${hex(ref.offset(b, p))} kind ${ref.kind(b)}`;
    if (got !== want)
      throw new RenderMismatchError(`dispatch of ${as.name} at ${hex(p)}: ${got}, compiled from scratch: ${want}`);
  }
  // Every entry of the flat page index names the MMIO section lookup finds at both ends of its block.
  const { pages } = d;
  const unit = 2 ** d.pageShift;
  for (let k = 0; k < pages.length; k++) {
    const s = pages[k]!;
    if (s === 0) continue;
    const p = k * unit;
    const found = d.lookup(p);
    if (found !== s || d.lookup(p + unit - 1) !== s || d.kind(s) !== SectionKind.Mmio)
      throw new RenderMismatchError(
        `dispatch of ${as.name}: the page index names section ${s} for the block at ${hex(p)}, lookup finds ${found}`,
      );
  }
}

function record(run: (sink: (event: TopologyEvent, fr: FlatRange) => void) => void): string[] {
  const out: string[] = [];
  run((event, fr) => out.push(`${event} ${describe(fr)}`));
  return out;
}

/**
 * The check behind MemorySystemOptions.checkRender, run by a commit after rendering and before it
 * notifies: every view equals a render from scratch, every address space's listeners get (nops
 * included) what a full re-render + address_space_update_topology_pass would send them, and every
 * dispatch answers as a fresh compile.
 */
export function checkCommit(
  spaces: readonly AddressSpace[],
  before: readonly (readonly FlatRange[])[],
  next: readonly FlatView[],
  patchOf: (i: number) => ViewPatch | null,
  previous: readonly (readonly FlatRange[] | undefined)[],
): void {
  for (const view of new Set(next)) checkView(view);
  spaces.forEach((as, i) => {
    const view = next[i]!;
    // From scratch every view is a new object, except QEMU's shared empty view.
    const want =
      as.view === view && view.root === null ? [] : record((sink) => diffViews(before[i]!, view.ranges, true, sink));
    const got = record((sink) => topologyEvents(as.view, view, patchOf(i), previous[i], true, sink));
    const k = want.findIndex((w, j) => got[j] !== w);
    if (k >= 0 || got.length !== want.length) {
      const at = k >= 0 ? k : Math.min(want.length, got.length);
      throw new RenderMismatchError(
        `listener events of ${as.name}, event ${at}: ${got[at] ?? 'none'}, a full re-render gives ` +
          `${want[at] ?? 'none'}`,
      );
    }
  });
}

/** After the commit has published the views: the dispatch half of the check. */
export function checkDispatches(spaces: readonly AddressSpace[]): void {
  const seen = new Set<FlatView>();
  for (const as of spaces) {
    if (seen.has(as.view)) continue;
    seen.add(as.view);
    checkDispatch(as);
  }
}
