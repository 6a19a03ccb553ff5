// The access benchmark's pieces that decide what is measured: options, which strategy runs which
// stream, and that every strategy's loop body compiles and answers as the direct call on a small
// machine (vdm; v86 needs its wasm and runs only in the benchmark).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBenchArgs } from '../../scripts/bench/options.ts';
import { accessSteps, spread } from '../../scripts/bench/access.ts';
import { layout, vdmMachine, RAM_BASE, RAM_SIZE } from '../../scripts/bench/access-layout.ts';
import { STREAM, STREAMS, body, makeStream, runs } from '../../scripts/bench/access-streams.ts';
import { recordNicTrace } from '../../scripts/bench/nic-trace.ts';

const trace = recordNicTrace(STREAM);

test('access options: defaults, --quick, and bad values named', () => {
  assert.equal(parseBenchArgs([]).access, {
    sizes: [10, 1000, 10000, 100000],
    streams: [...STREAMS],
    rounds: 5,
    procs: 2,
    ms: 20,
  });
  assert.is(parseBenchArgs(['--quick']).access.procs, 1);
  assert.is(parseBenchArgs(['--access-procs', '3']).access.procs, 3);
  assert.throws(() => parseBenchArgs(['--access-procs', '0']), /--access-procs: '0'/);
  assert.equal(parseBenchArgs(['--access-streams', 'nic-trace,ram-seq']).access.streams, ['nic-trace', 'ram-seq']);
  assert.throws(() => parseBenchArgs(['--access-streams', 'mmio']), /--access-streams: unknown 'mmio'/);
  assert.equal(parseBenchArgs(['--quick']).access.sizes, [1000]);
  assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds: '0'/);
  assert.throws(() => parseBenchArgs(['--access-sizes', '10,x']), /--access-sizes: 'x'/);
});

test('a process per (size, stream, op, strategy) and pass; the median of pooled rounds', () => {
  // 10 regions: mmio8-seq read and write without v86 (4), nic-trace rw with all three (3);
  // 100 000 regions: mmio8-seq (4), nic-trace without v86 (2); two passes.
  const opts = { sizes: [10, 100000], streams: ['mmio8-seq', 'nic-trace'] as const, rounds: 5, procs: 2, ms: 1 };
  assert.is(accessSteps({ ...opts, streams: [...opts.streams] }), 2 * (7 + 6));
  assert.equal(spread([5, 1, 3]), { median: 3, min: 1, max: 5 });
  assert.equal(spread([4, 1, 3, 8]), { median: 3.5, min: 1, max: 8 });
});

test('v86 runs only what it can map: 4-byte accesses, at most 10 000 regions of 128 KiB', () => {
  assert.ok(runs('v86', 'mmio-rand', 10000));
  assert.not.ok(runs('v86', 'mmio-rand', 100000));
  assert.not.ok(runs('v86', 'mmio8-seq', 10));
  assert.ok(runs('vdm', 'mmio8-seq', 100000));
});

