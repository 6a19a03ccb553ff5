// Dispatch.update: a dispatch patched in place for the changed intervals of each new view answers
// exactly like one compiled fresh from that view (QEMU recompiles on every commit,
// physmem.c:address_space_dispatch_new + flatview_add_to_dispatch; vdm patches what changed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  Dispatch,
  Sec,
  MemorySystem,
  U64_SPAN,
  flatRangeEqual,
  type FlatRange,
  type MemoryRegion,
} from '../../src/memory/index.ts';
import { setup, io } from './helpers.ts';

/** Every interval where two views may answer differently: ranges present in one and not the other. */
function changedIntervals(a: readonly FlatRange[], b: readonly FlatRange[]): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const)
    for (const r of x) if (!y.some((q) => flatRangeEqual(q, r))) out.push([r.start, r.start + r.size]);
  return out;
}

/** What a lookup tells the access path: start, end, delta, kind and region, or unassigned. */
function answer(d: Dispatch, addr: number): string {
  const s = d.lookup(addr);
  if (s === 0) return 'unassigned';
  const p = s * Sec.Stride;
  return `${d.secRegion[s]!.name} [${d.sec[p]}, ${d.sec[p + 1]}) delta ${d.sec[p + 2]} kind ${d.sec[p + 3]}`;
}

function probes(views: (readonly FlatRange[])[], extra: number[]): number[] {
  const points = new Set(extra);
  for (const v of views)
    for (const r of v)
      for (const p of [r.start, r.start + r.size])
        for (const q of [p - 1n, p, p + 1n]) if (q >= 0n && q < 2n ** 53n) points.add(Number(q));
  return [...points];
}

const BASES = [0, 0x3000, 0xfffff000, 0x1_0000_0000, 0x3ff_ffc0_0000, 2 ** 52];
const regionSpec = fc.record({
  kind: fc.constantFrom('ram', 'io', 'ramd', 'container'),
  base: fc.constantFrom(...BASES),
  off: fc.integer({ min: 0, max: 0x80 }).map((n) => n * 0x80),
  size: fc.oneof(
    fc.integer({ min: 1, max: 0x40 }).map((n) => n * 8),
    fc.integer({ min: 1, max: 0x20 }).map((n) => n * 0x1000),
    fc.constant(0x800000),
  ),
  priority: fc.integer({ min: -1, max: 2 }),
  parent: fc.nat(),
});
const changeSpec = fc.record({
  region: fc.nat(),
  base: fc.constantFrom(...BASES),
  off: fc.integer({ min: 0, max: 0x80 }).map((n) => n * 0x40),
  action: fc.constantFrom('move', 'toggle', 'toggle', 'move'),
  coarse: fc.integer({ min: 0, max: 5 }),
});
const specArb = fc.record({
  regions: fc.array(regionSpec, { minLength: 1, maxLength: 12 }),
  changes: fc.array(changeSpec, { minLength: 1, maxLength: 8 }),
  probes: fc.array(fc.integer({ min: 0, max: 2 ** 33 }), { maxLength: 6 }),
});

test('a patched dispatch answers like a freshly compiled one after every change', () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const mem = new MemorySystem();
      const root = mem.container('root', U64_SPAN);
      const regions: MemoryRegion[] = [];
      mem.transaction(() => {
        spec.regions.forEach((r, i) => {
          const name = `r${i}`;
          const size = r.kind === 'container' ? Math.max(r.size, 0x2000) : r.size;
          const mr =
            r.kind === 'ram'
              ? mem.ram(name, size)
              : r.kind === 'ramd'
                ? mem.ramDevice(name, size)
                : r.kind === 'container'
                  ? mem.container(name, size)
                  : io(mem, name, size);
          const parents = [root, ...regions.filter((p) => !p.terminates)];
          const parent = parents[r.parent % parents.length]!;
          parent.addSubregionOverlap(parent === root ? r.base + r.off : r.off % Number(parent.size), mr, r.priority);
          regions.push(mr);
        });
      });
      const as = mem.addressSpace('as0', root);
      // Views are patched in place by commits: keep a copy of the ranges before each change.
      let before = as.view.ranges.slice();
      const patched = new Dispatch(before);
      for (const c of spec.changes) {
        const mr = regions[c.region % regions.length]!;
        if (c.action === 'toggle') mr.setEnabled(!mr.enabled);
        else mr.setAddress(mr.container === root ? c.base + c.off : c.off % Number(mr.container!.size));
        const next = as.view;
        // Exact intervals, a coarser superset, or "everything" must all give the same answers.
        const exact = changedIntervals(before, next.ranges);
        const changed =
          c.coarse === 0
            ? null
            : c.coarse === 1
              ? exact.map(([s, e]) => [s - (s % 0x400000n), e + 0x1000n] as [bigint, bigint])
              : exact;
        patched.update(next, changed);
        const fresh = new Dispatch(next.ranges);
        for (const p of probes([before, next.ranges], spec.probes))
          assert.is(answer(patched, p), answer(fresh, p), `0x${p.toString(16)} after ${c.action} of ${mr.name}`);
        before = next.ranges.slice();
      }
    }),
    { numRuns: 300, seed: Number(process.env.VDM_SEED ?? 20261130) },
  );
});

test('a commit patches the compiled dispatch of a patched view; tables are reused, not grown', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0, mem.ram('ram', 0x100000));
  const bar = io(mem, 'bar', 0x4000);
  root.addSubregion(0xfe000000, bar);
  as.read(0xfe000000, 4);
  const d = as.dispatch;
  const words: number[] = [];
  for (let i = 0; i < 40; i++) {
    const old = as.view.ranges.slice();
    bar.setAddress(i % 2 ? 0xfe000000 : 0x1_0000_0000 + (i % 4) * 0x10000 + 0x80);
    assert.is(as.dispatch, d, 'the same dispatch, patched in place');
    const fresh = new Dispatch(as.view.ranges);
    for (const p of probes([as.view.ranges, old], [0x1_0000_0080, 0x1_0001_0080, 0xfe003fff]))
      assert.is(answer(d, p), answer(fresh, p), `0x${p.toString(16)}, move ${i}`);
    words.push(d.poolWords);
  }
  assert.is(words[39], words[7], `pool words: ${words.join(',')}`);
  assert.is(as.read(0xfe000000, 4), 0);
});

test('a 4 KiB page shared by an 8-byte register and a RAM device keeps a short list, not a 512-entry table', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0x7000, io(mem, 'pba', 8));
  root.addSubregion(0x7008, mem.ramDevice('mmap', 0xff8));
  const sizes = as.dispatch.tableSizes();
  assert.not.ok(sizes.includes(512), `tables: ${sizes.join(',')}`);
  assert.is(as.dispatch.lookup(0x7007), as.dispatch.lookup(0x7000));
  assert.is.not(as.dispatch.lookup(0x7008), as.dispatch.lookup(0x7000));
  assert.is(as.dispatch.secRegion[as.dispatch.lookup(0x7fff)]!.name, 'mmap');
});

test.run();
