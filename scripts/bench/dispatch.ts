// Dispatch throughput: one address stream per (path, order), served side by side in the same run
// by the AddressSpace, a direct call of the handler, and the three baseline designs. Every strategy
// is checked against the direct call before it is timed, so a fast wrong answer cannot win.
import { buildTree, PATH_SPAN, TREE_BASE, UNIT_SIZE, type BenchTree, type PathName } from './tree.ts';
import { BinarySearch, BlockTable, FlatTable, LinearScan } from './baselines.ts';
import type { Progress } from './output.ts';
import { rng } from './rng.ts';

export const STRATEGIES = ['direct', 'addressSpace', 'linear', 'binary', 'block'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export type Order = 'sequential' | 'random';
export type Op = 'read' | 'write';

export interface DispatchRow {
  regions: number;
  flatRanges: number;
  path: PathName;
  op: Op;
  order: Order;
  /** ns per access for each strategy that ran. */
  ns: Partial<Record<Strategy, number>>;
  /** ns of the strategy ÷ ns of the direct call. */
  ratio: Partial<Record<Strategy, number>>;
}

export interface DispatchOptions {
  sizes: number[];
  paths: PathName[];
  strategies: Strategy[];
  orders: Order[];
  ops: Op[];
  seconds: number;
}

const STREAM = 1 << 16;
/** Accesses of each stream every strategy must answer exactly as the direct call does. */
const CHECKED = 2048;
const ROUNDS = 3;
const POISON = 0x5a5a5a5a;

/** What a compiled loop reads: the stream, the handlers, the strategies' objects. */
export interface LoopContext {
  as: BenchTree['as'];
  A: Float64Array;
  H: Int32Array;
  O: Float64Array;
  R: ((off: number, size: number) => number)[];
  W: ((off: number, value: number, size: number) => void)[];
  L: LinearScan;
  B: BinarySearch;
  K: BlockTable;
}
type Loop = (c: LoopContext, from: number, to: number) => number;

const EXPR: Record<Strategy, Record<Op, string>> = {
  direct: { read: 'R[H[i]](O[i], 4)', write: 'W[H[i]](O[i], i, 4)' },
  addressSpace: { read: 'as.read(A[i], 4)', write: 'as.write(A[i], i, 4)' },
  linear: { read: 'L.read(A[i], 4)', write: 'L.write(A[i], i, 4)' },
  binary: { read: 'B.read(A[i], 4)', write: 'B.write(A[i], i, 4)' },
  block: { read: 'K.read(A[i], 4)', write: 'K.write(A[i], i, 4)' },
};

const loops = new Map<string, Loop>();
/**
 * Each (strategy, path, op, order) gets its own copy of the loop, compiled from source, so the type
 * feedback one collects cannot slow another: a shared loop would see every handler at one call
 * site and make the direct baseline look slower than a direct call is.
 */
function loopFor(strategy: Strategy, path: PathName, op: Op, order: Order): Loop {
  const key = `${strategy}/${path}/${op}/${order}`;
  let loop = loops.get(key);
  if (!loop) {
    const body = op === 'read' ? `s = (s + ${EXPR[strategy][op]}) | 0;` : `${EXPR[strategy][op]};`;
    loop = new Function(
      'c',
      'from',
      'to',
      `// ${key}\nconst { as, A, H, O, R, W, L, B, K } = c;\nlet s = 0;\nfor (let i = from; i < to; i++) ` +
        `${body}\nreturn s;`,
    ) as Loop;
    loops.set(key, loop);
  }
  return loop;
}

/**
 * Aligned dwords of one path: sequential walks a unit's span dword by dword, then the next unit's
 * (a driver going through a ring or a register block); random picks a unit and a dword uniformly
 * (defeats every cache of the last region used). Handler and offset come from the layout, not a lookup.
 */
function makeStream(tree: BenchTree, path: PathName, order: Order): Pick<LoopContext, 'A' | 'H' | 'O'> {
  const span = PATH_SPAN[path];
  const dwords = span.length / 4;
  const rand = rng(path.length * 7919 + (order === 'random' ? 1 : 2));
  const A = new Float64Array(STREAM);
  const H = new Int32Array(STREAM);
  const O = new Float64Array(STREAM);
  for (let i = 0; i < STREAM; i++) {
    const unit = order === 'random' ? Math.floor(rand() * tree.units) : Math.floor(i / dwords) % tree.units;
    const off = (order === 'random' ? Math.floor(rand() * dwords) : i % dwords) * 4;
    const at = tree.handlers[path].locate(unit, off);
    A[i] = TREE_BASE + unit * UNIT_SIZE + span.start + off;
    H[i] = at.handler;
    O[i] = at.offset;
  }
  return { A, H, O };
}

/** The stream of one path and order over `tree`, with every strategy's object. */
export function loopContext(
  tree: BenchTree,
  table: FlatTable,
  block: BlockTable,
  path: PathName,
  order: Order,
): LoopContext {
  const h = tree.handlers[path];
  return {
    as: tree.as,
    ...makeStream(tree, path, order),
    R: h.read as LoopContext['R'],
    W: h.write as LoopContext['W'],
    L: new LinearScan(table),
    B: new BinarySearch(table),
    K: block,
  };
}

/** Runs each strategy against the direct call on the first CHECKED accesses; throws on any difference. */
export function crossCheck(
  c: LoopContext,
  strategies: Strategy[],
  path: PathName,
  op: Op,
  order: Order,
  where: string,
): void {
  const answer = (s: Strategy): Uint32Array => {
    const loop = loopFor(s, path, op, order);
    const out = new Uint32Array(CHECKED);
    if (op === 'read') {
      for (let i = 0; i < CHECKED; i++) out[i] = loop(c, i, i + 1);
      return out;
    }
    // Writes: poison what the stream touches, let the strategy write, read back through the handlers.
    for (let i = 0; i < CHECKED; i++) c.W[c.H[i]!]!(c.O[i]!, POISON, 4);
    loop(c, 0, CHECKED);
    for (let i = 0; i < CHECKED; i++) out[i] = c.R[c.H[i]!]!(c.O[i]!, 4);
    return out;
  };
  const expected = answer('direct');
  for (const s of strategies) {
    if (s === 'direct') continue;
    const got = answer(s);
    const i = got.findIndex((v, k) => v !== expected[k]);
    if (i >= 0) {
      const a = `0x${c.A[i]!.toString(16)}`;
      throw new Error(
        `${where}: ${s} ${op === 'read' ? 'read' : 'left'} 0x${got[i]!.toString(16)} at ${a} (access ${i}) ` +
          `where the direct call ${op === 'read' ? 'read' : 'left'} 0x${expected[i]!.toString(16)}`,
      );
    }
  }
}

/** Runs `loop` over the stream for about `ms`, in chunks grown until one takes half a millisecond. */
function runFor(loop: Loop, c: LoopContext, ms: number, chunk: { size: number }): { accesses: number; ms: number } {
  let accesses = 0;
  let pos = 0;
  let sink = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    const to = Math.min(pos + chunk.size, STREAM);
    const before = t;
    sink ^= loop(c, pos, to);
    accesses += to - pos;
    pos = to === STREAM ? 0 : to;
    t = performance.now();
    if (t - before < 0.5 && chunk.size < STREAM) chunk.size *= 2;
  }
  if (sink === 0.5) console.log(sink); // keeps the result alive
  return { accesses, ms: t - t0 };
}

