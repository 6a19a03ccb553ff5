// Incremental render proven against rendering from scratch: random trees (overlaps, priorities,
// aliases to aliases, a container wide enough for the child index, address spaces sharing roots
// through memory_region_get_flatview_root) under random mutation sequences in nested transactions.
// checkRender makes every commit compare its views, listener events and dispatch answers with a
// full re-render (system/memory.c:memory_region_transaction_commit) and throw on any difference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MemorySystem, MemoryListener, RenderMismatchError, type MemoryRegion } from '../../src/memory/index.ts';

const SPAN = 0x10000;
const unit = (max: number) => fc.integer({ min: 0, max }).map((n) => n * 0x100);
const pick = fc.nat();

const regionSpec = fc.record({
  kind: fc.constantFrom('container', 'io', 'ram', 'alias', 'alias', 'romd'),
  size: fc.integer({ min: 1, max: 0x60 }).map((n) => n * 0x100),
  addr: unit(0xff),
  odd: fc.integer({ min: 0, max: 5 }).map((n) => (n === 0 ? 0x40 : 0)),
  parent: pick,
  target: pick,
  aliasOffset: unit(0x30),
  priority: fc.integer({ min: -2, max: 2 }),
  enabled: fc.integer({ min: 0, max: 4 }).map((n) => n !== 0),
  unmergeable: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
});

const op = fc.oneof(
  fc.record({ op: fc.constant('move' as const), r: pick, addr: unit(0xff), odd: fc.boolean() }),
  fc.record({ op: fc.constant('toggle' as const), r: pick }),
  fc.record({
    op: fc.constant('size' as const),
    r: pick,
    size: fc.integer({ min: 0, max: 0x60 }).map((n) => n * 0x100),
  }),
  fc.record({
    op: fc.constant('flag' as const),
    r: pick,
    which: fc.constantFrom('readonly', 'unmergeable', 'nonvolatile', 'romd'),
    value: fc.boolean(),
  }),
  fc.record({ op: fc.constant('aliasOffset' as const), r: pick, offset: unit(0x30) }),
  fc.record({ op: fc.constant('detach' as const), r: pick }),
  fc.record({
    op: fc.constant('attach' as const),
    r: pick,
    parent: pick,
    addr: unit(0xff),
    priority: fc.integer({ min: -2, max: 2 }),
  }),
  fc.record({ op: fc.constant('begin' as const) }),
  fc.record({ op: fc.constant('commit' as const) }),
);

