// The access path: memory.c:memory_region_dispatch_read/write, access_with_adjusted_size,
// memory_region_access_valid, adjust_endianness; physmem.c:flatview_read/write_continue and
// memory_access_size (cases 27, 28, 30–35).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MemorySystem,
  MEMTX_OK,
  MEMTX_DECODE_ERROR,
  dispatchRead,
  dispatchWrite,
  unassignedIoOps,
  U64_SPAN,
} from '../../src/memory/index.ts';
import { setup, recordingIo } from './helpers.ts';

test('romd reads the backing RAM without callbacks; writes go to the callback', () => {
  const { mem, root, as } = setup();
  const calls: string[] = [];
  const F = mem.romDevice('F', 0x1000, {
    read: (o, s) => (calls.push(`read(0x${o.toString(16)}, ${s})`), 0x5a5a),
    write: (o, v, s) => calls.push(`write(0x${o.toString(16)}, 0x${v.toString(16)}, ${s})`),
  });
  F.ramBlock!.writeBytes(0x10, [1, 2, 3, 4]);
  root.addSubregion(0xf000, F);
  assert.is(as.read(0xf010, 4), 0x04030201);
  assert.equal(calls, []);
  as.write(0xf010, 0xdeadbeef, 4);
  assert.equal(calls, ['write(0x10, 0xdeadbeef, 4)']);
  assert.is(as.read(0xf010, 4), 0x04030201, 'backing bytes change only if the callback changes them');
  F.setRomdMode(false);
  assert.is(as.read(0xf010, 2), 0x5a5a);
  assert.equal(calls.at(-1), 'read(0x10, 2)');
});

test('writing to ROM is dropped with DECODE_ERROR; write_rom changes it; reads are direct', () => {
  const { mem, root, as } = setup();
  const P = mem.rom('P', 0x1000);
  P.ramBlock!.fill(0xaa);
  root.addSubregion(0, P);
  assert.is(as.writeBytes(0, [1, 2, 3, 4]), MEMTX_DECODE_ERROR);
  assert.is(as.read(0, 4), 0xaaaaaaaa);
  assert.is(as.write(0, 0x11, 1), MEMTX_DECODE_ERROR);
  assert.is(as.writeRom(0, [1, 2, 3, 4]), MEMTX_OK);
  assert.is(as.read(0, 4), 0x04030201);
  assert.ok(as.counters.invalid >= 2);
});

test('writes through a readonly alias of RAM are dropped (memory.c:memory_region_set_readonly); the RAM ' +
  'itself stays writable', () => {
  const { mem, root, as } = setup(0x100000);
  const ram = mem.ram('ram', 0x2000);
  const ro = mem.alias('ram-ro', ram, 0x1000, 0x1000);
  ro.setReadonly(true);
  root.addSubregion(0, ram);
  root.addSubregion(0x10000, ro);
  as.write(0x1010, 0x11223344, 4);
  assert.is(as.read(0x10010, 4), 0x11223344, 'the alias shows the RAM');
  assert.is(as.write(0x10010, 0xdeadbeef, 4), MEMTX_DECODE_ERROR, 'a 4-byte write through the alias is refused');
  assert.is(as.write(0x10014, 0x55, 1), MEMTX_DECODE_ERROR);
  assert.is(as.writeBytes(0x10020, [1, 2, 3, 4]), MEMTX_DECODE_ERROR, 'a bulk write too');
  assert.is(as.read(0x1010, 4), 0x11223344, 'nothing reached the RAM');
  assert.is(as.read(0x1014, 1), 0);
  assert.is(as.read(0x1020, 4), 0);
  assert.is(as.write(0x1010, 0x99, 4), MEMTX_OK, 'the RAM at its own address is still writable');
  assert.is(as.read(0x10010, 4), 0x99);
});

for (const endian of ['little', 'big'] as const) {
  test(`impl.max = 1 splits in ascending order and keeps byte lanes (${endian}-endian device)`, () => {
    const mem = new MemorySystem();
    const D = recordingIo(mem, 'D', 0x10, { endianness: endian, impl: { maxAccessSize: 1 } });
    dispatchWrite(D.mr, 0, 0x11223344, 4, 'le');
    assert.equal(D.calls, ['write(0x0, 0x44, 1)', 'write(0x1, 0x33, 1)', 'write(0x2, 0x22, 1)', 'write(0x3, 0x11, 1)']);
    D.calls.length = 0;
    dispatchWrite(D.mr, 0, 0x11223344, 4, 'be');
    assert.equal(D.calls, ['write(0x0, 0x11, 1)', 'write(0x1, 0x22, 1)', 'write(0x2, 0x33, 1)', 'write(0x3, 0x44, 1)']);
    [0x44, 0x33, 0x22, 0x11].forEach((b, i) => D.regs.set(i, b));
    assert.is(dispatchRead(D.mr, 0, 4, 'le').value, 0x11223344n);
  });
}

