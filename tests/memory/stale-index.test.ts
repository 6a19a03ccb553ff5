// The fast paths of an address space while a commit is under way: memory listeners run between
// the views being patched in place and each address space being given its new view, and an access
// they make must answer as the miss path does (here, with the patched view), never from a page
// index, offsets or callbacks left over from before the commit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MemoryListener,
  MemorySystem,
  U64_SPAN,
  type AddressSpace,
  type MemoryRegion,
} from '../../src/memory/index.ts';

/** A device whose 4-byte register at offset o reads as tag + o (so a wrong offset or device shows). */
function device(mem: MemorySystem, name: string, tag: number, size = 0x1000): MemoryRegion {
  return mem.io(name, size, {
    read: (o) => tag + o,
    write: () => {},
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
}

/** 15 devices at 0x2000 * (k + 1): sections 1..15, and a page index built by 64 misses. */
function machine(): { mem: MemorySystem; root: MemoryRegion; as: AddressSpace; devs: MemoryRegion[] } {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const devs: MemoryRegion[] = [];
  mem.transaction(() => {
    for (let k = 0; k < 15; k++) {
      const dev = device(mem, `dev${k}`, 0x1000_0000 * (k + 1));
      root.addSubregion(0x2000 * (k + 1), dev);
      devs.push(dev);
    }
  });
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100_0000, 4);
  assert.ok(as.dispatch.pages.length > 0, 'the page index is built');
  assert.is(as.read(0x2010, 4), 0x1000_0010, 'served from the page index');
  return { mem, root, as, devs };
}

/** Runs `change` in a commit whose listener reads `addr` at `begin`, the first thing a commit tells listeners. */
function readAtBegin(mem: MemorySystem, as: AddressSpace, addr: number, change: () => void): number {
  const l = new MemoryListener('reader');
  let got = -1;
  let armed = false;
  l.on('begin', () => {
    if (armed) got = as.read(addr, 4);
  });
  as.addListener(l);
  armed = true;
  change();
  armed = false;
  return got;
}

test('a listener at commit reads a device added where the page index has room, at its own offsets', () => {
  const { mem, root, as } = machine();
  const late = device(mem, 'late', 0x7000_0000);
  // Section 16 outgrows the dispatch's section arrays, its per-section offsets among them.
  const got = readAtBegin(mem, as, 0x1_1010, () => root.addSubregion(0x1_1000, late));
  assert.is(got, 0x7000_0010, 'offset 0x10 of the new device, as the miss path answers');
  assert.is(as.read(0x1_1010, 4), 0x7000_0010, 'and after the commit');
});

test('a listener at commit never reaches a removed device through a page index rebuilt at a finer block', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const dev = device(mem, 'dev', 0x1000_0000, 0x10_0000);
  root.addSubregion(0x100_0000, dev);
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x200_0000, 4);
  assert.is(as.dispatch.pageShift, 20, 'blocks of 1 MiB');
  assert.is(as.read(0x100_0010, 4), 0x1000_0010, 'served from the page index');
  // One commit: a 4 KiB device below (the index is rebuilt in 4 KiB blocks), and dev goes.
  const small = device(mem, 'small', 0x7000_0000);
  const got = readAtBegin(mem, as, 0x100_0010, () =>
    mem.transaction(() => {
      root.addSubregion(0x1000, small);
      root.delSubregion(dev);
    }),
  );
  assert.is(got, 0, 'nothing is at 0x1000010 any more: unassigned reads as 0');
  assert.is(as.read(0x1010, 4), 0x7000_0010);
});

test.run();