const scenario = fc.record({
  regions: fc.array(regionSpec, { minLength: 1, maxLength: 12 }),
  /** Addresses of a row of small registers in one container: enough to give it a child index. */
  wide: fc.option(
    fc.array(
      fc.record({
        addr: unit(0xff),
        size: fc.integer({ min: 1, max: 12 }).map((n) => n * 0x40),
        priority: fc.integer({ min: -1, max: 1 }),
      }),
      { minLength: 40, maxLength: 48 },
    ),
    { freq: 2 },
  ),
  ops: fc.array(op, { minLength: 1, maxLength: 24 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Whether from reaches to through children and alias targets (adding to under from would loop). */
function reaches(from: MemoryRegion, to: MemoryRegion): boolean {
  return from === to || (from.alias !== null && reaches(from.alias, to)) || from.children.some((c) => reaches(c, to));
}

/** Runs a scenario; returns the system and its full renders before the mutations began. */
function run(
  s: Scenario,
  options: { checkRender: boolean } = { checkRender: true },
): { mem: MemorySystem; setupRenders: number } {
  const mem = new MemorySystem(options);
  const root0 = mem.container('root0', SPAN);
  const root1 = mem.container('root1', SPAN);
  // wrap resolves to root0 (a whole alias of it), so as2 shares as0's view; solo to its one child.
  const wrap = mem.container('wrap', SPAN);
  wrap.addSubregion(0, mem.alias('wrap-alias', root0, 0, SPAN));
  const solo = mem.container('solo', SPAN);
  const spaces = [
    mem.addressSpace('as0', root0),
    mem.addressSpace('as1', root1),
    mem.addressSpace('as2', wrap),
    mem.addressSpace('as3', solo),
  ];
  // KVM- and VFIO-like listeners (no region_nop) and a vhost-like one that takes nops.
  for (const [i, as] of spaces.entries()) {
    const l = new MemoryListener(`l${i}`, i);
    l.on('region-add', () => {}).on('region-del', () => {});
    if (i % 2 === 0) l.on('region-nop', () => {});
    as.addListener(l);
  }
  const parents: MemoryRegion[] = [root0, root1, solo];
  const regions: MemoryRegion[] = [];
  const targets: MemoryRegion[] = [root1];
  mem.transaction(() => {
    s.regions.forEach((r, i) => {
      const name = `r${i}`;
      let mr: MemoryRegion;
      if (r.kind === 'alias') mr = mem.alias(name, targets[r.target % targets.length]!, r.aliasOffset, r.size);
      else if (r.kind === 'ram') mr = mem.ram(name, r.size);
      else if (r.kind === 'romd') mr = mem.romDevice(name, r.size, { write: () => {} });
      else if (r.kind === 'container') mr = mem.container(name, r.size);
      else mr = mem.io(name, r.size, { read: () => 0, write: () => {} });
      if (!r.enabled) mr.setEnabled(false);
      if (r.unmergeable) mr.setUnmergeable(true);
      const parent = parents[r.parent % parents.length]!;
      if (!reaches(mr, parent)) parent.addSubregionOverlap(r.addr + r.odd, mr, r.priority);
      regions.push(mr);
      targets.push(mr);
      if (!mr.alias) parents.push(mr);
    });
  });
  if (s.wide) {
    const row = mem.container('row', SPAN);
    mem.transaction(() => {
      s.wide!.forEach((w, i) => {
        const reg = mem.io(`w${i}`, w.size, { read: () => 0, write: () => {} });
        row.addSubregionOverlap(w.addr, reg, w.priority);
        regions.push(reg);
      });
      root0.addSubregionOverlap(0, row, 0);
    });
  }
  const setupRenders = mem.stats.renders;
  // Enough misses (unassigned reads past the roots) that every dispatch builds its flat page index,
  // which each commit's check then compares with the patched tables.
  for (const as of spaces) for (let k = 0; k < 64; k++) as.read(SPAN, 4);
  let depth = 0;
  for (const o of s.ops) {
    if (o.op === 'begin') {
      mem.begin();
      depth++;
      continue;
    }
    if (o.op === 'commit') {
      if (depth > 0) {
        depth--;
        mem.commit();
      }
      continue;
    }
    const mr = regions[o.r % regions.length]!;
    switch (o.op) {
      case 'move':
        mr.setAddress(o.addr + (o.odd ? 0x40 : 0));
        break;
      case 'toggle':
        mr.setEnabled(!mr.enabled);
        break;
      case 'size':
        mr.setSize(o.size);
        break;
      case 'flag':
        if (o.which === 'readonly') mr.setReadonly(o.value);
        else if (o.which === 'unmergeable') mr.setUnmergeable(o.value);
        else if (o.which === 'nonvolatile') mr.setNonvolatile(o.value);
        else if (mr.isRomDevice) mr.setRomdMode(o.value);
        break;
      case 'aliasOffset':
        if (mr.alias) mr.setAliasOffset(o.offset);
        break;
      case 'detach':
        mr.container?.delSubregion(mr);
        break;
      case 'attach': {
        const parent = parents[o.parent % parents.length]!;
        if (!mr.container && !reaches(mr, parent)) parent.addSubregionOverlap(o.addr, mr, o.priority);
        break;
      }
    }
  }
  for (; depth > 0; depth--) mem.commit();
  return { mem, setupRenders };
}

const seed = Number(process.env.VDM_SEED ?? 20261130);

test('every commit of random mutation sequences equals a full re-render (views, listener events, dispatch)', () => {
  let patches = 0;
  let renders = 0;
  fc.assert(
    fc.property(scenario, (s) => {
      const { mem, setupRenders } = run(s);
      patches += mem.stats.patches;
      renders += mem.stats.renders - setupRenders;
    }),
    { numRuns: 1200, seed },
  );
  // The incremental path did the work: after the first views, patches rather than renders from
  // scratch (those remain for roots an address space switches to).
  assert.ok(patches > 5 * renders, `${patches} patches, ${renders} full renders`);
});

test('the check catches a render it did not expect: a field changed behind the API', () => {
  const mem = new MemorySystem({ checkRender: true });
  const root = mem.container('root', SPAN);
  const a = mem.ram('a', 0x1000);
  const b = mem.ram('b', 0x1000);
  root.addSubregion(0, a);
  root.addSubregion(0x4000, b);
  mem.addressSpace('as', root);
  a.readonly = true; // no setter: nothing notes where a renders, so no patch covers it
  try {
    b.setAddress(0x8000);
    assert.unreachable('the commit should have thrown');
  } catch (e) {
    assert.instance(e, RenderMismatchError);
    assert.match(
      (e as Error).message,
      'incremental render of root: range 0 is [0x0-0xfff] a@0x0, a full render has [0x0-0xfff] a@0x0 ro',
    );
  }
});

test.run();
