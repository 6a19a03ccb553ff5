// Guest program files: bounded workloads, every error naming file and field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseGuestFile, MAX_ITERATIONS } from '../../src/guest/index.ts';

const program = (extra: object) =>
  JSON.stringify({ name: 'g', vectors: 1, ringSize: 8, bufferSize: 64, iterations: 10, ...extra });

test('iterations are bounded (10,000,000 used to run 150 s with nothing shown)', () => {
  assert.is(parseGuestFile(program({ iterations: MAX_ITERATIONS }), 'g.json').iterations, 1_000_000);
  assert.throws(
    () => parseGuestFile(program({ iterations: 10_000_000 }), 'g.json'),
    (e: Error) => e.message === 'g.json: iterations: expected an integer from 0 to 1000000, got 10000000',
  );
});

test('wrong types and unknown fields name the field', () => {
  assert.throws(
    () => parseGuestFile(program({ ringSize: '8x' }), 'g.json'),
    /g.json: ringSize: expected a non-negative integer/,
  );
  assert.throws(
    () => parseGuestFile(program({ misbehave: 1 }), 'g.json'),
    /g.json: misbehave: expected true or false, got number 1/,
  );
  assert.throws(() => parseGuestFile(program({ loops: 1 }), 'g.json'), /g.json: loops: unknown field/);
});

test.run();
