// What a device's read callback returns is cut to the access's bytes, whatever its type: the
// callbacks' type allows a bigint for any size, and memory.c:access_with_adjusted_size keeps
// `tmp & MAKE_64BIT_MASK(0, access_size * 8)` of whatever the device returned. Every path must
// agree: the direct callbacks of the miss path, the page index and the MMIO window (4 bytes, and
// 1, 2 and 8 bytes from the window), and the general path (a big-endian device, or one whose impl
// size is smaller than the access). A bigint past 2^53 keeps its exact low bits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MEMTX_OK, MemorySystem, U64_SPAN } from '../../src/memory/index.ts';

const WIDE = (1n << 60n) | 0x1234_5678_9abc_def5n; // past 2^53: Number() would round its low bits

function machine(endianness: 'little' | 'big', implMax: number) {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  // Answers every read with a bigint wider than any access, plus the offset.
  const dev = mem.io('dev', 0x1000, {
    read: (o) => WIDE + BigInt(o),
    write: () => {},
    valid: { minAccessSize: 1, maxAccessSize: 8 },
    impl: { maxAccessSize: implMax },
    endianness,
  });
  const other = mem.io('other', 0x1000, { read: () => 7, write: () => {}, endianness: 'little' });
  mem.transaction(() => {
    root.addSubregion(0x10_0000, dev);
    root.addSubregion(0x20_0000, other);
  });
  return mem.addressSpace('memory', root);
}

/** The bytes of the device's answer at `o` that a little-endian access of `size` keeps. */
function expected(o: number, size: number): { lo: number; hi: number } {
  const v = BigInt.asUintN(Math.min(size, 4) * 8, WIDE + BigInt(o));
  const hi = size === 8 ? Number(BigInt.asUintN(32, WIDE + BigInt(o + 4))) : 0;
  return { lo: Number(v), hi };
}

test('a device answering with a bigint: every fast path keeps the exact low bytes, never throws', () => {
  const as = machine('little', 4);
  const wrong: string[] = [];
  // 100 rounds: the first misses, then the MMIO window, then (after 64 misses, made by the reads
  // of `other` in between) the page index.
  for (let k = 0; k < 100; k++) {
    for (const size of [4, 4, 1, 2, 8]) {
      const o = 8 * (k % 8);
      const v = as.read(0x10_0000 + o, size);
      const e = expected(o, size);
      if (v !== e.lo || (size === 8 && as.hi !== e.hi) || as.result !== MEMTX_OK)
        wrong.push(`#${k} size ${size}: ${v.toString(16)} hi ${as.hi.toString(16)}, want ${e.lo.toString(16)}`);
    }
    as.read(0x20_0000, 4);
  }
  assert.ok(as.dispatch.pages.length > 0, 'the page index was built');
  assert.equal(wrong, []);
});

test('the general path keeps the same bytes of a bigint (a big-endian device; a 2-byte impl)', () => {
  const be = machine('big', 4);
  // Big-endian device, little-endian access: the device's value, byte-swapped.
  const v = BigInt.asUintN(32, WIDE);
  const swapped = Number(((v & 0xffn) << 24n) | ((v & 0xff00n) << 8n) | ((v >> 8n) & 0xff00n) | (v >> 24n));
  assert.is(be.read(0x10_0000, 4), swapped);
  const narrow = machine('little', 2);
  // Two 2-byte callbacks, each cut to its two bytes, low half first.
  const lo = Number(BigInt.asUintN(16, WIDE));
  const hi = Number(BigInt.asUintN(16, WIDE + 2n));
  assert.is(narrow.read(0x10_0000, 4), (lo | (hi << 16)) >>> 0);
  assert.is(narrow.result, MEMTX_OK);
});

test.run();
