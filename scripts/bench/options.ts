// Command-line options of `npm run bench`, checked so a typo is an error naming it, not a silent default.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PATHS, type PathName } from './tree.ts';
import { STRATEGIES, type DispatchOptions, type Op, type Order, type Strategy } from './dispatch.ts';
import type { AccessOptions } from './access.ts';
import { STREAMS as ACCESS_STREAMS, type StreamName } from './access-streams.ts';
import type { DmaOptions } from './dma.ts';
import { DMA_CASES } from './dma-child.ts';

const MACHINES = readdirSync(fileURLToPath(new URL('../../machines/', import.meta.url)))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5));

export const PHASES = ['access', 'dispatch', 'render', 'boot', 'dma'] as const;
export type Phase = (typeof PHASES)[number];

export const USAGE = `usage: npm run bench [-- options]
  --only LIST          phases to run: ${PHASES.join(',')} (default: all)
  --access-sizes LIST  access benchmark sizes in MMIO regions (default 10,1000,10000,100000)
  --access-streams L   access benchmark streams: ${ACCESS_STREAMS.join(',')} (default: all)
  --rounds N           access and DMA benchmark rounds, median and spread reported (default 5)
  --access-procs N     access benchmark processes per cell, rounds pooled (default 2; --quick 1)
  --access-ms N        access benchmark CPU ms per stream and round (default 20)
  --sizes LIST         dispatch tree sizes in regions (default 10,100,1000,10000,100000)
  --paths LIST         ${PATHS.join(',')} (default: all)
  --strategies LIST    ${STRATEGIES.filter((s) => s !== 'direct').join(',')} (default: all; the direct call always runs)
  --streams LIST       sequential,random (default: both)
  --ops LIST           read,write (default: both)
  --seconds N          time per strategy for each dispatch row (default 0.04)
  --render-sizes LIST  render benchmark tree sizes (default 100,1000,10000,100000)
  --devices LIST       boot-scale device counts (default 1,16,64,256)
  --boot-machines LIST machines for the boot-scale runs (default pseries,q35)
  --dma-cases LIST     DMA benchmark IOMMU set-ups: ${DMA_CASES.join(',')} (default: all)
  --dma-ms N           DMA benchmark CPU ms per strategy and round (default 40)
  --quick              small sizes and short runs, to try the harness (access: 1000 regions only)
  --out DIR            where results go (default bench-results)`;

export interface BenchOptions {
  help: boolean;
  phases: Phase[];
  access: AccessOptions;
  dispatch: DispatchOptions;
  renderSizes: number[];
  devices: number[];
  bootMachines: string[];
  dma: DmaOptions;
  out: string;
}

function list<T extends string>(
  flag: string,
  text: string | undefined,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  if (text === undefined) return [...fallback];
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((s) => !allowed.includes(s as T));
  if (bad.length || items.length === 0)
    throw new Error(
      `--${flag}: ${bad.length ? `unknown ${bad.map((b) => `'${b}'`).join(', ')}` : 'empty list'}; choose ` +
        `from ${allowed.join(', ')}`,
    );
  return items as T[];
}

function counts(flag: string, text: string | undefined, fallback: number[], max: number): number[] {
  if (text === undefined) return fallback;
  const items = text.split(',').map((s) => s.trim());
  for (const s of items) {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > max)
      throw new Error(`--${flag}: '${s}' is not a whole number from 1 to ${max}`);
  }
  return items.map(Number);
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      only: { type: 'string' },
      sizes: { type: 'string' },
      'access-sizes': { type: 'string' },
      'access-streams': { type: 'string' },
      'access-procs': { type: 'string' },
      rounds: { type: 'string' },
      'access-ms': { type: 'string' },
      paths: { type: 'string' },
      strategies: { type: 'string' },
      streams: { type: 'string' },
      ops: { type: 'string' },
      seconds: { type: 'string' },
      'render-sizes': { type: 'string' },
      devices: { type: 'string' },
      'boot-machines': { type: 'string' },
      'dma-cases': { type: 'string' },
      'dma-ms': { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const seconds = values.seconds === undefined ? (quick ? 0.01 : 0.04) : Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60))
    throw new Error(`--seconds: '${values.seconds}' is not a duration in seconds (0 < N <= 60)`);
  return {
    help: values.help === true,
    phases: list('only', values.only, PHASES, PHASES),
    access: {
      // A process per (size, stream, op, strategy): --quick keeps one size to stay near 20 s.
      sizes: counts('access-sizes', values['access-sizes'], quick ? [1000] : [10, 1000, 10000, 100000], 1_000_000),
      streams: list<StreamName>('access-streams', values['access-streams'], ACCESS_STREAMS, ACCESS_STREAMS),
      rounds: counts('rounds', values.rounds, [5], 100)[0]!,
      procs: counts('access-procs', values['access-procs'], [quick ? 1 : 2], 20)[0]!,
      ms: counts('access-ms', values['access-ms'], [quick ? 6 : 20], 10_000)[0]!,
    },
    dispatch: {
      sizes: counts('sizes', values.sizes, quick ? [1000] : [10, 100, 1000, 10000, 100000], 1_000_000),
      paths: list<PathName>('paths', values.paths, PATHS, PATHS),
      strategies: list<Strategy>('strategies', values.strategies, STRATEGIES, STRATEGIES),
      orders: list<Order>('streams', values.streams, ['sequential', 'random'], ['sequential', 'random']),
      ops: list<Op>('ops', values.ops, ['read', 'write'], ['read', 'write']),
      seconds,
    },
    renderSizes: counts(
      'render-sizes',
      values['render-sizes'],
      quick ? [100, 1000] : [100, 1000, 10000, 100000],
      1_000_000,
    ),
    // --quick boots one farm size per machine and mode: each boot is a process of its own (~1 s).
    devices: counts('devices', values.devices, quick ? [4] : [1, 16, 64, 256], 256),
    bootMachines: list('boot-machines', values['boot-machines'], MACHINES, ['pseries', 'q35']),
    dma: {
      cases: list('dma-cases', values['dma-cases'], DMA_CASES, DMA_CASES),
      rounds: counts('rounds', values.rounds, [5], 100)[0]!,
      ms: counts('dma-ms', values['dma-ms'], [quick ? 10 : 40], 10_000)[0]!,
    },
    out: values.out ?? 'bench-results',
  };
}
