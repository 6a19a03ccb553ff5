// Rendering: QEMU's system/memory.c:render_memory_region,
// flatview_simplify and memory_region_update_container_subregions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { U64_SPAN, MEMTX_DECODE_ERROR } from '../../src/memory/index.ts';
import { setup, flat, io } from './helpers.ts';

test('single RAM; reads outside it are unassigned (memory.c:render_memory_region)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0x1000, mem.ram('R', 0x1000));
  assert.equal(flat(as), ['[0x1000-0x1fff] R@0x0']);
  assert.is(as.read(0, 4), 0);
  assert.is(as.result, MEMTX_DECODE_ERROR);
});

test('adjacent distinct MMIO regions do not merge (memory.c:can_merge compares mr)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, io(mem, 'A', 0x100));
  root.addSubregion(0x100, io(mem, 'B', 0x100));
  assert.equal(flat(as), ['[0x0-0xff] A@0x0', '[0x100-0x1ff] B@0x0']);
});

function docsExample(bIsIo: boolean) {
  const { mem, as } = setup(0x8000, 'A');
  const B = bIsIo ? io(mem, 'B', 0x4000) : mem.container('B', 0x4000);
  B.addSubregion(0, io(mem, 'D', 0x1000));
  B.addSubregion(0x2000, io(mem, 'E', 0x1000));
  as.root.addSubregionOverlap(0, io(mem, 'C', 0x6000), 1);
  as.root.addSubregionOverlap(0x2000, B, 2);
  return flat(as);
}

test('docs/devel/memory.rst "Visibility" example with a pure container B', () => {
  assert.equal(docsExample(false), [
    '[0x0-0x1fff] C@0x0',
    '[0x2000-0x2fff] D@0x0',
    '[0x3000-0x3fff] C@0x3000',
    '[0x4000-0x4fff] E@0x0',
    '[0x5000-0x5fff] C@0x5000',
  ]);
});

test('the same with B an io region fills its own holes (non-pure container)', () => {
  assert.equal(docsExample(true), [
    '[0x0-0x1fff] C@0x0',
    '[0x2000-0x2fff] D@0x0',
    '[0x3000-0x3fff] B@0x1000',
    '[0x4000-0x4fff] E@0x0',
    '[0x5000-0x5fff] B@0x3000',
  ]);
});

test('equal priority, the later-added region wins (memory_region_update_container_subregions)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, io(mem, 'X', 0x2000));
  root.addSubregion(0x1000, io(mem, 'Y', 0x2000));
  assert.equal(flat(as), ['[0x0-0xfff] X@0x0', '[0x1000-0x2fff] Y@0x0']);
  assert.equal(
    root.subregions.map((r) => r.name),
    ['Y', 'X'],
  );
});

test('equal priority with the order reversed', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0x1000, io(mem, 'Y', 0x2000));
  root.addSubregion(0, io(mem, 'X', 0x2000));
  assert.equal(flat(as), ['[0x0-0x1fff] X@0x0', '[0x2000-0x2fff] Y@0x1000']);
});

test('set_address re-inserts at the front of the priority group (memory_region_readd_subregion)', () => {
  const { mem, root, as } = setup();
  const X = io(mem, 'X', 0x2000);
  root.addSubregion(0, X);
  root.addSubregion(0x1000, io(mem, 'Y', 0x2000));
  X.setAddress(0x800);
  assert.equal(
    root.subregions.map((r) => r.name),
    ['X', 'Y'],
  );
  assert.equal(flat(as), ['[0x800-0x27ff] X@0x0', '[0x2800-0x2fff] Y@0x1800']);
  const rebuilds = mem.stats.rebuilds;
  X.setAddress(0x800);
  assert.is(mem.stats.rebuilds, rebuilds, 'same address: no transaction work');
});

test('priority beats insertion order', () => {
  const { mem, root, as } = setup();
  root.addSubregionOverlap(0, io(mem, 'X', 0x2000), 1);
  root.addSubregionOverlap(0x1000, io(mem, 'Y', 0x2000), 0);
  assert.equal(flat(as), ['[0x0-0x1fff] X@0x0', '[0x2000-0x2fff] Y@0x1000']);
});