test('vdm answers every stream as the direct call does (reads), and a wrong body is caught', () => {
  const l = layout(40);
  const { as, ram } = vdmMachine(l);
  const M = new Uint32Array(RAM_SIZE / 4);
  for (let w = 0; w < 4096; w++) {
    M[w] = Math.imul(w + 1, 0x9e3779b1) >>> 0;
    ram.write(w * 4, M[w]!, 4);
  }
  type Loop = (c: object, from: number, to: number) => number;
  const compile = (src: string) =>
    new Function(
      'c',
      'from',
      'to',
      `const { as, M, R, W, A, H, O, K, V } = c;\nlet s = 0;\nfor (let i = from; i < to; i++) ${src}\nreturn s;`,
    ) as Loop;
  for (const stream of STREAMS) {
    const s = makeStream(l, stream, trace);
    // Only the first RAM words are filled; keep RAM accesses there.
    for (let i = 0; i < 512; i++) if (s.H[i]! < 0) (s.O[i] = i % 4096), (s.A[i] = RAM_BASE + (i % 4096) * 4);
    const c = { as, M, R: l.read, W: l.write, ...s };
    const direct = compile(body('direct', stream, 'read'));
    const vdm = compile(body('vdm', stream, 'read'));
    // Reads with side effects (read-to-clear) run on separate copies of the state: compare sums over
    // fresh layouts would need a reset; pure handlers (register files, patterns) are compared here.
    for (let i = 0; i < 512; i++) {
      const k = s.H[i]!;
      if (k >= 0 && k % 4 === 1) continue;
      assert.is(vdm(c, i, i + 1), direct(c, i, i + 1), `${stream} access ${i}`);
    }
  }
  const s = makeStream(l, 'mmio-seq');
  const wrong = compile('s = (s + as.read(A[i] + 4, 4)) | 0;');
  const direct = compile(body('direct', 'mmio-seq', 'read'));
  const c = { as, M, R: l.read, W: l.write, ...s };
  assert.ok([...Array(64).keys()].some((i) => wrong(c, i, i + 1) !== direct(c, i, i + 1)));
});

test("the NIC trace is the driver's data path: descriptors in RAM, doorbell, STATUS and ICR, MSI-X entries", () => {
  assert.is(trace.page.length, STREAM);
  assert.ok(trace.configCycles > 0, 'ECAM config cycles are seen and left out');
  assert.ok(trace.size.every((s) => s === 4));
  // Pages in first-use order: the MSI-X table (programmed at probe), BAR0's registers, the doorbell page.
  assert.equal(
    trace.pageBase.map((b) => b - trace.pageBase[1]!),
    [0x2000, 0, 0x1000],
  );
  const kinds = new Map<string, number>();
  trace.page.forEach((p, i) => {
    const k = `${p < 0 ? 'ram' : `page${p}`} ${trace.write[i] ? 'W' : 'R'}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  });
  assert.equal([...kinds.keys()].sort(), ['page0 W', 'page1 R', 'page1 W', 'page2 W', 'ram W']);
  // Each transmit: a 16-byte descriptor, the doorbell, ICR from the completion interrupt, STATUS.
  const tx = trace.page.indexOf(-1);
  assert.equal(
    trace.page.slice(tx, tx + 7).map((p, k) => `${p}:${trace.offset[tx + k]! % 0x1000}`),
    ['-1:0', '-1:4', '-1:8', '-1:12', '2:0', '1:24', '1:8'],
  );
  assert.equal(recordNicTrace(100), {
    ...trace,
    ...Object.fromEntries(
      ['page', 'offset', 'size', 'write', 'value'].map((k) => [k, trace[k as 'page'].slice(0, 100)]),
    ),
  });
});

test('nic-trace replays loads and stores as recorded: vdm ends in the state the direct call does', () => {
  const run = (strategy: 'direct' | 'vdm') => {
    const l = layout(10);
    const { as, ram } = vdmMachine(l);
    const M = new Uint32Array(RAM_SIZE / 4);
    const s = makeStream(l, 'nic-trace', trace);
    const loop = new Function(
      'c',
      'from',
      'to',
      `const { as, M, R, W, A, H, O, K, V } = c;\nlet s = 0;\nfor (let i = from; i < to; i++) ${body(strategy, 'nic-trace', 'rw')}\nreturn s;`,
    ) as (c: object, from: number, to: number) => number;
    const sum = loop({ as, M, R: l.read, W: l.write, ...s }, 0, 4096);
    const words = [...Array(4096).keys()].filter((i) => s.H[i]! < 0).map((i) => s.O[i]!);
    const mem = words.map((w) => (strategy === 'vdm' ? ram.read(w * 4, 4) : M[w]!));
    return { sum, regs: l.regs.map((r) => [...r]), mem, regions: [...new Set(s.H)].sort() };
  };
  const d = run('direct');
  assert.equal(run('vdm'), d);
  assert.equal(d.regions, [-1, 4, 5, 6]);
  assert.ok(d.mem.some((v) => v !== 0));
});

test.run();
