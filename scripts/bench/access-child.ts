// One process per (size, strategy) of the access benchmark, so no strategy's type feedback or
// deoptimisation reaches another's loops. It checks its answers first (a checksum per stream, from
// the same fresh state in every process; the parent compares them), then times rotated rounds.
// Usage (from access.ts): access-child.ts '{"n":1000,"strategy":"vdm","ms":40,"rounds":5}'
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { layout, ramBlockCost, vdmMachine, v86Machine, RAM_BASE, RAM_SIZE, type V86Cpu } from './access-layout.ts';
import {
  STREAMS,
  STREAM,
  body,
  makeStream,
  opsOf,
  runs,
  type AccessStrategy,
  type Op,
  type Stream,
  type StreamName,
} from './access-streams.ts';
import type { NicTrace } from './nic-trace.ts';
import type { AddressSpace, RamBlock } from '../../src/memory/index.ts';

interface Args {
  n: number;
  strategy: AccessStrategy;
  ms: number;
  rounds: number;
  /** Only these streams (default: all). */
  streams?: StreamName[];
  /** The recorded NIC trace (JSON of a NicTrace), for the nic-trace stream. */
  trace?: string;
  /** Where V8 writes its --trace-opt/--trace-deopt lines (--redirect-code-traces-to). */
  codeLog?: string;
}

export interface ChildRow {
  stream: StreamName;
  op: Op;
  checksum: number;
  /** ns per access, one per round. */
  ns: number[];
  /** Per round: V8 deoptimisations and finished optimisations (any function) while it was timed. */
  deopts: number[];
  opts: number[];
}

export interface ChildResult {
  n: number;
  strategy: AccessStrategy;
  setupMs: number;
  /** vdm only: heap bytes per region of the built machine (tree, views, dispatch). */
  heapPerRegion?: number;
  /** vdm only: bytes a written 4 KiB RAM block costs. */
  ramBlock4k?: number;
  rows: ChildRow[];
}

const CHECKED = 4096;
const args = JSON.parse(process.argv[2]!) as Args;

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
const initial = l.regs.map((r) => r.slice());
const layoutMs = performance.now() - t0;
// vdm's heap only: the handlers and their registers are the benchmark's device state (the GC is not setup).
gc?.();
const heap0 = process.memoryUsage().heapUsed;
const t1 = performance.now();
let as: AddressSpace | null = null;
let ram: RamBlock | null = null;
let cpu: V86Cpu | null = null;
if (args.strategy === 'vdm') ({ as, ram } = vdmMachine(l));
if (args.strategy === 'v86') cpu = await v86Machine(l);
const M = new Uint32Array(RAM_SIZE / 4);
if (as) as.read(RAM_BASE, 4); // compile the dispatch now, so it is part of setup
const setupMs = layoutMs + performance.now() - t1;
gc?.();
const heapPerRegion = as ? (process.memoryUsage().heapUsed - heap0) / args.n : undefined;

