// PackedFlatRange keeps a FlatRange's four flags and dirty-log mask in one integer: each must still
// read back as set, and a copy (PackedFlatRange.of, used by the incremental patch) must keep them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemorySystem, PackedFlatRange, flatRangeBits, type FlatRange } from '../../src/memory/index.ts';

const flags = (r: FlatRange) => [r.romdMode, r.readonly, r.nonvolatile, r.unmergeable, r.dirtyLogMask];

test('each flag of a packed range reads back as set, alone and after the others change', () => {
  const mr = new MemorySystem().ram('r', 0x1000);
  const r = new PackedFlatRange(mr, 0n, 0x1000n, 0x1000n, flatRangeBits(false, true, false, true, 5));
  assert.equal(flags(r), [false, true, false, true, 5]);
  r.romdMode = true;
  r.readonly = false;
  r.nonvolatile = true;
  r.dirtyLogMask = 2;
  assert.equal(flags(r), [true, false, true, true, 2]);
});

test('PackedFlatRange.of copies any FlatRange, flags included, with a new size if given', () => {
  const mr = new MemorySystem().ram('r', 0x1000);
  const plain: FlatRange = {
    mr,
    offsetInRegion: 0x10n,
    start: 0x2000n,
    size: 0x100n,
    romdMode: true,
    readonly: true,
    nonvolatile: false,
    unmergeable: true,
    dirtyLogMask: 1,
  };
  const a = PackedFlatRange.of(plain);
  assert.equal([a.mr, a.offsetInRegion, a.start, a.size, ...flags(a)], [mr, 0x10n, 0x2000n, 0x100n, ...flags(plain)]);
  const b = PackedFlatRange.of(a, 0x300n);
  assert.equal([b.size, ...flags(b)], [0x300n, ...flags(plain)]);
  assert.is(a.size, 0x100n);
});

test.run();
