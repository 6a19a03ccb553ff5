// The benchmark's baselines must answer exactly as the AddressSpace does, or their timings mean
// nothing: randomized addresses over the bench tree (every path, the gaps, past the end).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { buildTree, TREE_BASE, UNIT_SIZE, PATHS } from '../../scripts/bench/tree.ts';
import { BinarySearch, BlockTable, FlatTable, LinearScan } from '../../scripts/bench/baselines.ts';
import { parseBenchArgs } from '../../scripts/bench/options.ts';
import { crossCheck, loopContext } from '../../scripts/bench/dispatch.ts';

test('linear scan, binary search and the >>17 block table read what the AddressSpace reads', () => {
  const tree = buildTree(60);
  const t = new FlatTable(tree.as.view.ranges);
  const strategies = { linear: new LinearScan(t), binary: new BinarySearch(t), block: new BlockTable(t) };
  assert.ok(strategies.block.mixedBlocks > 0, 'the 64 KiB units put several ranges in a 128 KiB block');
  const span = tree.units * UNIT_SIZE + 0x40000;
  fc.assert(
    fc.property(fc.integer({ min: -0x1000, max: span / 4 }), (dword) => {
      const addr = TREE_BASE + dword * 4;
      const want = tree.as.read(addr, 4);
      for (const [name, s] of Object.entries(strategies))
        assert.is(s.read(addr, 4), want, `${name} at 0x${addr.toString(16)}`);
    }),
    { numRuns: 3000 },
  );
});

test('writes land where the AddressSpace would put them', () => {
  const a = buildTree(20);
  const b = buildTree(20);
  const s = new BlockTable(new FlatTable(b.as.view.ranges));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: (a.units * UNIT_SIZE) / 4 - 1 }),
      fc.integer({ min: 0, max: 0x7fffffff }),
      (dword, v) => {
        const addr = TREE_BASE + dword * 4;
        a.as.write(addr, v, 4);
        s.write(addr, v, 4);
        assert.is(b.as.read(addr, 4), a.as.read(addr, 4));
      },
    ),
    { numRuns: 2000 },
  );
});

test('the harness refuses a fast wrong answer: a strategy that reads or writes the wrong thing stops the run', () => {
  const tree = buildTree(20);
  const t = new FlatTable(tree.as.view.ranges);
  const c = loopContext(tree, t, new BlockTable(t), 'mmio', 'random');
  // all agree
  crossCheck(c, ['direct', 'addressSpace', 'linear', 'binary', 'block'], 'mmio', 'read', 'random', 'honest');
  crossCheck(c, ['direct', 'addressSpace', 'binary'], 'mmio', 'write', 'random', 'honest');
  const lazy = new BinarySearch(t);
  lazy.read = () => 0; // fast, and wrong
  lazy.write = () => {};
  c.B = lazy;
  assert.throws(
    () => crossCheck(c, ['direct', 'binary'], 'mmio', 'read', 'random', 'lazy'),
    /lazy: binary read 0x0 at 0x[0-9a-f]+ \(access 0\) where the direct call read 0x[0-9a-f]+/,
  );
  assert.throws(
    () => crossCheck(c, ['direct', 'binary'], 'mmio', 'write', 'random', 'lazy'),
    /lazy: binary left 0x5a5a5a5a at/,
  );
});

test('bench options: unknown names and bad numbers are errors that name the option', () => {
  assert.equal(parseBenchArgs([]).dispatch.paths, [...PATHS]);
  assert.throws(() => parseBenchArgs(['--paths', 'mmio,rom']), /--paths: unknown 'rom'; choose from ram, mmio/);
  assert.throws(() => parseBenchArgs(['--sizes', '10,ten']), /--sizes: 'ten' is not a whole number/);
  assert.throws(() => parseBenchArgs(['--seconds', '0']), /--seconds: '0' is not a duration/);
  assert.throws(() => parseBenchArgs(['--only', 'dispatch,boot,fast']), /--only: unknown 'fast'/);
  assert.throws(() => parseBenchArgs(['--boot-machines', 'q36']), /--boot-machines: unknown 'q36'; choose from/);
  assert.equal(parseBenchArgs(['--quick']).dispatch.sizes, [1000]);
});

test.run();
