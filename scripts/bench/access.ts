// The access benchmark: vdm's AddressSpace against a direct call (handlers called with their
// offsets, RAM as a bare Uint32Array) and against the real v86 (npm `v86`: its mmap_read32 /
// mmap_write32 MMIO dispatch and its wasm read32s / write32), same handlers, same streams. Each
// (size, strategy) runs in its own process, from the esbuild bundle as dist/ ships (under tsx every
// imported binding costs a call); every process checksums its answers and a mismatch stops the run.
// V8 logs its optimisations and deoptimisations to a file per process, so a round during which any
// code was deoptimised or recompiled is known.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import {
  ACCESS_STRATEGIES,
  STREAM,
  STREAMS,
  runs,
  type AccessStrategy,
  type Op,
  type StreamName,
} from './access-streams.ts';
import { recordNicTrace } from './nic-trace.ts';
import type { ChildResult } from './access-child.ts';
import type { Progress } from './output.ts';

export interface AccessOptions {
  sizes: number[];
  /** CPU ms per round of each (stream, op). */
  ms: number;
  rounds: number;
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
  /** Per strategy, over its timed rounds: deoptimisations and finished optimisations. */
  codeEvents: Partial<Record<AccessStrategy, { deopts: number; opts: number }>>;
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

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/vdm-bench/', import.meta.url));

/** Bundles the child once into node_modules/.cache (so `v86` still resolves from there). */
function bundleChild(): string {
  const dir = CACHE;
  mkdirSync(dir, { recursive: true });
  const out = `${dir}access-child.mjs`;
  buildSync({
    entryPoints: [fileURLToPath(new URL('./access-child.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['v86'],
    outfile: out,
    logLevel: 'error',
  });
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function spread(ns: number[]): Spread {
  const s = [...ns].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

export function runAccess(
  opts: AccessOptions,
  progress: Progress,
  onRow: (row: AccessRow) => void,
): { rows: AccessRow[]; summaries: AccessSummary[] } {
  const child = bundleChild();
  const trace = `${CACHE}nic-trace.json`;
  writeFileSync(trace, JSON.stringify(recordNicTrace(STREAM)));
  const codeLog = `${CACHE}code-${process.pid}.log`;
  const rows: AccessRow[] = [];
  const summaries: AccessSummary[] = [];
  for (const n of opts.sizes) {
    const results = new Map<AccessStrategy, ChildResult>();
    for (const strategy of ACCESS_STRATEGIES) {
      if (!STREAMS.some((s) => runs(strategy, s, n))) continue;
      progress.step(`access: ${n} regions, ${strategy}`);
      rmSync(codeLog, { force: true });
      const r = spawnSync(
        process.execPath,
        [
          '--expose-gc',
          '--trace-opt',
          '--trace-deopt',
          '--redirect-code-traces',
          `--redirect-code-traces-to=${codeLog}`,
          child,
          JSON.stringify({ n, strategy, ms: opts.ms, rounds: opts.rounds, trace, codeLog }),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      rmSync(codeLog, { force: true });
      const last = r.stdout.trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !last.startsWith('{'))
        throw new Error(
          `access benchmark, ${n} regions, ${strategy}: ` +
            `${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.status}`}`,
        );
      results.set(strategy, JSON.parse(last) as ChildResult);
    }
    summaries.push({
      regions: n,
      heapPerRegion: results.get('vdm')?.heapPerRegion,
      ramBlock4k: results.get('vdm')?.ramBlock4k,
      setupMs: Object.fromEntries([...results].map(([s, r]) => [s, r.setupMs])),
    });
    const direct = results.get('direct')!;
    for (const d of direct.rows) {
      const row: AccessRow = {
        regions: n,
        stream: d.stream,
        op: d.op,
        ns: {},
        vdmToDirect: 0,
        noisy: [],
        deopt: [],
        codeEvents: {},
      };
      for (const [strategy, res] of results) {
        const mine = res.rows.find((x) => x.stream === d.stream && x.op === d.op);
        if (!mine) continue;
        // The cross-check: the same answers (reads) or the same state after (writes) as the direct call.
        if (mine.checksum !== d.checksum)
          throw new Error(
            `access benchmark, ${n} regions, ${d.stream} ${d.op}: ${strategy} answered differently from the ` +
              `direct call (checksum ${mine.checksum} vs ${d.checksum})`,
          );
        const s = spread(mine.ns);
        row.ns[strategy] = s;
        if (s.max > s.median * (1 + NOISE) || s.min < s.median * (1 - NOISE)) row.noisy.push(strategy);
        const ev = { deopts: sum(mine.deopts), opts: sum(mine.opts) };
        row.codeEvents[strategy] = ev;
        if (ev.deopts || ev.opts) row.deopt.push(strategy);
      }
      row.vdmToDirect = row.ns.vdm!.median / row.ns.direct!.median;
      if (row.ns.v86) row.vdmToV86 = row.ns.vdm!.median / row.ns.v86.median;
      rows.push(row);
      onRow(row);
    }
  }
  return { rows, summaries };
}