// RAM starts with the same words everywhere, written, so every strategy's pages are really there.
const P = new Uint32Array(RAM_SIZE / 4);
for (let i = 0; i < P.length; i++) P[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0;

/** The same fresh state for every strategy before each check: handler registers and RAM contents. */
function reset(): void {
  l.regs.forEach((r, k) => r.set(initial[k]!));
  ram?.writeFrom(0, new Uint8Array(P.buffer), 0, RAM_SIZE);
  M.set(P);
  cpu?.mem32s.set(new Int32Array(P.buffer), RAM_BASE / 4);
}

function ramWord(addr: number): number {
  if (ram) return ram.read(addr - RAM_BASE, 4);
  if (cpu) return cpu.mem32s[addr >>> 2]! >>> 0;
  return M[(addr - RAM_BASE) / 4]!;
}

const fold = (h: number, v: number) => Math.imul(h ^ (v >>> 0), 16777619) >>> 0;

function checksum(loop: Loop, c: Ctx, op: Op): number {
  reset();
  let h = 2166136261;
  if (op !== 'write') for (let i = 0; i < CHECKED; i++) h = fold(h, loop(c, i, i + 1));
  else loop(c, 0, CHECKED);
  if (op === 'read') return h;
  for (const r of l.regs) for (let i = 0; i < r.length; i++) h = fold(h, r[i]!);
  for (let i = 0; i < CHECKED; i++) if (c.H[i]! < 0) h = fold(h, ramWord(c.A[i]!));
  return h;
}

/**
 * Runs `loop` over the stream for about `ms` of this process's CPU time (the machine may be shared:
 * CPU time leaves out the time other processes ran), in chunks grown to half a millisecond.
 */
function timeLoop(loop: Loop, c: Ctx, ms: number, chunk: { size: number }): number {
  let accesses = 0;
  let pos = 0;
  let sink = 0;
  const start = process.cpuUsage();
  let used = 0;
  while (used < ms * 1000) {
    const to = Math.min(pos + chunk.size, STREAM);
    const before = used;
    sink ^= loop(c, pos, to);
    accesses += to - pos;
    pos = to === STREAM ? 0 : to;
    const u = process.cpuUsage(start);
    used = u.user + u.system;
    if (used - before < 500 && chunk.size < STREAM) chunk.size *= 2;
  }
  if (sink === 0.5) console.error(sink); // keeps the result alive
  return (used * 1e3) / accesses;
}

/** Counts V8's deoptimisations and finished optimisations logged since the last call. */
class CodeEvents {
  private at = 0;
  constructor(private readonly file: string | undefined) {
    this.take();
  }
  take(): { deopts: number; opts: number } {
    if (!this.file) return { deopts: 0, opts: 0 };
    const end = statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
    const buf = Buffer.alloc(end - this.at);
    const fd = openSync(this.file, 'r');
    readSync(fd, buf, 0, buf.length, this.at);
    closeSync(fd);
    this.at = end;
    const text = buf.toString('latin1');
    return { deopts: count(text, '[bailout'), opts: count(text, '[completed optimizing') };
  }
}

function count(text: string, what: string): number {
  let n = 0;
  for (let i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) n++;
  return n;
}

const trace = args.trace ? (JSON.parse(readFileSync(args.trace, 'utf8')) as NicTrace) : undefined;
const work: { stream: StreamName; op: Op; c: Ctx; loop: Loop; chunk: { size: number } }[] = [];
for (const stream of STREAMS) {
  if (!runs(args.strategy, stream, args.n) || (args.streams && !args.streams.includes(stream))) continue;
  const s = makeStream(l, stream, trace);
  for (const op of opsOf(stream)) {
    // Each (stream, op) gets its own loop compiled from source: its own type feedback.
    const src =
      `// ${args.strategy} ${stream} ${op}\nconst { as, cpu, M, R, W, A, H, O, K, V } = c;\nlet s = ` +
      `0;\nfor (let i = from; i < to; i++) ${body(args.strategy, stream, op)}\nreturn s;`;
    const loop = new Function('c', 'from', 'to', src) as Loop;
    work.push({ stream, op, c: { ...s, as, cpu, M, R: l.read, W: l.write }, loop, chunk: { size: 64 } });
  }
}
const rows: ChildRow[] = work.map((w) => ({
  stream: w.stream,
  op: w.op,
  checksum: checksum(w.loop, w.c, w.op),
  ns: [],
  deopts: [],
  opts: [],
}));
for (const w of work) timeLoop(w.loop, w.c, args.ms / 2, w.chunk); // warm up
const events = new CodeEvents(args.codeLog);
for (let round = 0; round < args.rounds; round++) {
  // Rotated, so no stream always runs first or after the same neighbour.
  for (let k = 0; k < work.length; k++) {
    const i = (k + round) % work.length;
    events.take();
    rows[i]!.ns.push(timeLoop(work[i]!.loop, work[i]!.c, args.ms, work[i]!.chunk));
    const e = events.take();
    rows[i]!.deopts.push(e.deopts);
    rows[i]!.opts.push(e.opts);
  }
}
const ramBlock4k = as ? ramBlockCost(1000) : undefined;
const result: ChildResult = { n: args.n, strategy: args.strategy, setupMs, heapPerRegion, ramBlock4k, rows };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
