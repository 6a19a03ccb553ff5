// Incremental commits: what a change re-renders, what stays shared, what listeners see, and the
// fall-back to rendering from scratch (system/memory.c:memory_region_transaction_commit renders
// every view from scratch; vdm patches the views and must end up with the same views and events).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemorySystem, MemoryListener } from '../../src/memory/index.ts';
import { flat, io, logListener } from './helpers.ts';

function bars(options = {}) {
  const mem = new MemorySystem({ checkRender: true, ...options });
  const root = mem.container('root', 0x100000);
  const as = mem.addressSpace('as0', root);
  const list = Array.from({ length: 8 }, (_, i) => {
    const bar = mem.container(`bar${i}`, 0x4000);
    bar.addSubregion(0, mem.ramDevice(`bar${i} mmap`, 0x4000));
    bar.addSubregionOverlap(0x2000, io(mem, `bar${i} table`, 0x100), 1);
    root.addSubregionOverlap(i * 0x10000, bar, 1);
    return bar;
  });
  return { mem, root, as, bars: list };
}

test('a BAR move patches the view in place: no render from scratch, the same view object', () => {
  const { mem, as, bars: b } = bars();
  const view = as.view;
  const { renders, patches, fullRenderEquivalents } = mem.stats;
  b[3]!.setAddress(0x90000);
  assert.is(as.view, view);
  assert.is(mem.stats.renders, renders);
  assert.is(mem.stats.patches, patches + 1);
  assert.is(mem.stats.fullRenderEquivalents, fullRenderEquivalents + 1, 'QEMU would have rendered the root again');
  assert.equal(flat(as).slice(-3), [
    '[0x90000-0x91fff] bar3 mmap@0x0',
    '[0x92000-0x920ff] bar3 table@0x0',
    '[0x92100-0x93fff] bar3 mmap@0x2100',
  ]);
});

test('listeners: a move sends the dels and adds of a full re-render; nops only to a listener that takes them', () => {
  const { as, bars: b } = bars();
  const { log } = logListener(as); // takes region_nop
  const events: string[] = [];
  const kvmLike = new MemoryListener('kvm-like', 10);
  kvmLike
    .on('region-add', (s) => events.push(`add ${s.mr.name}`))
    .on('region-del', (s) => events.push(`del ${s.mr.name}`));
  as.addListener(kvmLike);
  events.length = 0;
  b[7]!.setAddress(0x80000 + 0x8000);
  assert.equal(events, [
    'del bar7 mmap',
    'del bar7 table',
    'del bar7 mmap',
    'add bar7 mmap',
    'add bar7 table',
    'add bar7 mmap',
  ]);
  assert.is(
    log.filter((e) => e.startsWith('region_nop')).length,
    7 * 3,
    'every other range is a nop, as after a full re-render',
  );
  assert.equal(log.slice(-4), [
    'region_add bar7 mmap[0x88000-0x89fff]@0x0',
    'region_add bar7 table[0x8a000-0x8a0ff]@0x0',
    'region_add bar7 mmap[0x8a100-0x8bfff]@0x2100',
    'commit',
  ]);
});

test('incremental: false renders every view from scratch on every commit, as QEMU does', () => {
  const { mem, as, bars: b } = bars({ incremental: false });
  const view = as.view;
  const renders = mem.stats.renders;
  b[3]!.setAddress(0x90000);
  assert.is.not(as.view, view);
  assert.is(mem.stats.renders, renders + 1);
  assert.is(mem.stats.patches, 0);
});

test('an unmergeable range split by a region that moves away becomes one range again (flatview_simplify)', () => {
  const mem = new MemorySystem({ checkRender: true });
  const root = mem.container('root', 0x10000);
  const as = mem.addressSpace('as0', root);
  const ram = mem.ram('R', 0x8000);
  ram.setUnmergeable(true);
  root.addSubregion(0, ram);
  const x = io(mem, 'X', 0x1000);
  const y = io(mem, 'Y', 0x1000);
  root.addSubregionOverlap(0x2000, x, 1);
  root.addSubregionOverlap(0x4000, y, 1);
  assert.equal(flat(as), [
    '[0x0-0x1fff] R@0x0',
    '[0x2000-0x2fff] X@0x0',
    '[0x3000-0x3fff] R@0x3000',
    '[0x4000-0x4fff] Y@0x0',
    '[0x5000-0x7fff] R@0x5000',
  ]);
  mem.transaction(() => {
    x.setAddress(0x9000);
    y.setAddress(0xa000);
  });
  assert.equal(flat(as), ['[0x0-0x7fff] R@0x0', '[0x9000-0x9fff] X@0x0', '[0xa000-0xafff] Y@0x0']);
});