test('impl.max = 4 splits an 8-byte write into two dwords, LE and BE devices', () => {
  const mem = new MemorySystem();
  const le = recordingIo(mem, 'LE', 0x20, { endianness: 'little' });
  dispatchWrite(le.mr, 0x10, 0x1122334455667788n, 8, 'le');
  assert.equal(le.calls, ['write(0x10, 0x55667788, 4)', 'write(0x14, 0x11223344, 4)']);
  const be = recordingIo(mem, 'BE', 0x20, { endianness: 'big' });
  dispatchWrite(be.mr, 0x10, 0x1122334455667788n, 8, 'le');
  assert.equal(be.calls, ['write(0x10, 0x88776655, 4)', 'write(0x14, 0x44332211, 4)']);
  // Through address_space_write, memory_access_size caps at valid.max (unset: 4).
  const { mem: m2, root, as } = setup();
  const D = recordingIo(m2, 'D', 0x20);
  root.addSubregion(0, D.mr);
  as.write64(0x10, 0x1122334455667788n);
  assert.equal(D.calls, ['write(0x10, 0x55667788, 4)', 'write(0x14, 0x11223344, 4)']);
});

test('an access smaller than impl.min calls the callback wide at the unaligned offset', () => {
  const mem = new MemorySystem();
  const le = recordingIo(mem, 'LE', 0x10, { endianness: 'little', impl: { minAccessSize: 4 } });
  le.regs.set(2, 0xa1b2c3d4);
  assert.is(dispatchRead(le.mr, 2, 1).value, 0xd4n);
  assert.equal(le.calls, ['read(0x2, 4)']);
  const be = recordingIo(mem, 'BE', 0x10, { endianness: 'big', impl: { minAccessSize: 4 } });
  be.regs.set(2, 0xa1b2c3d4);
  assert.is(dispatchRead(be.mr, 2, 1).value, 0xa1n);
  le.calls.length = 0;
  dispatchWrite(le.mr, 2, 0xab, 1);
  assert.equal(le.calls, ['write(0x2, 0xab, 4)']);
  dispatchWrite(be.mr, 2, 0xab, 1);
  assert.equal(be.calls.at(-1), 'write(0x2, 0xab000000, 4)');
});

test('invalid accesses read 0, drop writes, return DECODE_ERROR, never call back', () => {
  const mem = new MemorySystem();
  const D = recordingIo(mem, 'D', 0x10, { valid: { minAccessSize: 4, maxAccessSize: 4 } });
  D.regs.set(0, 0x12345678);
  assert.equal(dispatchRead(D.mr, 0, 2), { value: 0n, result: MEMTX_DECODE_ERROR });
  assert.equal(dispatchRead(D.mr, 2, 4), { value: 0n, result: MEMTX_DECODE_ERROR });
  const R = recordingIo(mem, 'R', 0x10, { valid: { accepts: () => false } });
  assert.is(dispatchWrite(R.mr, 0, 1, 4), MEMTX_DECODE_ERROR);
  assert.equal(D.calls, []);
  assert.equal(R.calls, []);
  assert.equal(dispatchRead(D.mr, 0, 4), { value: 0x12345678n, result: MEMTX_OK });
});

test('address_space_read chunks by alignment of the region offset (memory_access_size)', () => {
  const { mem, root, as } = setup();
  const D = recordingIo(mem, 'D', 0x100);
  root.addSubregion(0x1000, D.mr);
  as.readBytes(0x1006, 8);
  assert.equal(D.calls, ['read(0x6, 2)', 'read(0x8, 4)', 'read(0xc, 2)']);
  D.calls.length = 0;
  as.read(0x1001, 4);
  assert.equal(D.calls, ['read(0x1, 1)', 'read(0x2, 2)', 'read(0x4, 1)']);
});

test('unassigned memory reads 0 with DECODE_ERROR; an unclaimed I/O port reads all ones, OK', () => {
  const { as, root, mem } = setup(U64_SPAN, 'system');
  root.addSubregion(0x1000, mem.ram('ram', 0x1000));
  assert.equal([...as.readBytes(0x100000, 4)], [0, 0, 0, 0]);
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.is(as.counters.unassigned, 1);
  const io = mem.io('io', 0x10000, unassignedIoOps);
  const ioAs = mem.addressSpace('I/O', io);
  assert.is(ioAs.read(0x80, 4), 0xffffffff);
  assert.is(ioAs.result, MEMTX_OK);
  assert.is(ioAs.read(0x80, 1), 0xff);
  assert.is(ioAs.counters.unassigned, 2);
});

test('MMIO accesses are not clamped at the section end (physmem.c:flatview_translate comment on 0xcf8)', () => {
  const { mem, as } = setup(0x10000, 'io');
  const idx = recordingIo(mem, 'pci-conf-idx', 4);
  as.root.addSubregion(0xcf8, idx.mr);
  as.root.addSubregionOverlap(0xcf9, recordingIo(mem, 'reset', 1).mr, 1);
  as.write(0xcf8, 0x80000000, 4);
  assert.equal(idx.calls, ['write(0x0, 0x80000000, 4)']);
});

