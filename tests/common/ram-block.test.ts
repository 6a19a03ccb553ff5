// RamBlock's chunking: sparse storage allocated a chunk at a time, with a per-block chunk limit for
// storage that is touched here and there (device BARs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RamBlock } from '../../src/common/ram-block.ts';

test('a chunk limit is checked and named in the error', () => {
  assert.throws(() => new RamBlock(0x10000, 12), /chunk limit 12 must be a multiple of 8 from 8 to 16777216/);
  assert.throws(() => new RamBlock(0x10000, 0), /chunk limit 0/);
  assert.throws(() => new RamBlock(0x10000, 2 ** 25), /chunk limit 33554432/);
  assert.is(new RamBlock(0x2000000).chunkSize, 0x1000000, 'the default: 16 MiB chunks');
  assert.is(new RamBlock(0x2000000, 0x10000).chunkSize, 0x10000);
  assert.is(new RamBlock(0x1000, 0x10000).chunkSize, 0x1000, 'a block smaller than the limit is one chunk');
});

test('with small chunks a touched byte costs one chunk, and bulk copies cross chunk boundaries intact', () => {
  const b = new RamBlock(0x2000000, 0x10000);
  b.write(0x1008, 0x12345678, 4);
  assert.is(b.chunks8.filter((c) => c !== undefined).length, 1);
  const bytes = Uint8Array.from({ length: 0x30000 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 24);
  b.writeFrom(0x2fff0, bytes, 0, bytes.length);
  assert.is(b.chunks8.filter((c) => c !== undefined).length, 5, 'the register chunk and the four the copy spans');
  const out = new Uint8Array(bytes.length);
  b.readInto(0x2fff0, out, 0, out.length);
  assert.equal(out, bytes);
  assert.is(b.read(0x1008, 4), 0x12345678);
});

test.run();
