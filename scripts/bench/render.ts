// Render and commit cost: what one topology change costs as the tree grows. A change commits a
// transaction (QEMU re-renders every address space's FlatView from scratch and diffs it for the
// listeners), then the first access compiles the new view's dispatch table.
import { MemoryListener } from '../../src/memory/index.ts';
import { buildTree, TREE_BASE, UNIT_SIZE, type BenchTree } from './tree.ts';
import type { Progress } from './output.ts';

export const CHANGES = ['build', 'barMove', 'enableToggle', 'batch1000'] as const;
export type Change = (typeof CHANGES)[number];

export interface RenderRow {
  regions: number;
  flatRanges: number;
  change: Change;
  /** Median over the repetitions: commit (render + listener diff) and dispatch compile, in ms. */
  commitMs: number;
  compileMs: number;
  totalMs: number;
  /** Per change: FlatView renders, listener callbacks (region add/del/nop). */
  renders: number;
  listenerEvents: number;
  repetitions: number;
}

export interface Growth {
  change: Change;
  /** totalMs ≈ c · regions^exponent, least squares over log-log points. */
  exponent: number;
  /** ms per 1 000 regions at the largest size. */
  msPerThousand: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** How many times to repeat a change: enough for a median, few enough for 100k-region trees. */
const repetitionsFor = (regions: number): number => (regions <= 1000 ? 21 : regions <= 10000 ? 9 : 5);

function measure(tree: BenchTree, events: { n: number }, change: () => void): { commitMs: number; compileMs: number; renders: number; listenerEvents: number } {
  const renders0 = tree.mem.stats.renders;
  events.n = 0;
  const t0 = performance.now();
  change();
  const t1 = performance.now();
  void tree.as.dispatch; // what the first access after the change does
  const t2 = performance.now();
  return { commitMs: t1 - t0, compileMs: t2 - t1, renders: tree.mem.stats.renders - renders0, listenerEvents: events.n };
}

function row(tree: BenchTree, change: Change, samples: ReturnType<typeof measure>[]): RenderRow {
  const commitMs = median(samples.map((s) => s.commitMs));
  const compileMs = median(samples.map((s) => s.compileMs));
  return {
    regions: tree.regions,
    flatRanges: tree.as.view.ranges.length,
    change,
    commitMs,
    compileMs,
    totalMs: median(samples.map((s) => s.commitMs + s.compileMs)),
    renders: samples[0]!.renders,
    listenerEvents: samples[0]!.listenerEvents,
    repetitions: samples.length,
  };
}

export function runRender(sizes: number[], progress: Progress, onRow: (row: RenderRow) => void): { rows: RenderRow[]; growth: Growth[] } {
  const rows: RenderRow[] = [];
  for (const size of sizes) {
    progress.step(`render: ${size} regions`);
    const reps = repetitionsFor(size);
    const builds: ReturnType<typeof measure>[] = [];
    let tree!: BenchTree;
    // Building 100 000 regions (10 000 devices with MSI-X) takes seconds: fewer samples there.
    for (let k = 0; k < (size >= 100000 ? 1 : 3); k++) {
      const t0 = performance.now();
      tree = buildTree(size);
      const ms = performance.now() - t0;
      builds.push({ commitMs: ms, compileMs: 0, renders: tree.mem.stats.renders, listenerEvents: 0 });
    }
    // A listener that sees every section, as KVM's and VFIO's do; it only counts.
    const events = { n: 0 };
    const listener = new MemoryListener('bench');
    listener.on('region-add', () => events.n++).on('region-del', () => events.n++).on('region-nop', () => events.n++);
    tree.as.addListener(listener);
    const units = tree.units;
    const mid = Math.floor(units / 2);
    const spare = TREE_BASE + units * UNIT_SIZE; // free space past the last unit
    const home = tree.bars[mid]!.addr;
    const moves: ReturnType<typeof measure>[] = [];
    const toggles: ReturnType<typeof measure>[] = [];
    const batches: ReturnType<typeof measure>[] = [];
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
    for (const r of [row(tree, 'build', builds), row(tree, 'barMove', moves), row(tree, 'enableToggle', toggles), row(tree, 'batch1000', batches)]) {
      rows.push(r);
      onRow(r);
    }
  }
  return { rows, growth: fitGrowth(rows) };
}

/** Least-squares slope of log(totalMs) against log(regions), per change. */
export function fitGrowth(rows: RenderRow[]): Growth[] {
  return CHANGES.flatMap((change) => {
    const pts = rows.filter((r) => r.change === change && r.totalMs > 0);
    if (pts.length < 2) return [];
    const xs = pts.map((r) => Math.log(r.regions));
    const ys = pts.map((r) => Math.log(r.totalMs));
    const mx = xs.reduce((a, b) => a + b) / xs.length;
    const my = ys.reduce((a, b) => a + b) / ys.length;
    const exponent = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    const last = pts[pts.length - 1]!;
    return [{ change, exponent, msPerThousand: (last.totalMs / last.regions) * 1000 }];
  });
}