test('a disabled subregion renders nothing until enabled (memory_region_set_enabled)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.ram('R', 0x4000));
  const M = io(mem, 'M', 0x1000);
  M.setEnabled(false);
  root.addSubregionOverlap(0x1000, M, 1);
  assert.equal(flat(as), ['[0x0-0x3fff] R@0x0']);
  M.setEnabled(true);
  assert.equal(flat(as), ['[0x0-0xfff] R@0x0', '[0x1000-0x1fff] M@0x0', '[0x2000-0x3fff] R@0x2000']);
});

test('a disabled container hides its children and obscures nothing', () => {
  const { mem, root, as } = setup();
  root.addSubregionOverlap(0, io(mem, 'BG', 0x10000), -1);
  const K = mem.container('K', 0x1000);
  K.addSubregion(0, io(mem, 'N', 0x1000));
  K.setEnabled(false);
  root.addSubregion(0x1000, K);
  assert.equal(flat(as), ['[0x0-0xffff] BG@0x0']);
  K.setEnabled(true);
  assert.equal(flat(as), ['[0x0-0xfff] BG@0x0', '[0x1000-0x1fff] N@0x0', '[0x2000-0xffff] BG@0x2000']);
});

test('an empty pure container obscures nothing; an empty io region does', () => {
  const { mem, root, as } = setup();
  root.addSubregionOverlap(0, io(mem, 'BG', 0x10000), -1);
  const K = mem.container('K', 0x1000);
  root.addSubregion(0x1000, K);
  assert.equal(flat(as), ['[0x0-0xffff] BG@0x0']);
  root.delSubregion(K);
  root.addSubregion(0x1000, io(mem, 'K2', 0x1000));
  assert.equal(flat(as), ['[0x0-0xfff] BG@0x0', '[0x1000-0x1fff] K2@0x0', '[0x2000-0xffff] BG@0x2000']);
});

function aliasRoot() {
  const s = setup(U64_SPAN);
  return { ...s, ram: s.mem.ram('ram', 0x10000) };
}

test('aliases with offsets (the PC lomem/himem pattern)', () => {
  const { mem, root, as, ram } = aliasRoot();
  root.addSubregion(0, mem.alias('lo', ram, 0, 0x8000));
  root.addSubregion(0x100000, mem.alias('hi', ram, 0x8000, 0x8000));
  assert.equal(flat(as), ['[0x0-0x7fff] ram@0x0', '[0x100000-0x107fff] ram@0x8000']);
});

test('adjacent aliases to contiguous RAM merge; a gap or unmergeable stops it (flatview_simplify)', () => {
  {
    const { mem, root, as, ram } = aliasRoot();
    root.addSubregion(0, mem.alias('A1', ram, 0, 0x1000));
    root.addSubregion(0x1000, mem.alias('A2', ram, 0x1000, 0x1000));
    assert.equal(flat(as), ['[0x0-0x1fff] ram@0x0']);
  }
  {
    const { mem, root, as, ram } = aliasRoot();
    root.addSubregion(0, mem.alias('A1', ram, 0, 0x1000));
    root.addSubregion(0x1000, mem.alias('A2', ram, 0x3000, 0x1000));
    assert.equal(flat(as), ['[0x0-0xfff] ram@0x0', '[0x1000-0x1fff] ram@0x3000']);
  }
  {
    const { mem, root, as, ram } = aliasRoot();
    root.addSubregion(0, mem.alias('A1', ram, 0, 0x1000));
    const A2 = mem.alias('A2', ram, 0x1000, 0x1000);
    root.addSubregion(0x1000, A2);
    A2.setUnmergeable(true);
    assert.equal(flat(as), ['[0x0-0xfff] ram@0x0', '[0x1000-0x1fff] ram@0x1000']);
  }
});

