// RamBlock's chunking: sparse storage allocated a chunk at a time, with a per-block chunk limit for
// storage that is touched here and there (device BARs).
import { test } from 'uvu';
import fc from 'fast-check';
import * as assert from 'uvu/assert';
import { RamBlock } from '../../src/common/ram-block.ts';

test('a chunk limit is checked and named in the error', () => {
  assert.throws(() => new RamBlock(0x10000, 12), /chunk limit 12 must be a multiple of 8 from 8 to 1073741824/);
  assert.throws(() => new RamBlock(0x10000, 0), /chunk limit 0/);
  assert.throws(() => new RamBlock(0x10000, 2 ** 31), /chunk limit 2147483648/);
  assert.is(new RamBlock(2 ** 32).chunkSize, 2 ** 30, 'the default: 1 GiB chunks');
  assert.is(new RamBlock(0x2000000).chunkSize, 0x2000000, 'a 32 MiB block is one chunk');
  assert.is(new RamBlock(0x2000000, 0x10000).chunkSize, 0x10000);
  assert.is(new RamBlock(0x1000, 0x10000).chunkSize, 0x1000, 'a block smaller than the limit is one chunk');
});

test('with small chunks a touched byte costs one chunk, and bulk copies cross chunk boundaries intact', () => {
  const b = new RamBlock(0x2000000, 0x10000);
  b.write(0x1008, 0x12345678, 4);
  assert.is(b.allocatedChunks, 1);
  const bytes = Uint8Array.from({ length: 0x30000 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 24);
  b.writeFrom(0x2fff0, bytes, 0, bytes.length);
  assert.is(b.allocatedChunks, 5, 'the register chunk and the four the copy spans');
  const out = new Uint8Array(bytes.length);
  b.readInto(0x2fff0, out, 0, out.length);
  assert.equal(out, bytes);
  assert.is(b.read(0x1008, 4), 0x12345678);
});

test('a write past the end of the block is refused, naming the offset and the block', () => {
  assert.throws(() => new RamBlock(0x1000).write(0x1000, 1, 4), /offset 4096 is outside the 4096-byte RAM block/);
  assert.throws(() => new RamBlock(0x3000, 0x1000).writeByte(0x5000, 1), /offset 20480 is outside the 12288-byte/);
  assert.is(new RamBlock(0x1000).read(0x2000, 4), 0, 'a read there sees nothing, as before');
});

// The block's accesses compose values from bytes and the window's views are made separately: both
// cross-checked against a plain byte array, with chunks of 8 and 16 bytes so accesses straddle them.
test('reads, writes, fills and copies agree with a plain byte array, and so do the wide views', () => {
  const SIZE = 64;
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      at: fc.nat(SIZE - 1),
      size: fc.constantFrom(1, 2, 3, 4),
      value: fc.integer({ min: -(2 ** 32), max: 2 ** 33 }),
    }),
    fc.record({ kind: fc.constant('read' as const), at: fc.nat(SIZE - 1), size: fc.constantFrom(1, 2, 3, 4) }),
    fc.record({ kind: fc.constant('fill' as const), at: fc.nat(SIZE - 1), length: fc.nat(20), byte: fc.nat(0x1ff) }),
    fc.record({ kind: fc.constant('copy' as const), at: fc.nat(SIZE - 1), bytes: fc.uint8Array({ maxLength: 20 }) }),
    fc.record({ kind: fc.constant('wide' as const), at: fc.nat(SIZE - 1), value: fc.nat(0xffffffff) }),
  );
  const run = (maxChunk: number, ops: (typeof op extends fc.Arbitrary<infer T> ? T : never)[]) => {
    const b = new RamBlock(SIZE, maxChunk);
    const ref = new Uint8Array(SIZE);
    const refRead = (at: number, size: number) => {
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + ref[at + i]!;
      return v;
    };
    for (const o of ops) {
      if (o.kind === 'write' || o.kind === 'read') {
        if (o.at + o.size > SIZE) continue;
        if (o.kind === 'write') {
          b.write(o.at, o.value, o.size);
          for (let i = 0; i < o.size; i++) ref[o.at + i] = Math.floor(o.value / 2 ** (8 * i)) & 0xff;
        } else assert.is(b.read(o.at, o.size), refRead(o.at, o.size), `read ${o.size} at ${o.at}`);
      } else if (o.kind === 'fill') {
        const length = Math.min(o.length, SIZE - o.at);
        b.fill(o.byte, o.at, length);
        ref.fill(o.byte, o.at, o.at + length);
      } else if (o.kind === 'copy') {
        const bytes = o.bytes.subarray(0, SIZE - o.at);
        b.writeBytes(o.at, bytes);
        ref.set(bytes, o.at);
        assert.equal(b.readBytes(o.at, bytes.length), bytes);
      } else {
        // A store through chunk idx's 32-bit view lands in the bytes the block reads, and back.
        const idx = Math.floor(o.at / b.chunkSize);
        const lane = ((o.at % b.chunkSize) >>> 2) % (b.chunkSize >>> 2);
        b.chunk(o.at, true);
        b.view32(idx)[lane] = o.value;
        const at = idx * b.chunkSize + lane * 4;
        for (let i = 0; i < 4; i++) ref[at + i] = (o.value >>> (8 * i)) & 0xff;
        assert.is(b.view16(idx)[lane * 2 + 1], refRead(at + 2, 2));
      }
    }
    assert.equal(b.readBytes(0, SIZE), ref);
  };
  fc.assert(fc.property(fc.constantFrom(8, 16, 64), fc.array(op, { maxLength: 40 }), run), {
    numRuns: 300,
    seed: Number(process.env.VDM_SEED ?? 20261130),
  });
});

test.run();
