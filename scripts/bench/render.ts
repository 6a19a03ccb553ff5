// Render and commit cost: what one topology change costs as the tree grows. A change commits a
// transaction, then the first access compiles the view's dispatch table. Both commit modes run on
// the same tree, side by side: 'full' renders every FlatView from scratch and diffs it for the
// listeners (what QEMU does), 'incremental' re-renders only where the change renders and patches.
import { Dispatch, MemoryListener, renderFlatView } from '../../src/memory/index.ts';
import { buildTree, TREE_BASE, UNIT_SIZE, type BenchTree } from './tree.ts';
import type { Progress } from './output.ts';

export const CHANGES = ['build', 'firstRender', 'barMove', 'enableToggle', 'batch1000'] as const;
export type Change = (typeof CHANGES)[number];
export const MODES = ['full', 'incremental'] as const;
export type Mode = (typeof MODES)[number];

export interface RenderRow {
  regions: number;
  flatRanges: number;
  change: Change;
  /** How commits rendered; build and firstRender rows are from scratch. */
  mode: Mode;
  /** Median over the repetitions: commit (render + listener diff) and dispatch compile, in ms. */
  commitMs: number;
  compileMs: number;
  totalMs: number;
  /** Per change: FlatViews rendered from scratch, views patched, listener callbacks (add/del). */
  renders: number;
  patches: number;
  listenerEvents: number;
  repetitions: number;
}

