// The fast windows serve what the design says they do: a RAM window over a whole chunk, over just
// the part of a chunk that a section covers (an mmapped BAR cut by an MSI-X table overlay, as
// hw/vfio/pci.c:vfio_bar_register lays it out), never over a read-only section's stores; an MMIO
// window over the MMIO section two misses in a row reached; and the dispatch's flat page index,
// which serves 4-byte accesses to whole pages of MMIO below 4 GiB without a miss. A fast path that
// silently stops working costs a lookup per access with every answer still right, so only this
// test sees it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MEMTX_DECODE_ERROR,
  MEMTX_OK,
  MemorySystem,
  RamBlock,
  U64_SPAN,
  type AddressSpace,
} from '../../src/memory/index.ts';

/** The region the page index names for addr's block, or null (its entry is 0). */
function indexed(as: AddressSpace, addr: number): string | null {
  const d = as.dispatch;
  return d.secRegion[d.pages[addr >>> d.pageShift] ?? 0]?.name ?? null;
}

function bar(mem = new MemorySystem()) {
  const root = mem.container('system', U64_SPAN);
  const ram = mem.ram('ram', 0x10000);
  const bar0 = mem.container('bar0', 0x4000);
  const mmap = mem.ramDevice('bar0 mmaps[0]', 0x4000);
  const regs = new Uint32Array(0x400);
  const table = mem.io('msix-table', 0x1000, {
    read: (o) => regs[o >>> 2]!,
    write: (o, v) => void (regs[o >>> 2] = Number(v)),
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  mem.transaction(() => {
    root.addSubregion(0, ram);
    bar0.addSubregion(0, mmap);
    bar0.addSubregionOverlap(0x2000, table, 1);
    root.addSubregion(0xfe00_0000, bar0);
  });
  return mem.addressSpace('memory', root);
}

test('a RAM window covers the whole chunk of guest RAM', () => {
  const as = bar();
  as.write(0x100, 1, 4);
  assert.equal(as.windows.ram, [0, 0x10000]);
});

test('a 2 GiB guest RAM is two 1 GiB windows: random accesses within a gigabyte never move it', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const ram = mem.ram('pc.ram', 2 ** 31);
  mem.transaction(() => root.addSubregion(0x1_0000_0000, ram));
  const as = mem.addressSpace('memory', root);
  as.write(0x1_0000_0000 + 0x3fff_fffc, 1, 4);
  assert.equal(as.windows.ram, [0x1_0000_0000, 0x1_4000_0000]);
  for (const at of [0, 0x1234_5678, 0x2000_0000, 0x3fff_fff8]) as.write(0x1_0000_0000 + (at & ~3), at, 4);
  assert.equal(as.windows.ram, [0x1_0000_0000, 0x1_4000_0000], 'no move within the first gigabyte');
  assert.is(as.read(0x1_1234_5678, 4), 0x1234_5678);
  as.write(0x1_4000_0000, 9, 4);
  assert.equal(as.windows.ram, [0x1_4000_0000, 0x1_8000_0000]);
  assert.is(ram.ramBlock!.allocatedChunks, 2);
  assert.is(as.read(0x1_3fff_fff8, 4), 0x3fff_fff8, 'back in the first chunk: the same bytes');
});

test('a section clipped at both ends keeps the views of both clipped chunks: moving between them makes none', () => {
  // QEMU pc with 4 GiB: ram-below-4g is pc.ram [0, 0xe0000000) at 0, VGA over [0xa0000, 0xc0000), so
  // the section [0x100000, 0xe0000000) starts inside chunk 0 and ends inside chunk 3.
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const ram = mem.ram('pc.ram', 2 ** 32);
  mem.transaction(() => {
    root.addSubregion(0, mem.alias('ram-below-4g', ram, 0, 0xe000_0000));
    root.addSubregionOverlap(0xa0000, mem.io('vga', 0x60000, { read: () => 0, write: () => {} }), 1);
  });
  const as = mem.addressSpace('memory', root);
  as.write(0x20_0000, 1, 4);
  as.write(0xd000_0000, 2, 4);
  const views = new Set<unknown>();
  for (let k = 0; k < 100; k++) {
    assert.is(as.read(k & 1 ? 0x20_0000 : 0xd000_0000, 4), k & 1 ? 1 : 2);
    assert.equal(as.windows.ram, k & 1 ? [0x10_0000, 0x4000_0000] : [0xc000_0000, 0xe000_0000]);
    for (const v of as.dispatch.secViews) if (v) views.add(v).add(v.other);
  }
  views.delete(null);
  assert.is(views.size, 2, 'one set of views per clipped chunk, made once');
});

test('the mmapped BAR pieces around the MSI-X table each get a window of just their part', () => {
  const as = bar();
  as.write(0xfe00_0004, 7, 4);
  assert.equal(as.windows.ram, [0xfe00_0000, 0xfe00_2000]);
  assert.is(as.read(0xfe00_0004, 4), 7);
  as.write(0xfe00_3008, 9, 4);
  assert.equal(as.windows.ram, [0xfe00_3000, 0xfe00_4000]);
  assert.is(as.read(0xfe00_3008, 4), 9);
  assert.is(as.read(0xfe00_0004, 4), 7, 'back to the first piece: the kept views, same bytes');
  assert.equal(as.windows.ram, [0xfe00_0000, 0xfe00_2000]);
});

test('the MSI-X table in between takes the MMIO window on a second miss, and the RAM window never covers it', () => {
  const as = bar();
  as.write(0xfe00_1ffc, 5, 4);
  as.write(0xfe00_2000, 0x1234, 4);
  assert.is(as.windows.mmio, null, 'one miss: no window yet');
  as.write(0xfe00_2004, 0x5678, 4);
  assert.equal(as.windows.mmio, [0xfe00_2000, 0xfe00_3000]);
  assert.equal(as.windows.ram, [0xfe00_0000, 0xfe00_2000]);
  assert.is(as.read(0xfe00_2000, 4), 0x1234);
  assert.is(as.read(0xfe00_1ffc, 4), 5);
});

test('a chunk written before any window gets its 16- and 32-bit views when a window first moves to it, and keeps them', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const block = new RamBlock(0x4000, 0x1000); // four 4 KiB chunks
  block.write(0x1008, 0x12345678, 4);
  block.write(0x2004, 0xabcd, 2);
  root.addSubregion(0x10000, mem.ramDevice('bar', 0x4000, block));
  const as = mem.addressSpace('memory', root);
  assert.is(as.read(0x11008, 4), 0x12345678);
  assert.equal(as.windows.ram, [0x11000, 0x12000]);
  const v32 = block.view32(1);
  const v16 = block.view16(1);
  assert.is(as.read(0x12004, 2), 0xabcd);
  assert.equal(as.windows.ram, [0x12000, 0x13000]);
  assert.is(as.read(0x1100a, 2), 0x1234, 'back to chunk 1');
  assert.equal(as.windows.ram, [0x11000, 0x12000]);
  assert.ok(block.view32(1) === v32 && block.view16(1) === v16, 'the views made for chunk 1 are kept, not made again');
  // The window's views and the block's bytes are one buffer, both ways.
  as.write(0x11010, 0xdeadbeef, 4);
  assert.is(block.read(0x1010, 4), 0xdeadbeef);
  block.write(0x1014, 0x55, 1);
  assert.is(as.read(0x11014, 4), 0x55);
  assert.is(v32[(0x1014 >>> 2) & 0x3ff], 0x55);
});

