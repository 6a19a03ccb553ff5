// The heap benchmark's options: defaults, and a bad value named rather than measured.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseHeapArgs } from '../../scripts/bench/heap.ts';

test('heap options: defaults, a ref to compare against, and bad values named', () => {
  assert.equal(parseHeapArgs([]), {
    sizes: [1000, 10000, 100000],
    against: undefined,
    kinds: undefined,
    out: 'bench-results',
  });
  assert.equal(parseHeapArgs(['--sizes', '10,20', '--against', 'main', '--kinds', '20']).kinds, 20);
  assert.throws(() => parseHeapArgs(['--sizes', '10,x']), /--sizes: 'x'/);
  assert.throws(() => parseHeapArgs(['--kinds', '0']), /--kinds: '0'/);
  assert.throws(() => parseHeapArgs(['--size', '10']), /size/);
});

test.run();