test('RAM accesses that straddle two ranges are split at the section end', () => {
  const { mem, root, as } = setup();
  const a = mem.ram('a', 0x1000);
  const b = mem.ram('b', 0x1000);
  root.addSubregion(0, a);
  root.addSubregion(0x1000, b);
  as.write(0xffe, 0x44332211, 4);
  assert.equal([...a.ramBlock!.readBytes(0xffe, 2)], [0x11, 0x22]);
  assert.equal([...b.ramBlock!.readBytes(0, 2)], [0x33, 0x44]);
  assert.is(as.read(0xffe, 4), 0x44332211);
  as.write64(0xffc, 0x8877665544332211n);
  assert.is(as.read64(0xffc), 0x8877665544332211n);
});

test('RAM and RAM-device paths are counted separately from MMIO (with stats on)', () => {
  const { mem, root, as } = setup();
  as.stats = true;
  root.addSubregion(0, mem.ram('ram', 0x1000));
  const bar = mem.ramDevice('bar0 mmaps[0]', 0x1000);
  root.addSubregion(0x1000, bar);
  root.addSubregion(0x2000, recordingIo(mem, 'regs', 0x100).mr);
  as.write(0x10, 7, 4);
  as.write(0x1010, 9, 4);
  as.read(0x2000, 4);
  assert.is(as.read(0x1010, 4), 9);
  assert.equal(as.counters, { ram: 1, mmio: 1, ramDevice: 2, unassigned: 0, invalid: 0 });
  assert.is(bar.typeName(), 'ramd');
  // Off, the fast paths count nothing; what never takes one (unassigned, invalid) still counts.
  as.stats = false;
  as.resetCounters();
  for (let i = 0; i < 3; i++) as.write(0x10, i, 4), as.read(0x10, 4), as.read(0x1010, 4), as.read(0x2000, 4);
  as.read(0x3000, 4);
  as.read(0, 3);
  assert.equal(as.counters, { ram: 0, mmio: 0, ramDevice: 0, unassigned: 1, invalid: 1 });
  assert.is(as.read(0x10, 4), 2);
});

test('bad sizes and addresses are refused, counted invalid, never thrown', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.ram('ram', 0x1000));
  for (const [addr, size] of [
    [0, 3],
    [-1, 4],
    [2 ** 53, 4],
    [1.5, 4],
    [0, 16],
  ] as const) {
    assert.is(as.read(addr, size), 0);
    assert.is(as.result, MEMTX_DECODE_ERROR, `read(${addr}, ${size})`);
    assert.is(as.write(addr, 1, size), MEMTX_DECODE_ERROR, `write(${addr}, ${size})`);
  }
  assert.is(as.counters.invalid, 10);
});

test('addresses past 2^53 work through the bigint path', () => {
  const { mem, root, as } = setup(U64_SPAN);
  const top = mem.ram('top', 0x1000);
  root.addSubregion(0xfffffffffffff000n, top);
  assert.is(as.writeAt(0xfffffffffffff010n, 0xcafef00dn, 4), MEMTX_OK);
  assert.is(as.readAt(0xfffffffffffff010n, 4), 0xcafef00dn);
  assert.is(top.ramBlock!.read(0x10, 4), 0xcafef00d);
  as.readAt(0xff00000000000000n, 2);
  assert.is(as.result, MEMTX_DECODE_ERROR);
});

test('memory_region_init_io refuses impl.unaligned without valid.unaligned', () => {
  const mem = new MemorySystem();
  assert.throws(() => mem.io('bad', 0x10, { impl: { unaligned: true } }), /impl.unaligned requires valid.unaligned/);
});

test('native-endian devices follow the target byte order (memory-internal.h:devend_big_endian)', () => {
  const mem = new MemorySystem({ targetEndian: 'big' });
  const root = mem.container('root', 0x1000);
  const as = mem.addressSpace('as', root);
  const D = recordingIo(mem, 'D', 0x10, { endianness: 'native' });
  root.addSubregion(0, D.mr);
  as.writeBytes(0, [0x11, 0x22, 0x33, 0x44]);
  assert.equal(D.calls, ['write(0x0, 0x11223344, 4)'], 'byte 0 is the most significant for a BE device');
});

test('the direct-callback fast path returns unsigned values and masks to the access size', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.io('D', 0x100, { read: () => 0xfedcba98, write: () => {} }));
  assert.is(as.read(0, 4), 0xfedcba98);
  assert.is(as.read(0, 2), 0xba98);
  assert.is(as.read(0, 1), 0x98);
  const calls: number[] = [];
  root.addSubregion(0x100, mem.io('W', 0x100, { read: () => 0, write: (_o, v) => void calls.push(Number(v)) }));
  as.write(0x100, 0x1ff, 1);
  as.write(0x100, 0xffffffff, 4);
  assert.equal(calls, [0xff, 0xffffffff]);
});

test.run();