test('an alias offset is clipped at the end of its target', () => {
  const { mem, root, as } = setup();
  const T = mem.ram('T', 0x2000);
  root.addSubregion(0x4000, mem.alias('W', T, 0x1000, 0x2000));
  assert.equal(flat(as), ['[0x4000-0x4fff] T@0x1000']);
  assert.is(as.read(0x5000, 4), 0);
  assert.is(as.result, MEMTX_DECODE_ERROR);
});

test('an alias offset past the target renders nothing', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0x4000, mem.alias('W', mem.ram('T', 0x2000), 0x3000, 0x1000));
  assert.equal(flat(as), []);
});

test('an alias clipped by its own container', () => {
  const { mem, root, as, ram } = aliasRoot();
  const C = mem.container('C', 0x1000);
  C.addSubregion(0x800, mem.alias('W', ram, 0, 0x4000));
  root.addSubregion(0x10000, C);
  assert.equal(flat(as), ['[0x10800-0x10fff] ram@0x0']);
});

test('alias into a container with overlapping children; the target address cancels out', () => {
  const { mem, root, as } = aliasRoot();
  const P = mem.container('P', 0x10000);
  P.addSubregionOverlap(0, io(mem, 'BG', 0x10000), -1);
  P.addSubregionOverlap(0x2000, io(mem, 'D1', 0x1000), 0);
  P.addSubregionOverlap(0x2800, io(mem, 'D2', 0x1000), 1);
  root.addSubregion(0xa0000, mem.alias('win', P, 0x2000, 0x2000));
  const window = ['[0xa0000-0xa07ff] D1@0x0', '[0xa0800-0xa17ff] D2@0x0', '[0xa1800-0xa1fff] BG@0x3800'];
  assert.equal(flat(as), window);
  root.addSubregion(0x1000000, P);
  assert.equal(flat(as), [
    ...window,
    '[0x1000000-0x1001fff] BG@0x0',
    '[0x1002000-0x10027ff] D1@0x0',
    '[0x1002800-0x10037ff] D2@0x0',
    '[0x1003800-0x100ffff] BG@0x3800',
  ]);
});

test('alias of an alias (negative intermediate base)', () => {
  const { mem, root, as } = setup();
  const R = mem.ram('R', 0x4000);
  const A1 = mem.alias('A1', R, 0x1000, 0x1000);
  root.addSubregion(0, mem.alias('A2', A1, 0x100, 0x100));
  assert.equal(flat(as), ['[0x0-0xff] R@0x1100']);
});

test('a disabled alias target empties every alias to it', () => {
  const { mem, root, as, ram } = aliasRoot();
  root.addSubregion(0, mem.alias('lo', ram, 0, 0x8000));
  root.addSubregion(0x100000, mem.alias('hi', ram, 0x8000, 0x8000));
  ram.setEnabled(false);
  assert.equal(flat(as), []);
});

test('a readonly alias marks its ranges readonly; they do not merge with writable ones', () => {
  const { mem, root, as, ram } = aliasRoot();
  const ROA = mem.alias('ROA', ram, 0, 0x1000);
  ROA.setReadonly(true);
  root.addSubregion(0, ROA);
  root.addSubregion(0x1000, mem.alias('RWA', ram, 0x1000, 0x1000));
  assert.equal(flat(as), ['[0x0-0xfff] ram@0x0 (readonly)', '[0x1000-0x1fff] ram@0x1000']);
});

test('the priority-0 background trap', () => {
  {
    const { mem, root, as } = setup();
    root.addSubregion(0x1000, io(mem, 'DEV', 0x1000));
    root.addSubregion(0, io(mem, 'BG', 0x10000));
    assert.equal(flat(as), ['[0x0-0xffff] BG@0x0']);
  }
  {
    const { mem, root, as } = setup();
    root.addSubregion(0, io(mem, 'BG', 0x10000));
    root.addSubregion(0x1000, io(mem, 'DEV', 0x1000));
    assert.equal(flat(as), ['[0x0-0xfff] BG@0x0', '[0x1000-0x1fff] DEV@0x0', '[0x2000-0xffff] BG@0x2000']);
  }
});