test('a view change closes both windows', () => {
  const as = bar();
  as.write(0x100, 1, 4);
  as.read(0xfe00_2000, 4);
  as.root.subregions[0]!.setAddress(0x20000);
  assert.equal(as.windows, { ram: null, mmio: null });
});

test('a size other than 1, 2, 4 or 8 is refused even with the MMIO window open on a device that takes 1 and 2', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const sizes: number[] = [];
  const dev = mem.io('dev', 0x1000, {
    read: (_o, size) => (sizes.push(size), 0x11),
    write: (_o, _v, size) => void sizes.push(size),
    valid: { minAccessSize: 1, maxAccessSize: 4 },
    impl: { minAccessSize: 1, maxAccessSize: 4 },
    endianness: 'little',
  });
  root.addSubregion(0x1000, dev);
  const as = mem.addressSpace('memory', root);
  for (const size of [3, 5, 6, 7, 2.5]) {
    as.read(0x1000, 4);
    as.read(0x1004, 4);
    assert.equal(as.windows.mmio, [0x1000, 0x2000]);
    sizes.length = 0;
    assert.is(as.read(0x1000, size), 0, `read of ${size}`);
    assert.is(as.result, MEMTX_DECODE_ERROR);
    assert.is(as.write(0x1000, 1, size), MEMTX_DECODE_ERROR, `write of ${size}`);
    assert.equal(sizes, [], `the device saw no ${size}-byte access`);
  }
});

test('a failed access closes every fast path, so the next access through one reports MemTx.Ok again', () => {
  const as = bar();
  as.write(0x100, 1, 4);
  as.read(0xfe00_2000, 4);
  as.read(0xfe00_2004, 4);
  assert.equal(as.windows, { ram: [0, 0x10000], mmio: [0xfe00_2000, 0xfe00_3000] });
  as.read(0x20000, 4); // nothing there
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.equal(as.windows, { ram: null, mmio: null });
  assert.is(as.read(0x100, 4), 1);
  assert.is(as.result, MEMTX_OK);
  as.read(0x20000, 2);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.is(as.read(0xfe00_2000, 4), 0);
  assert.is(as.result, MEMTX_OK);
});

