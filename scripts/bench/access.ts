// The access benchmark: vdm's AddressSpace against a direct call (handlers called with their
// offsets, RAM as a bare Uint32Array) and against the real v86 (npm `v86`: its mmap_read32 /
// mmap_write32 MMIO dispatch and its wasm read32s / write32), same handlers, same streams. Each
// (size, stream, op, strategy) runs in its own process (access-child.ts), from the esbuild bundle
// as dist/ ships (under tsx every imported binding costs a call); the strategies of one stream run
// one after the other, so their ratio is measured close together in time. Every process checksums
// its answers and a mismatch stops the run; V8 logs its optimisations and deoptimisations to a file
// per process, so a round during which any code was deoptimised or recompiled is flagged.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ACCESS_STRATEGIES,
  STREAM,
  opsOf,
  runs,
  type AccessStrategy,
  type Op,
  type StreamName,
} from './access-streams.ts';
import { bundleChild } from './bundle.ts';
import { codeEventFlags } from './code-events.ts';
import { recordNicTrace } from './nic-trace.ts';
import type { ChildArgs, ChildResult } from './access-child.ts';
import type { Progress } from './output.ts';

export interface AccessOptions {
  sizes: number[];
  streams: StreamName[];
  /** CPU ms per round of each (stream, op). */
  ms: number;
  /** Rounds per process. */
  rounds: number;
  /** Processes per (size, stream, op, strategy); their rounds are pooled. */
  procs: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface AccessRow {
  regions: number;
  stream: StreamName;
  op: Op;
  ns: Partial<Record<AccessStrategy, Spread>>;
  /** vdm ÷ direct and vdm ÷ v86, from the medians. */
  vdmToDirect: number;
  vdmToV86?: number;
  /** Strategies whose rounds spread wider than ±20% of their median. */
  noisy: AccessStrategy[];
  /** Strategies during whose timed rounds V8 deoptimised or (re)optimised code. */
  deopt: AccessStrategy[];
  /**
   * Per strategy, over its timed rounds: deoptimisations, optimised code installed, garbage
   * collections, times the process was preempted; rounds timed again because of code events; and
   * the most warm-up slices a process took until V8 stopped compiling.
   */
  codeEvents: Partial<
    Record<
      AccessStrategy,
      { deopts: number; opts: number; gcs: number; preempted: number; redone: number; warmupSlices: number }
    >
  >;
}

export interface AccessSummary {
  regions: number;
  /** Heap bytes per region of vdm's machine (regions, views, dispatch). */
  heapPerRegion?: number;
  /** Bytes a written 4 KiB RAM block costs. */
  ramBlock4k?: number;
  setupMs: Partial<Record<AccessStrategy, number>>;
}

const NOISE = 0.2;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function spread(ns: number[]): Spread {
  const s = [...ns].sort((a, b) => a - b);
  const h = s.length >> 1;
  return { median: s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

/**
 * Whether a stream is measured at n regions of `sizes`. ram-wide never reaches a region, so what it
 * costs does not depend on how many there are: it runs at one size, the one nearest 1 000 regions,
 * which keeps the full run within its 5 minutes.
 */
function measuredAt(stream: StreamName, n: number, sizes: number[]): boolean {
  if (stream !== 'ram-wide') return true;
  const distance = (s: number) => Math.abs(Math.log(s / 1000));
  return n === sizes.reduce((best, s) => (distance(s) < distance(best) ? s : best));
}

/** The processes runAccess starts (for the progress line). */
export function accessSteps(opts: AccessOptions): number {
  return (
    opts.procs *
    opts.sizes.reduce(
      (total, n) =>
        total +
        opts.streams.reduce(
          (k, stream) =>
            measuredAt(stream, n, opts.sizes)
              ? k + opsOf(stream).length * ACCESS_STRATEGIES.filter((s) => runs(s, stream, n)).length
              : k,
          0,
        ),
      0,
    )
  );
}

function runChild(child: string, args: ChildArgs): ChildResult {
  const what = `access benchmark, ${args.n} regions, ${args.stream} ${args.op}, ${args.strategy}`;
  rmSync(args.codeLog!, { force: true });
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', ...codeEventFlags(args.codeLog!), child, JSON.stringify(args)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  rmSync(args.codeLog!, { force: true });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{'))
    throw new Error(`${what}: ${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.status}`}`);
  return JSON.parse(last) as ChildResult;
}

export function runAccess(
  opts: AccessOptions,
  progress: Progress,
  onRow: (row: AccessRow) => void,
): { rows: AccessRow[]; summaries: AccessSummary[] } {
  const child = bundleChild('access-child', ['v86']); // v86 resolves from node_modules
  const trace = join(dirname(child), 'nic-trace.json');
  if (opts.streams.includes('nic-trace')) writeFileSync(trace, JSON.stringify(recordNicTrace(STREAM)));
  const codeLog = join(dirname(child), `code-${process.pid}.log`);
  const rows: AccessRow[] = [];
  const summaries: AccessSummary[] = [];
  for (const n of opts.sizes) {
    const summary: AccessSummary = { regions: n, setupMs: {} };
    summaries.push(summary);
    for (const stream of opts.streams) {
      if (!measuredAt(stream, n, opts.sizes)) continue;
      for (const op of opsOf(stream)) {
        const row: AccessRow = {
          regions: n,
          stream,
          op,
          ns: {},
          vdmToDirect: 0,
          noisy: [],
          deopt: [],
          codeEvents: {},
        };
        let reference: ChildResult | undefined;
        const results = new Map<AccessStrategy, ChildResult[]>();
        // Strategies alternate, pass after pass, so each sees the machine in the same states.
        for (let pass = 0; pass < opts.procs; pass++) {
          for (const strategy of ACCESS_STRATEGIES) {
            if (!runs(strategy, stream, n)) continue;
            progress.step(`access: ${n} regions, ${stream} ${op}, ${strategy}`);
            const r = runChild(child, {
              n,
              strategy,
              stream,
              op,
              ms: opts.ms,
              rounds: opts.rounds,
              memory: summary.setupMs[strategy] === undefined,
              trace: stream === 'nic-trace' ? trace : undefined,
              codeLog,
            });
            summary.setupMs[strategy] ??= r.setupMs;
            summary.heapPerRegion ??= r.heapPerRegion;
            summary.ramBlock4k ??= r.ramBlock4k;
            reference ??= r;
            // The cross-check: the same answers (reads) or the same state after (writes) as the first process.
            if (r.checksum !== reference.checksum)
              throw new Error(
                `access benchmark, ${n} regions, ${stream} ${op}: ${strategy} answered differently from ` +
                  `${reference.strategy} (checksum ${r.checksum} vs ${reference.checksum})`,
              );
            results.set(strategy, [...(results.get(strategy) ?? []), r]);
          }
        }
        for (const [strategy, rs] of results) {
          const s = spread(rs.flatMap((r) => r.ns));
          row.ns[strategy] = s;
          if (s.max > s.median * (1 + NOISE) || s.min < s.median * (1 - NOISE)) row.noisy.push(strategy);
          const total = (f: (r: ChildResult) => number[]) => sum(rs.flatMap(f));
          const ev = {
            deopts: total((r) => r.deopts),
            opts: total((r) => r.opts),
            gcs: total((r) => r.gcs),
            preempted: total((r) => r.preempted),
            redone: sum(rs.map((r) => r.redone)),
            warmupSlices: Math.max(...rs.map((r) => r.warmupSlices)),
          };
          row.codeEvents[strategy] = ev;
          if (ev.deopts || ev.opts) row.deopt.push(strategy);
        }
        row.vdmToDirect = row.ns.vdm!.median / row.ns.direct!.median;
        if (row.ns.v86) row.vdmToV86 = row.ns.vdm!.median / row.ns.v86.median;
        rows.push(row);
        onRow(row);
      }
    }
  }
  return { rows, summaries };
}
