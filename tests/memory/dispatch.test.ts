// The compiled dispatch structure (vdm's counterpart of physmem.c's AddressSpaceDispatch:
// phys_page_find, register_subpage, address_space_lookup_region), and memory_region_find.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dispatch, U64_SPAN } from '../../src/memory/index.ts';
import { setup, io } from './helpers.ts';

function regionAt(as: ReturnType<typeof setup>['as'], addr: number): string {
  const d = as.dispatch;
  const s = d.lookup(addr);
  if (s === 0) return 'unassigned';
  return `${d.secRegion[s]!.name}@0x${d.offset(s, addr).toString(16)}`;
}

test('sub-page regions resolve through a subpage table (physmem.c:register_subpage)', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0x1000, io(mem, 'A', 0x100));
  root.addSubregion(0x1100, io(mem, 'B', 0x100));
  assert.is(regionAt(as, 0x1080), 'A@0x80');
  assert.is(regionAt(as, 0x11ff), 'B@0xff');
  assert.is(regionAt(as, 0x1200), 'unassigned');
  assert.is(regionAt(as, 0x2000), 'unassigned');
  // The subpage table is sized by the finest boundary in its page: 0x100 granules, 16 entries.
  assert.ok(as.dispatch.tableSizes().includes(16));
});

test('lookups never hit a neighbouring page by index aliasing (section_covers_addr)', () => {
  const { mem, as } = setup(0x8000, 'A');
  const B = mem.container('B', 0x4000);
  B.addSubregion(0, io(mem, 'D', 0x1000));
  B.addSubregion(0x2000, io(mem, 'E', 0x1000));
  as.root.addSubregionOverlap(0, io(mem, 'C', 0x6000), 1);
  as.root.addSubregionOverlap(0x2000, B, 2);
  assert.is(regionAt(as, 0x0), 'C@0x0');
  assert.is(regionAt(as, 0x3fff), 'C@0x3fff');
  assert.is(regionAt(as, 0x4000), 'E@0x0');
  assert.is(regionAt(as, 0x200000), 'unassigned', 'page 512 shares index 0 with page 0 at the leaf level');
  assert.is(regionAt(as, 0x6000), 'unassigned');
});

test('lookup depth is bounded whatever the number of regions; aligned large ranges stop high', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0, mem.ram('ram', 0x100000000));
  mem.transaction(() => {
    for (let i = 0; i < 2000; i++) root.addSubregion(0x100000000 + i * 0x100, io(mem, `r${i}`, 0x80));
  });
  root.addSubregion(2 ** 52, mem.ram('high', 0x1000));
  assert.is(as.dispatch.depth(0x1234), 0, 'a 4 GiB RAM at 0 is a leaf at the root level');
  for (const a of [0x100000000, 0x100000000 + 1999 * 0x100 + 0x7f, 2 ** 52 + 5]) assert.ok(as.dispatch.depth(a) <= 5);
  assert.is(regionAt(as, 0x100000000 + 1999 * 0x100 + 0x7f), 'r1999@0x7f');
  assert.is(regionAt(as, 0x100000000 + 1999 * 0x100 + 0x80), 'unassigned');
  assert.is(regionAt(as, 2 ** 52 + 5), 'high@0x5');
});

test('ranges past 2^53 are left to the cold path; the rest still compiles', () => {
  const { mem, root, as } = setup(U64_SPAN);
  root.addSubregion(0xfffffffffffff000n, io(mem, 'T', 0x1000));
  root.addSubregion(0x1000, io(mem, 'L', 0x1000));
  const d = new Dispatch(as.view.ranges);
  assert.is(d.count, 2);
  assert.is(regionAt(as, 0x1000), 'L@0x0');
});

test('the MRU entry serves repeated lookups and is invalidated by a new view', () => {
  const { mem, root, as } = setup();
  const A = io(mem, 'A', 0x1000);
  root.addSubregion(0, A);
  as.read(0x10, 4);
  assert.is(as.dispatch.secRegion[as.dispatch.mru]!.name, 'A');
  A.setAddress(0x2000);
  assert.is(as.dispatch.mru, 0, 'a rebuilt view starts with an empty MRU');
  assert.is(regionAt(as, 0x10), 'unassigned');
});

test('memory_region_find returns the first overlapping range, clipped', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.ram('R', 0x4000));
  const M = io(mem, 'M', 0x1000);
  root.addSubregionOverlap(0x1000, M, 1);
  const found = mem.find(root, 0x1800, 0x1000)!;
  assert.is(found.mr, M);
  assert.is(found.offsetWithinRegion, 0x800n);
  assert.is(found.size, 0x800n);
  assert.is(found.offsetWithinAddressSpace, 0x1800n);
  assert.is(found.as, as);
  assert.is(mem.find(mem.ram('unmapped', 0x1000), 0, 0x10), null);
});

test.run();