test('after 64 misses the page index serves whole pages of direct MMIO below 4 GiB, and commits keep it right', () => {
  const mem = new MemorySystem();
  const as = bar(mem);
  const regs = new Uint32Array(0x800);
  const dev = mem.io('dev', 0x2000, {
    read: (o) => regs[o >>> 2]!,
    write: (o, v) => void (regs[o >>> 2] = Number(v)),
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  const high = mem.io('high', 0x1000, { read: () => 0x77, write: () => {}, endianness: 'little' });
  mem.transaction(() => {
    as.root.addSubregion(0xfd00_0000, dev);
    as.root.addSubregion(0x1_0000_0000, high);
  });
  for (let k = 0; k < 63; k++) as.read(0x20000, 4);
  assert.is(as.dispatch.pages.length, 0, 'not built before the 64th miss');
  as.read(0x20000, 4);
  const d = as.dispatch;
  const at = (addr: number) => indexed(as, addr);
  assert.is(at(0xfd00_0000), 'dev');
  assert.is(at(0xfd00_1000), 'dev');
  assert.is(at(0xfe00_2000), 'msix-table');
  assert.is(at(0xfe00_0000), null, 'the mmapped BAR is RAM-device: the RAM window serves it');
  assert.is(at(0), null, 'RAM');
  assert.is(d.pages.length, 0xfe003, 'as long as the highest indexed page');
  // Served with no miss: a miss would open the MMIO window on the second access to a section.
  as.write(0xfd00_1004, 0xabcd, 4);
  assert.is(as.read(0xfd00_1004, 4), 0xabcd);
  assert.is(regs[0x401], 0xabcd);
  assert.is(as.windows.mmio, null);
  assert.is(as.read(0x1_0000_0000, 4), 0x77, 'above 4 GiB: the miss path');
  // A commit re-indexes what moved, and nothing else.
  dev.setAddress(0xfc00_0000);
  assert.is(at(0xfd00_0000), null);
  assert.is(at(0xfc00_1000), 'dev');
  assert.is(at(0xfe00_2000), 'msix-table');
  assert.is(as.read(0xfc00_1004, 4), 0xabcd);
  assert.is(as.read(0xfd00_1004, 4), 0);
  assert.is(as.result, MEMTX_DECODE_ERROR);
});

test('a RAM window across 4 GiB never answers for a low address its offset wraps onto', () => {
  // The inlined path computes offsets modulo 2^32: a window over [2^32 - 4 KiB, 2^32 + 4 KiB) must
  // not serve address 0 as its byte 4 KiB.
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const low = mem.ram('low', 0x1000);
  const cross = mem.ram('cross', 0x2000);
  mem.transaction(() => {
    root.addSubregion(0, low);
    root.addSubregion(2 ** 32 - 0x1000, cross);
  });
  const as = mem.addressSpace('memory', root);
  as.write(0, 0x1111, 4);
  as.write(2 ** 32, 0x2222, 4);
  assert.is(as.read(2 ** 32 - 0x1000, 4), 0);
  assert.equal(as.windows.ram, [2 ** 32 - 0x1000, 2 ** 32 + 0x1000]);
  assert.is(as.read(0, 4), 0x1111);
  assert.is(as.read(2 ** 32 - 0x1000, 4), 0);
  assert.is(as.write(4, 0x3333, 4), MEMTX_OK);
  assert.is(as.read(2 ** 32 + 4, 4), 0);
  assert.is(as.read(4, 4), 0x3333);
  assert.is(as.read(2 ** 32, 4), 0x2222);
});

test('the page index takes the coarsest block its sections are aligned to, and a finer one when a section needs it', () => {
  // 1 000 devices of 128 KiB: 1 000 entries of 128 KiB (4 KiB entries would be 32 000, out of cache).
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const ops = { read: (o: number) => o, write: () => {}, endianness: 'little' as const };
  mem.transaction(() => {
    for (let k = 0; k < 1000; k++) root.addSubregion(0x1000_0000 + k * 0x20000, mem.io(`dev${k}`, 0x20000, ops));
  });
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100000, 4);
  const d = as.dispatch;
  assert.is(d.pageShift, 17);
  assert.is(d.pages.length, (0x1000_0000 >>> 17) + 1000);
  assert.is(indexed(as, 0x1000_0000 + 999 * 0x20000 + 0x1fffc), 'dev999');
  assert.is(as.read(0x1000_0000 + 5 * 0x20000 + 0x104, 4), 0x104);
  // A 4 KiB register page: the index is rebuilt with 4 KiB blocks, every device still in it.
  root.addSubregion(0x0800_1000, mem.io('regs', 0x1000, ops));
  assert.is(d.pageShift, 12);
  assert.is(indexed(as, 0x0800_1000), 'regs');
  assert.is(indexed(as, 0x0800_2000), null);
  assert.is(indexed(as, 0x1000_0000 + 999 * 0x20000 + 0x1fffc), 'dev999');
  assert.is(as.read(0x0800_1008, 4), 8);
  assert.is(as.read(0x1000_0000 + 7 * 0x20000 + 0x1ff0, 4), 0x1ff0);
});

test('an address space that counts accesses by path never builds the page index', () => {
  const as = bar();
  as.stats = true;
  for (let k = 0; k < 200; k++) as.read(0xfe00_2000 + (k % 64) * 4, 4);
  assert.is(as.dispatch.pages.length, 0);
  assert.is(as.counters.mmio, 200, 'every access took the miss path and was counted');
  as.stats = false;
  for (let k = 0; k < 64; k++) as.read(0x20000, 4);
  assert.is(indexed(as, 0xfe00_2000), 'msix-table');
});

test('a section whose region offsets are not aligned as its addresses stays out of the page index', () => {
  // memory.c:memory_region_access_valid refuses an offset not aligned to the access unless
  // valid.unaligned: the page index checks the address's alignment only, so it must not hold such a section.
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const seen: number[] = [];
  const dev = mem.io('dev', 0x3000, {
    read: (o) => (seen.push(o), 0x1234),
    write: (o) => void seen.push(o),
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  root.addSubregion(0x10000, mem.alias('dev+2', dev, 2, 0x2000));
  root.addSubregion(0x20000, mem.alias('dev+8', dev, 8, 0x2000));
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100000, 4);
  assert.is(indexed(as, 0x10000), null, 'offset 2 off the address: not indexed');
  assert.is(indexed(as, 0x20000), 'dev', 'offset 8 off: indexed');
  as.read(0x10000, 4);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  as.write(0x10004, 1, 4);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.equal(seen, [], 'the device saw no unaligned access');
  assert.is(as.read(0x20004, 4), 0x1234);
  assert.equal(seen, [0xc]);
});

test('a section whose region offsets reach 2^31 stays out of the page index (its offsets are 32-bit integers)', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const seen: number[] = [];
  const big = mem.io('big', 2 ** 32, {
    read: (o) => (seen.push(o), 7),
    write: () => {},
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  root.addSubregion(0x10000, mem.alias('big+2G', big, 2 ** 31, 0x2000));
  root.addSubregion(0x20000, mem.alias('big+2G-8K', big, 2 ** 31 - 0x2000, 0x2000));
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100000, 4);
  assert.is(indexed(as, 0x10000), null);
  assert.is(indexed(as, 0x21000), 'big', 'offsets below 2^31: indexed');
  as.read(0x20000, 4); // a miss, after which the index serves this address space
  assert.is(as.read(0x10004, 4), 7);
  assert.is(as.read(0x21ffc, 4), 7);
  assert.equal(seen, [2 ** 31 - 0x2000, 2 ** 31 + 4, 2 ** 31 - 4]);
});

test('1-, 2- and 8-byte accesses to an indexed page take the miss path, then the MMIO window', () => {
  // The page index serves 4-byte accesses only (a path for other sizes made read() too big for V8
  // to inline); the others reach the same callbacks as memory.c:access_with_adjusted_size would.
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const seen: string[] = [];
  const dev = mem.io('dev', 0x1000, {
    read: (o, size) => (seen.push(`r${size}@${o}`), o + size),
    write: (o, v, size) => void seen.push(`w${size}@${o}=${v}`),
    valid: { minAccessSize: 1, maxAccessSize: 8 },
    impl: { minAccessSize: 1, maxAccessSize: 4 },
    endianness: 'little',
  });
  root.addSubregion(0x10000, dev);
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100000, 4);
  assert.is(indexed(as, 0x10000), 'dev');
  assert.is(as.read(0x10000, 4), 4);
  assert.is(as.windows.mmio, null, 'one miss');
  assert.is(as.read(0x10002, 2), 4);
  assert.equal(as.windows.mmio, [0x10000, 0x11000], 'two misses in a row');
  assert.is(as.read(0x10003, 1), 4);
  assert.is(as.read(0x10ff4, 8), 0xff8);
  assert.is(as.hi, 0xffc);
  assert.is(as.write(0x10008, 0x11223344, 8, 0x55), MEMTX_OK);
  assert.equal(seen, ['r4@0', 'r2@2', 'r1@3', 'r4@4084', 'r4@4088', 'w4@8=287454020', 'w4@12=85']);
  seen.length = 0;
  // The second half is in the next page, unassigned: split as physmem.c:flatview_read_continue
  // does (the first half read, the second a decode error).
  assert.is(as.read(0x10ffc, 8), 0x1000);
  assert.is(as.hi, 0);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.equal(seen, ['r4@4092']);
});

test.run();