test('a negative-priority background works in either order', () => {
  for (const bgFirst of [true, false]) {
    const { mem, root, as } = setup();
    const add = [
      () => root.addSubregionOverlap(0, io(mem, 'BG', 0x10000), -1),
      () => root.addSubregion(0x1000, io(mem, 'DEV', 0x1000)),
    ];
    (bgFirst ? add : add.reverse()).forEach((f) => f());
    assert.equal(flat(as), ['[0x0-0xfff] BG@0x0', '[0x1000-0x1fff] DEV@0x0', '[0x2000-0xffff] BG@0x2000']);
  }
});

test('priorities are local to a container (docs/devel/memory.rst)', () => {
  const { mem, root, as } = setup();
  const CA = mem.container('CA', 0x2000);
  CA.addSubregionOverlap(0, io(mem, 'X', 0x1000), -5);
  root.addSubregionOverlap(0, CA, 1);
  root.addSubregion(0, io(mem, 'Y', 0x2000));
  assert.equal(flat(as), ['[0x0-0xfff] X@0x0', '[0x1000-0x1fff] Y@0x1000']);
});

test('children are clipped by their container', () => {
  const { mem, root, as } = setup();
  const C = mem.container('C', 0x1000);
  C.addSubregion(0x800, io(mem, 'Z', 0x1000));
  C.addSubregion(0x1000, io(mem, 'Z2', 0x100));
  root.addSubregion(0, C);
  assert.equal(flat(as), ['[0x800-0xfff] Z@0x0']);
});

test('RAM with an io child is a non-pure container', () => {
  const { mem, root, as } = setup();
  const R = mem.ram('R', 0x4000);
  R.addSubregion(0x1000, io(mem, 'M', 0x1000));
  root.addSubregion(0, R);
  assert.equal(flat(as), ['[0x0-0xfff] R@0x0', '[0x1000-0x1fff] M@0x0', '[0x2000-0x3fff] R@0x2000']);
});

test('a region at the top of the 64-bit space renders', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0xfffffffffffff000n, io(mem, 'T', 0x1000));
  assert.equal(flat(as), ['[0xfffffffffffff000-0xffffffffffffffff] T@0x0']);
});

test('set_size and set_alias_offset re-render; the same value does nothing (memory_region_set_size, ' +
  '_set_alias_offset)', () => {
  const { mem, root, as } = setup();
  const R = mem.ram('R', 0x4000);
  const W = mem.alias('W', R, 0, 0x1000);
  root.addSubregion(0x1000, W);
  W.setAliasOffset(0x2000);
  assert.equal(flat(as), ['[0x1000-0x1fff] R@0x2000']);
  W.setSize(0x2000);
  assert.equal(flat(as), ['[0x1000-0x2fff] R@0x2000']);
  const rebuilds = mem.stats.rebuilds;
  W.setSize(0x2000);
  W.setAliasOffset(0x2000);
  assert.is(mem.stats.rebuilds, rebuilds);
  assert.throws(() => R.setAliasOffset(0), /R is not an alias/);
});

test('a reservation terminates and obscures, but refuses every access (NULL ops -> unassigned_mem_ops)', () => {
  const { mem, root, as } = setup();
  root.addSubregionOverlap(0, mem.ram('R', 0x4000), 0);
  root.addSubregionOverlap(0x1000, mem.reservation('hole', 0x1000), 1);
  assert.equal(flat(as), ['[0x0-0xfff] R@0x0', '[0x1000-0x1fff] hole@0x0', '[0x2000-0x3fff] R@0x2000']);
  assert.is(as.read(0x1000, 4), 0);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.is(as.counters.unassigned, 1);
});

test('a region cannot have two containers, nor contain itself', () => {
  const { mem, root } = setup();
  const R = mem.ram('R', 0x1000);
  root.addSubregion(0, R);
  assert.throws(() => root.addSubregion(0x1000, R), /already a subregion of root/);
  const C = mem.container('C', 0x1000);
  root.addSubregion(0x2000, C);
  assert.throws(() => C.addSubregion(0, root), /cycle/);
});

test.run();
