// One process per (size, strategy, stream, op) of the access benchmark, so the loop it times and
// the code that loop reaches (vdm's read or write, v86's dispatch, the handlers) carry only that
// stream's type feedback: nothing that ran before in the process can change what is compiled. It
// checks its answers first (a checksum from the same fresh state in every process; the parent
// compares them), warms the loop up until V8 stops compiling and deoptimising, collects garbage,
// then times the rounds, counting V8's code events and garbage collections during each (a round
// with code events is timed again, a bounded number of times).
// Usage (from access.ts): access-child.mjs '{"n":1000,"strategy":"vdm","stream":"mmio-seq","op":"read",...}'
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { layout, ramBlockCost, vdmMachine, v86Machine, RAM_BASE, WIDE_RAM, type V86Cpu } from './access-layout.ts';
import {
  STREAM,
  body,
  makeStream,
  type AccessStrategy,
  type Op,
  type Stream,
  type StreamName,
} from './access-streams.ts';
import { CodeEvents } from './code-events.ts';
import type { NicTrace } from './nic-trace.ts';
import type { AddressSpace, RamBlock } from '../../src/memory/index.ts';

export interface ChildArgs {
  n: number;
  strategy: AccessStrategy;
  stream: StreamName;
  op: Op;
  /** CPU ms per round (and per warm-up slice). */
  ms: number;
  rounds: number;
  /** Also measure vdm's heap per region and a 4 KiB RAM block's cost. */
  memory?: boolean;
  /** The recorded NIC trace (JSON of a NicTrace), for the nic-trace stream. */
  trace?: string;
  /** Where V8 writes its --trace-opt/--trace-deopt lines (see code-events.ts). */
  codeLog?: string;
}

export interface ChildResult {
  n: number;
  strategy: AccessStrategy;
  stream: StreamName;
  op: Op;
  setupMs: number;
  /** vdm, with `memory`: heap bytes per region of the built machine (tree, views, dispatch). */
  heapPerRegion?: number;
  /** vdm, with `memory`: bytes a written 4 KiB RAM block costs. */
  ramBlock4k?: number;
  checksum: number;
  /** Warm-up slices run before V8 stopped compiling (or gave up at the limit). */
  warmupSlices: number;
  /** ns per access, one per round. */
  ns: number[];
  /** Per round: deoptimisations and optimised code installed (any function), and garbage collections. */
  deopts: number[];
  opts: number[];
  gcs: number[];
  /** Per round: times the kernel took the CPU away from this process (involuntary context switches). */
  preempted: number[];
  /** Rounds timed again because V8 compiled or deoptimised code during them. */
  redone: number;
}

const CHECKED = 4096;
/** Warm-up: at least this many slices, then until two in a row pass with no code event, at most the limit. */
const WARMUP_MIN = 3;
const WARMUP_MAX = 40;
const args = JSON.parse(process.argv[2]!) as ChildArgs;

interface Ctx extends Stream {
  as: AddressSpace | null;
  cpu: V86Cpu | null;
  M: Uint32Array;
  R: ((o: number, s: number) => number)[];
  W: ((o: number, v: number, s: number) => void)[];
}
type Loop = (c: Ctx, from: number, to: number) => number;

const gc = (globalThis as { gc?: () => void }).gc;
const t0 = performance.now();
const l = layout(args.n);
const initial = l.state.slice();
const layoutMs = performance.now() - t0;
// vdm's heap only: the handlers and their registers are the benchmark's device state (the GC is not setup).
if (args.memory) gc?.();
const heap0 = process.memoryUsage().heapUsed;
const t1 = performance.now();
let as: AddressSpace | null = null;
let ram: RamBlock | null = null;
let cpu: V86Cpu | null = null;
if (args.strategy === 'vdm') ({ as, ram } = vdmMachine(l));
if (args.strategy === 'v86') cpu = await v86Machine(l);
// Only the direct call reads RAM from a bare array; the others have their own.
const M = new Uint32Array(args.strategy === 'direct' ? WIDE_RAM / 4 : 0);
if (as) as.read(RAM_BASE, 4); // compile the dispatch now, so it is part of setup
const setupMs = layoutMs + performance.now() - t1;
if (args.memory) gc?.();
const heapPerRegion = as && args.memory ? (process.memoryUsage().heapUsed - heap0) / args.n : undefined;

/** RAM's word i before each check, the same in every strategy. */
const initialWord = (i: number) => Math.imul(i + 1, 0x9e3779b1) >>> 0;

/**
 * The same fresh state for every strategy before the check: handler registers, and each RAM word
 * the stream reaches written (so its page is there before timing starts); the rest of RAM is zero
 * in every strategy, and an MMIO stream touches none of it.
 */
function reset(stream: Stream): void {
  l.state.set(initial);
  for (let i = 0; i < STREAM; i++) {
    if (stream.H[i]! >= 0) continue;
    const w = stream.O[i]!;
    const v = initialWord(w);
    if (ram) ram.write(w * 4, v, 4);
    else if (cpu) cpu.mem32s[RAM_BASE / 4 + w] = v | 0;
    else M[w] = v;
  }
}