export interface Growth {
  change: Change;
  mode: Mode;
  /** totalMs ≈ c · regions^exponent, least squares over log-log points. */
  exponent: number;
  /** The same for commitMs alone (render + listener events, without the dispatch compile). */
  commitExponent: number;
  /** ms per 1 000 regions at the largest size. */
  msPerThousand: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** How many times to repeat a change: enough for a median, few enough for 100k-region trees. */
const repetitionsFor = (regions: number): number => (regions <= 1000 ? 21 : regions <= 10000 ? 9 : 5);

type Sample = { commitMs: number; compileMs: number; renders: number; patches: number; listenerEvents: number };

function measure(tree: BenchTree, events: { n: number }, change: () => void): Sample {
  const renders0 = tree.mem.stats.renders;
  const patches0 = tree.mem.stats.patches;
  events.n = 0;
  const t0 = performance.now();
  change();
  const t1 = performance.now();
  void tree.as.dispatch; // what the first access after the change does
  const t2 = performance.now();
  return {
    commitMs: t1 - t0,
    compileMs: t2 - t1,
    renders: tree.mem.stats.renders - renders0,
    patches: tree.mem.stats.patches - patches0,
    listenerEvents: events.n,
  };
}

function row(tree: BenchTree, change: Change, mode: Mode, samples: Sample[]): RenderRow {
  const commitMs = median(samples.map((s) => s.commitMs));
  const compileMs = median(samples.map((s) => s.compileMs));
  return {
    regions: tree.regions,
    flatRanges: tree.as.view.ranges.length,
    change,
    mode,
    commitMs,
    compileMs,
    totalMs: median(samples.map((s) => s.commitMs + s.compileMs)),
    renders: samples[samples.length - 1]!.renders,
    patches: samples[samples.length - 1]!.patches,
    listenerEvents: samples[samples.length - 1]!.listenerEvents,
    repetitions: samples.length,
  };
}

export function runRender(
  sizes: number[],
  progress: Progress,
  onRow: (row: RenderRow) => void,
): { rows: RenderRow[]; growth: Growth[] } {
  const rows: RenderRow[] = [];
  const emit = (r: RenderRow): void => {
    rows.push(r);
    onRow(r);
  };
  for (const size of sizes) {
    progress.step(`render: ${size} regions`);
    const reps = repetitionsFor(size);
    const builds: Sample[] = [];
    let tree!: BenchTree;
    // Building 100 000 regions (10 000 devices with MSI-X) takes seconds: fewer samples there.
    for (let k = 0; k < (size >= 100000 ? 1 : 3); k++) {
      const t0 = performance.now();
      tree = buildTree(size);
      const ms = performance.now() - t0;
      builds.push({ commitMs: ms, compileMs: 0, renders: tree.mem.stats.renders, patches: 0, listenerEvents: 0 });
    }
    emit(row(tree, 'build', 'full', builds));
    // The first render + compile of the built tree alone: what a change is compared with.
    const firsts: Sample[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const view = renderFlatView(tree.root);
      const t1 = performance.now();
      void new Dispatch(view.ranges);
      firsts.push({ commitMs: t1 - t0, compileMs: performance.now() - t1, renders: 1, patches: 0, listenerEvents: 0 });
    }
    emit(row(tree, 'firstRender', 'full', firsts));
    // A listener that sees every section added or removed, as KVM's and VFIO's do (neither has a
    // region_nop callback); it only counts.
    const events = { n: 0 };
    const listener = new MemoryListener('bench');
    listener.on('region-add', () => events.n++).on('region-del', () => events.n++);
    tree.as.addListener(listener);
    const units = tree.units;
    const mid = Math.floor(units / 2);
    const spare = TREE_BASE + units * UNIT_SIZE; // free space past the last unit
    const home = tree.bars[mid]!.addr;
    for (const mode of MODES) {
      tree.mem.setIncremental(mode === 'incremental');
      tree.bars[mid]!.setAddress(home); // where the previous mode's moves may have left it
      // Warm-up: the first commit after switching renders from scratch.
      tree.mmioPages[mid]!.setEnabled(false);
      tree.mmioPages[mid]!.setEnabled(true);
      void tree.as.dispatch;
      const moves: Sample[] = [];
      const toggles: Sample[] = [];
      const batches: Sample[] = [];
      for (let k = 0; k < reps; k++) {
        moves.push(measure(tree, events, () => tree.bars[mid]!.setAddress(k % 2 === 0 ? BigInt(spare) : home)));
        toggles.push(measure(tree, events, () => tree.mmioPages[mid]!.setEnabled(k % 2 === 1)));
      }
      for (let k = 0; k < Math.min(reps, 5); k++) {
        // 1 000 changes in one transaction: BAR moves and enable flips spread over the tree.
        batches.push(
          measure(tree, events, () =>
            tree.mem.transaction(() => {
              for (let c = 0; c < 1000; c++) {
                const u = (c * 7919) % units;
                if (c % 2 === 0) tree.mmioPages[u]!.setEnabled(!tree.mmioPages[u]!.enabled);
                else {
                  const bar = tree.bars[u]!;
                  const base = BigInt(TREE_BASE + u * UNIT_SIZE + 0x4000);
                  bar.setAddress(bar.addr === base ? BigInt(spare + 0x10000 + u * 0x4000) : base);
                }
              }
            }),
          ),
        );
      }
      for (const r of [
        row(tree, 'barMove', mode, moves),
        row(tree, 'enableToggle', mode, toggles),
        row(tree, 'batch1000', mode, batches),
      ])
        emit(r);
    }
  }
  return { rows, growth: fitGrowth(rows) };
}

/** Least-squares slope of log(ms) against log(regions). */
function slope(pts: { regions: number; ms: number }[]): number {
  const xs = pts.map((p) => Math.log(p.regions));
  const ys = pts.map((p) => Math.log(p.ms));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  return xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
}

/** Growth of each change's cost with the tree, per commit mode. */
export function fitGrowth(rows: RenderRow[]): Growth[] {
  return CHANGES.flatMap((change) =>
    MODES.flatMap((mode) => {
      const pts = rows.filter((r) => r.change === change && r.mode === mode && r.totalMs > 0 && r.commitMs > 0);
      if (pts.length < 2) return [];
      const last = pts[pts.length - 1]!;
      return [
        {
          change,
          mode,
          exponent: slope(pts.map((r) => ({ regions: r.regions, ms: r.totalMs }))),
          commitExponent: slope(pts.map((r) => ({ regions: r.regions, ms: r.commitMs }))),
          msPerThousand: (last.totalMs / last.regions) * 1000,
        },
      ];
    }),
  );
}
