// MMIO/RAM dispatch throughput through an AddressSpace, beside a direct call of the same handler,
// for trees of 10, 1 000 and 100 000 regions. Ratios are measured side by side in one run.
// Usage: npm run bench [-- --sizes 10,1000 --seconds 0.3]
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MemorySystem, U64_SPAN, type AddressSpace, type RamBlock } from '../src/memory/index.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,1000,100000' }, seconds: { type: 'string', default: '0.3' } } });
const SIZES = values.sizes!.split(',').map(Number);
const SECONDS = Number(values.seconds);
const STREAM = 1 << 16;
const PAGE = 0x1000;

type Pattern = 'random' | 'sequential';

interface Row {
  regions: number;
  pattern: Pattern;
  path: 'ram' | 'mmio';
  op: 'read' | 'write';
  viaAddressSpace: number;
  directCall: number;
  ratio: number;
  renderMs: number;
}

/** N regions, alternating MMIO and RAM pages, so neither merges nor shares a section. */
function build(n: number) {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const regs = new Uint32Array(PAGE / 4);
  const ops = {
    read: (off: number, _size: number) => regs[off >>> 2]!,
    write: (off: number, v: number | bigint, _size: number) => void (regs[off >>> 2] = Number(v)),
  };
  const ramBlocks: RamBlock[] = [];
  const t0 = performance.now();
  mem.transaction(() => {
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) root.addSubregion(i * PAGE, mem.io(`mmio${i}`, PAGE, ops));
      else {
        const r = mem.ram(`ram${i}`, PAGE);
        ramBlocks.push(r.ramBlock!);
        root.addSubregion(i * PAGE, r);
      }
    }
  });
  const as = mem.addressSpace('memory', root);
  as.read(0, 4); // compile the dispatch table
  return { as, ops, ramBlocks, renderMs: performance.now() - t0 };
}

/**
 * Addresses in the regions of one kind: random (defeats the MRU entry, every access is a table
 * lookup) or sequential (dword after dword through a region, then the next: what a driver walking
 * a ring or a register block does).
 */
function stream(n: number, kind: 'ram' | 'mmio', pattern: Pattern): { addrs: Float64Array; offs: Float64Array; idx: Int32Array } {
  const addrs = new Float64Array(STREAM);
  const offs = new Float64Array(STREAM);
  const idx = new Int32Array(STREAM);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const count = kind === 'mmio' ? Math.ceil(n / 2) : Math.floor(n / 2);
  for (let i = 0; i < STREAM; i++) {
    const k = pattern === 'random' ? Math.floor(rand() * count) : Math.floor(i / (PAGE / 4)) % count;
    const region = kind === 'mmio' ? 2 * k : 2 * k + 1;
    const off = pattern === 'random' ? Math.floor(rand() * (PAGE / 4)) * 4 : (i % (PAGE / 4)) * 4;
    addrs[i] = region * PAGE + off;
    offs[i] = off;
    idx[i] = k;
  }
  return { addrs, offs, idx };
}

/** Runs fn(i) in batches until SECONDS elapsed; returns operations per second. */
function measure(fn: (i: number) => number): { rate: number; sum: number } {
  for (let i = 0; i < STREAM; i++) fn(i); // warm up
  let ops = 0;
  let sum = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < SECONDS * 1000) {
    for (let i = 0; i < STREAM; i++) sum = (sum + fn(i)) | 0;
    ops += STREAM;
    elapsed = performance.now() - start;
  }
  return { rate: ops / (elapsed / 1000), sum };
}

function bench(as: AddressSpace, n: number, kind: 'ram' | 'mmio', op: 'read' | 'write', pattern: Pattern, ctx: ReturnType<typeof build>): Row {
  const { addrs, offs, idx } = stream(n, kind, pattern);
  let viaAs: (i: number) => number;
  let direct: (i: number) => number;
  if (kind === 'mmio') {
    const { read, write } = ctx.ops;
    viaAs = op === 'read' ? (i) => as.read(addrs[i]!, 4) : (i) => as.write(addrs[i]!, i, 4);
    direct = op === 'read' ? (i) => read(offs[i]!, 4) : (i) => (write(offs[i]!, i, 4), 0);
  } else {
    const blocks = ctx.ramBlocks;
    viaAs = op === 'read' ? (i) => as.read(addrs[i]!, 4) : (i) => as.write(addrs[i]!, i, 4);
    direct = op === 'read' ? (i) => blocks[idx[i]!]!.read(offs[i]!, 4) : (i) => (blocks[idx[i]!]!.write(offs[i]!, i, 4), 0);
  }
  // A fast wrong answer must not win: one exact pass of each must read the same values.
  if (op === 'read') {
    let sa = 0;
    let sd = 0;
    for (let i = 0; i < STREAM; i++) {
      sa = (sa + viaAs(i)) | 0;
      sd = (sd + direct(i)) | 0;
    }
    if (sa !== sd) throw new Error(`${kind} ${op} at ${n} regions: address-space and direct reads disagree`);
  }
  const d = measure(direct);
  const a = measure(viaAs);
  return { regions: n, pattern, path: kind, op, viaAddressSpace: a.rate, directCall: d.rate, ratio: d.rate / a.rate, renderMs: ctx.renderMs };
}

const rows: Row[] = [];
const fmt = (r: number) => `${(r / 1e6).toFixed(1)} M/s`.padStart(11);
console.log(`dispatch throughput, ${SECONDS}s per measurement (node ${process.version}); ratio = direct / via AS`);
console.log(`${'regions'.padStart(8)}  stream      path  op     ${'via AS'.padStart(11)}  ${'direct'.padStart(11)}  ratio  ns/access  build+render`);
for (const n of SIZES) {
  const ctx = build(n);
  for (const pattern of ['sequential', 'random'] as const) for (const kind of ['ram', 'mmio'] as const) {
    for (const op of ['read', 'write'] as const) {
      const row = bench(ctx.as, n, kind, op, pattern, ctx);
      rows.push(row);
      console.log(`${String(n).padStart(8)}  ${pattern.padEnd(10)}  ${kind.padEnd(4)}  ${op.padEnd(5)}  ${fmt(row.viaAddressSpace)}  ${fmt(row.directCall)}  ${row.ratio.toFixed(2).padStart(5)}  ${(1e9 / row.viaAddressSpace).toFixed(1).padStart(9)}  ${row.renderMs.toFixed(0).padStart(8)} ms`);
    }
  }
  const c = ctx.as.counters;
  if (c.invalid || c.unassigned) throw new Error(`unexpected invalid/unassigned accesses: ${JSON.stringify(c)}`);
}
mkdirSync('bench-results', { recursive: true });
const file = `bench-results/dispatch-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify({ node: process.version, seconds: SECONDS, stream: STREAM, rows }, null, 2));
console.log(`\nwrote ${file}`);