function ramWord(addr: number): number {
  if (ram) return ram.read(addr - RAM_BASE, 4);
  if (cpu) return cpu.mem32s[addr >>> 2]! >>> 0;
  return M[(addr - RAM_BASE) / 4]!;
}

const fold = (h: number, v: number) => Math.imul(h ^ (v >>> 0), 16777619) >>> 0;

function checksum(loop: Loop, c: Ctx, op: Op): number {
  reset(c);
  let h = 2166136261;
  if (op !== 'write') for (let i = 0; i < CHECKED; i++) h = fold(h, loop(c, i, i + 1));
  else loop(c, 0, CHECKED);
  if (op === 'read') return h;
  for (let i = 0; i < l.state.length; i++) h = fold(h, l.state[i]!);
  for (let i = 0; i < CHECKED; i++) if (c.H[i]! < 0) h = fold(h, ramWord(c.A[i]!));
  return h;
}

/**
 * Runs `loop` for about `ms` of this process's CPU time (the machine may be shared: CPU time leaves
 * out the time other processes ran), in chunks grown to half a millisecond, continuing the stream
 * where the last call stopped (so a slow stream's rounds do not all replay its first accesses).
 */
function timeLoop(loop: Loop, c: Ctx, ms: number, cursor: { chunk: number; pos: number }): number {
  let accesses = 0;
  let sink = 0;
  const start = process.cpuUsage();
  let used = 0;
  while (used < ms * 1000) {
    const from = cursor.pos;
    const to = Math.min(from + cursor.chunk, STREAM);
    const before = used;
    sink ^= loop(c, from, to);
    accesses += to - from;
    cursor.pos = to % STREAM; // no branch first taken after the warm-up (a deopt in a timed round)
    const u = process.cpuUsage(start);
    used = u.user + u.system;
    if (used - before < 500 && cursor.chunk < STREAM) cursor.chunk *= 2;
  }
  if (sink === 0.5) console.error(sink); // keeps the result alive
  return (used * 1e3) / accesses;
}

const trace = args.trace ? (JSON.parse(readFileSync(args.trace, 'utf8')) as NicTrace) : undefined;
// Compiled from source so the loop's body is the strategy's accesses inline, nothing else.
const loop = new Function(
  'c',
  'from',
  'to',
  `// ${args.strategy} ${args.stream} ${args.op}\nconst { as, cpu, M, R, W, A, H, O, K, V } = c;\nlet s = 0;\n` +
    `for (let i = from; i < to; i++) ${body(args.strategy, args.stream, args.op)}\nreturn s;`,
) as Loop;
const c: Ctx = { ...makeStream(l, args.stream, trace), as, cpu, M, R: l.read, W: l.write };
const sum = checksum(loop, c, args.op);

const cursor = { chunk: 64, pos: 0 };
const events = new CodeEvents(args.codeLog);
let warmupSlices = 0;
for (let quiet = 0; warmupSlices < WARMUP_MIN || (quiet < 2 && warmupSlices < WARMUP_MAX); warmupSlices++) {
  timeLoop(loop, c, args.ms, cursor);
  const e = events.take();
  quiet = e.deopts === 0 && e.opts === 0 ? quiet + 1 : 0;
}
gc?.();
events.take();

// Garbage collections are reported after the fact; each round's [start, end) attributes them.
const gcTimes: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcTimes.push(e.startTime);
});
observer.observe({ entryTypes: ['gc'] });
const ns: number[] = [];
const deopts: number[] = [];
const opts: number[] = [];
const spans: [number, number][] = [];
const preempted: number[] = [];
// A round during which V8 compiled or deoptimised something timed that too: it is run again, up to
// as many extra rounds as there are rounds; what is left is reported (and flagged by the parent).
let redone = 0;
while (ns.length < args.rounds) {
  const from = performance.now();
  const switches = process.resourceUsage().involuntaryContextSwitches;
  const t = timeLoop(loop, c, args.ms, cursor);
  const e = events.take();
  if ((e.deopts || e.opts) && redone < args.rounds) {
    redone++;
    continue;
  }
  ns.push(t);
  preempted.push(process.resourceUsage().involuntaryContextSwitches - switches);
  spans.push([from, performance.now()]);
  deopts.push(e.deopts);
  opts.push(e.opts);
}
await new Promise((resolve) => setTimeout(resolve, 10));
observer.disconnect();
const gcs = spans.map(([a, b]) => gcTimes.filter((t) => t >= a && t < b).length);
const ramBlock4k = as && args.memory ? ramBlockCost(1000) : undefined;
const result: ChildResult = {
  n: args.n,
  strategy: args.strategy,
  stream: args.stream,
  op: args.op,
  setupMs,
  heapPerRegion,
  ramBlock4k,
  checksum: sum,
  warmupSlices,
  ns,
  deopts,
  opts,
  gcs,
  preempted,
  redone,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
