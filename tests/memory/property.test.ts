// Randomized cross-check: render + simplify (system/memory.c) and the compiled dispatch table
// against the reference lookup of reference.ts, on thousands of random trees with aliases,
// nesting, priorities, disabled regions, readonly flags, moves and overlaps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MemorySystem, type MemoryRegion, type AddressSpace } from '../../src/memory/index.ts';
import { refLookup } from './reference.ts';
import { SectionKind } from '../../src/memory/dispatch.ts';

const SPAN = 0x10000;
const kinds = ['container', 'io', 'ram', 'alias'] as const;

const regionSpec = fc.record({
  kind: fc.constantFrom(...kinds),
  size: fc.integer({ min: 1, max: 0x80 }).map((n) => n * 0x100),
  addr: fc.integer({ min: 0, max: 0xff }).map((n) => n * 0x100),
  oddAddr: fc.boolean(), // sub-page offsets exercise the subpage tables
  parent: fc.nat(),
  target: fc.nat(),
  aliasOffset: fc.integer({ min: 0, max: 0x40 }).map((n) => n * 0x100),
  priority: fc.integer({ min: -2, max: 2 }),
  enabled: fc.integer({ min: 0, max: 3 }).map((n) => n !== 0),
  readonly: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
const moveSpec = fc.record({
  region: fc.nat(),
  addr: fc.integer({ min: 0, max: 0xff }).map((n) => n * 0x100),
  toggle: fc.boolean(),
});
const treeSpec = fc.record({
  regions: fc.array(regionSpec, { minLength: 1, maxLength: 14 }),
  moves: fc.array(moveSpec, { maxLength: 4 }),
  probes: fc.array(fc.integer({ min: 0, max: SPAN + 0x100 }), { minLength: 8, maxLength: 8 }),
});

type TreeSpec = typeof treeSpec extends fc.Arbitrary<infer T> ? T : never;

/** Builds the tree; an alias that would make a cycle becomes plain io. */
function build(spec: TreeSpec): { as: AddressSpace; regions: MemoryRegion[] } {
  const mem = new MemorySystem();
  const root = mem.container('root', SPAN);
  const regions: MemoryRegion[] = [];
  const reaches = (from: MemoryRegion, to: MemoryRegion): boolean =>
    from === to || (from.alias !== null && reaches(from.alias, to)) || from.children.some((c) => reaches(c, to));
  spec.regions.forEach((r, i) => {
    const name = `r${i}`;
    let mr: MemoryRegion;
    const target = regions.length ? regions[r.target % regions.length]! : undefined;
    if (r.kind === 'alias' && target) mr = mem.alias(name, target, r.aliasOffset, r.size);
    else if (r.kind === 'ram') mr = mem.ram(name, r.size);
    else if (r.kind === 'container') mr = mem.container(name, r.size);
    else mr = mem.io(name, r.size, { read: () => 0, write: () => {} });
    if (!r.enabled) mr.setEnabled(false);
    if (r.readonly) mr.setReadonly(true);
    const parents = [root, ...regions.filter((p) => !p.alias)];
    const parent = parents[r.parent % parents.length]!;
    const addr = r.addr + (r.oddAddr ? 0x40 : 0);
    // The render graph (children + alias edges) must stay acyclic: QEMU would recurse forever.
    if (!reaches(mr, parent)) parent.addSubregionOverlap(addr, mr, r.priority);
    regions.push(mr);
  });
  for (const m of spec.moves) {
    const mr = regions[m.region % regions.length]!;
    if (m.toggle) mr.setEnabled(!mr.enabled);
    else mr.setAddress(m.addr);
  }
  return { as: mem.addressSpace('as0', root), regions };
}

function checkTree(spec: TreeSpec): void {
  const { as } = build(spec);
  const ranges = as.view.ranges;
  // Structure: sorted, disjoint, non-empty, and nothing left that flatview_simplify would merge.
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    assert.ok(r.size > 0n);
    const prev = ranges[i - 1];
    if (!prev) continue;
    assert.ok(prev.start + prev.size <= r.start, 'ranges are sorted and disjoint');
    const mergeable =
      prev.start + prev.size === r.start &&
      prev.mr === r.mr &&
      prev.offsetInRegion + prev.size === r.offsetInRegion &&
      prev.readonly === r.readonly &&
      !prev.unmergeable &&
      !r.unmergeable;
    assert.not.ok(mergeable, 'simplify left two mergeable neighbours');
  }
  // Points: every boundary, its neighbours, and random probes.
  const points = new Set<number>(spec.probes);
  for (const r of ranges) for (const p of [r.start, r.start + r.size - 1n, r.start + r.size]) points.add(Number(p));
  for (const p of [...points]) points.add(Math.max(0, p - 1));
  const d = as.dispatch;
  for (const addr of points) {
    const want = refLookup(as.root, BigInt(addr));
    const fr = as.lookup(BigInt(addr));
    const got = fr ? { mr: fr.mr, offset: BigInt(addr) - fr.start + fr.offsetInRegion, readonly: fr.readonly } : null;
    assert.equal(describe(got), describe(want), `flat view at 0x${addr.toString(16)}`);
    const s = d.lookup(addr);
    // The dispatch's own read-only-ness: a RAM section reached through a readonly range is a ROM
    // section (writes dropped); for MMIO the flag changes nothing, so only RAM is compared on it.
    const viaDispatch =
      s === 0
        ? null
        : {
            mr: d.secRegion[s]!,
            offset: BigInt(d.offset(s, addr)),
            readonly: d.kind(s) === SectionKind.Rom,
          };
    assert.equal(
      describe(viaDispatch),
      describe(want ? { ...want, readonly: want.readonly && want.mr.isRam } : null),
      `dispatch at 0x${addr.toString(16)}`,
    );
  }
}

function describe(hit: { mr: MemoryRegion; offset: bigint; readonly: boolean } | null): string {
  return hit ? `${hit.mr.name}+0x${hit.offset.toString(16)}${hit.readonly ? ' ro' : ''}` : 'unassigned';
}

test('render + simplify + dispatch agree with the Visibility reference on random trees', () => {
  fc.assert(
    fc.property(treeSpec, (spec) => checkTree(spec)),
    { numRuns: 2500, seed: Number(process.env.VDM_SEED ?? 20261122) },
  );
});

test.run();