/** One tree of the dispatch phase: its size, the time to build it, how the block table sees it. */
export interface TreeSummary {
  regions: number;
  flatRanges: number;
  buildMs: number;
  mixedBlocks: number;
  usedBlocks: number;
}

export function runDispatch(
  opts: DispatchOptions,
  progress: Progress,
  onRow: (row: DispatchRow) => void,
): { rows: DispatchRow[]; trees: TreeSummary[] } {
  const rows: DispatchRow[] = [];
  const trees: TreeSummary[] = [];
  for (const size of opts.sizes) {
    progress.update(`dispatch: building ${size} regions`);
    const t0 = performance.now();
    const tree = buildTree(size);
    const buildMs = performance.now() - t0;
    const table = new FlatTable(tree.as.view.ranges);
    const block = new BlockTable(table);
    trees.push({
      regions: tree.regions,
      flatRanges: table.n,
      buildMs,
      mixedBlocks: block.mixedBlocks,
      usedBlocks: block.usedBlocks,
    });
    for (const path of opts.paths)
      for (const order of opts.orders) {
        const c = loopContext(tree, table, block, path, order);
        for (const op of opts.ops) {
          const where = `${tree.regions} regions, ${path} ${op}, ${order}`;
          progress.step(`dispatch: ${where}`);
          const strategies: Strategy[] = ['direct', ...opts.strategies.filter((s) => s !== 'direct')];
          crossCheck(c, strategies, path, op, order, where);
          const total = new Map(strategies.map((s) => [s, { accesses: 0, ms: 0 }]));
          const chunks = new Map(strategies.map((s) => [s, { size: 64 }]));
          const slice = (opts.seconds * 1000) / ROUNDS;
          for (const s of strategies) runFor(loopFor(s, path, op, order), c, slice / 4, chunks.get(s)!); // warm up
          for (let round = 0; round < ROUNDS; round++) {
            // Rotate the order so no strategy always runs first (or right after the slowest one).
            for (let k = 0; k < strategies.length; k++) {
              const s = strategies[(k + round) % strategies.length]!;
              const r = runFor(loopFor(s, path, op, order), c, slice, chunks.get(s)!);
              const t = total.get(s)!;
              t.accesses += r.accesses;
              t.ms += r.ms;
            }
          }
          const ns: DispatchRow['ns'] = {};
          const ratio: DispatchRow['ratio'] = {};
          for (const s of strategies) ns[s] = (total.get(s)!.ms * 1e6) / total.get(s)!.accesses;
          for (const s of strategies) ratio[s] = ns[s]! / ns.direct!;
          const row: DispatchRow = { regions: tree.regions, flatRanges: table.n, path, op, order, ns, ratio };
          rows.push(row);
          onRow(row);
        }
      }
    const counters = tree.as.counters;
    if (counters.invalid !== 0)
      throw new Error(`${tree.regions} regions: ${counters.invalid} accesses were refused as invalid`);
  }
  return { rows, trees };
}