test('two aliases onto contiguous offsets of one RAM merge when placed side by side, even one at a time', () => {
  const mem = new MemorySystem({ checkRender: true });
  const root = mem.container('root', 0x10000);
  const as = mem.addressSpace('as0', root);
  const ram = mem.ram('R', 0x2000);
  const lo = mem.alias('lo', ram, 0, 0x1000);
  const hi = mem.alias('hi', ram, 0x1000, 0x1000);
  root.addSubregion(0x4000, lo);
  root.addSubregion(0x8000, hi);
  assert.equal(flat(as), ['[0x4000-0x4fff] R@0x0', '[0x8000-0x8fff] R@0x1000']);
  hi.setAddress(0x5000);
  assert.equal(flat(as), ['[0x4000-0x5fff] R@0x0']);
  lo.setEnabled(false);
  assert.equal(flat(as), ['[0x5000-0x5fff] R@0x1000']);
});

test('a change under an alias target re-renders every view that reaches it, shared or not', () => {
  const mem = new MemorySystem({ checkRender: true });
  const system = mem.container('system', 0x10000);
  const dma = mem.container('dma', 0x10000);
  dma.addSubregion(0, mem.alias('bus master', system, 0, 0x10000)); // shares system's view
  const other = mem.container('other', 0x10000);
  other.addSubregion(0x8000, mem.alias('window', system, 0x1000, 0x2000));
  other.addSubregion(0, mem.ram('own', 0x1000));
  const [asSys, asDma, asOther] = [
    mem.addressSpace('system', system),
    mem.addressSpace('dma', dma),
    mem.addressSpace('other', other),
  ];
  assert.is(asDma.view, asSys.view);
  const dev = io(mem, 'dev', 0x800);
  system.addSubregion(0x1800, dev);
  assert.equal(flat(asDma), ['[0x1800-0x1fff] dev@0x0']);
  assert.equal(flat(asOther), ['[0x0-0xfff] own@0x0', '[0x8800-0x8fff] dev@0x0']);
  assert.is(mem.stats.renders, 2, 'one view per distinct root, rendered once');
});

test('a batch that meets much of a large view renders all of it once, still as a patch of the same view', () => {
  const mem = new MemorySystem({ checkRender: true });
  const root = mem.container('root', 0x1000000);
  const as = mem.addressSpace('as0', root);
  const regs = mem.transaction(() =>
    Array.from({ length: 1100 }, (_, i) => {
      const r = io(mem, `r${i}`, 0x100);
      root.addSubregion(i * 0x1000, r);
      return r;
    }),
  );
  const { log } = logListener(as);
  const view = as.view;
  const { renders, patches } = mem.stats;
  mem.transaction(() => regs.slice(0, 400).forEach((r, i) => r.setAddress(0x800000 + i * 0x100)));
  assert.is(as.view, view);
  assert.equal([mem.stats.renders, mem.stats.patches], [renders, patches + 1]);
  assert.is(log.filter((e) => e.startsWith('region_del')).length, 400);
  assert.is(log.filter((e) => e.startsWith('region_add')).length, 400);
  assert.is(as.view.ranges.length, 1100);
});

test('a region reached through too many alias paths to trace makes the commit render from scratch', () => {
  const mem = new MemorySystem({ checkRender: true });
  const x = io(mem, 'X', 0x100);
  let level = mem.container('c0', 0x1000);
  level.addSubregion(0, x);
  // Every level holds two aliases of the one below: 2^17 paths from the root down to X.
  for (let i = 1; i <= 17; i++) {
    const up = mem.container(`c${i}`, 0x1000);
    up.addSubregion(0, mem.alias(`a${i}`, level, 0, 0x1000));
    up.addSubregionOverlap(0, mem.alias(`b${i}`, level, 0, 0x1000), 1);
    level = up;
  }
  const root = mem.container('root', 0x10000);
  root.addSubregion(0, level);
  root.addSubregion(0x8000, io(mem, 'Y', 0x100));
  const as = mem.addressSpace('as0', root);
  const { renders, patches } = mem.stats;
  x.setAddress(0x400);
  assert.equal([mem.stats.renders, mem.stats.patches], [renders + 1, patches]);
  assert.equal(flat(as), ['[0x400-0x4ff] X@0x0', '[0x8000-0x80ff] Y@0x0']);
});

test('VDM_CHECK_RENDER=1 turns the check on; the option wins over it', () => {
  const saved = process.env.VDM_CHECK_RENDER;
  process.env.VDM_CHECK_RENDER = '1';
  try {
    assert.ok(new MemorySystem().checkRender);
    assert.not.ok(new MemorySystem({ checkRender: false }).checkRender);
  } finally {
    if (saved === undefined) delete process.env.VDM_CHECK_RENDER;
    else process.env.VDM_CHECK_RENDER = saved;
  }
  assert.not.ok(new MemorySystem().checkRender || process.env.VDM_CHECK_RENDER === '1');
});

test.run();
