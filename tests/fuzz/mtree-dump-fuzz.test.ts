// Mutated QEMU dumps through the CLI entry point, in process: every run ends with exit 0 or 2,
// never a stack trace or an internal error, and every refusal names the file and line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qemuFile } from '../memory/qemu-golden.ts';
import { mutateDump, seededRandom } from './dump-mutator.ts';
import { fuzzDumps } from './dump-fuzz.ts';

const CASES = Number(process.env.VDM_FUZZ_DUMPS ?? 500);
const SEED = Number(process.env.VDM_FUZZ_SEED ?? 0x13d0);

test(`${CASES} mutated QEMU dumps: exit 0 or 2, no stack trace, a line number in every refusal`, () => {
  const { exits, failures } = fuzzDumps(CASES, SEED);
  assert.equal(failures.slice(0, 5), []);
  assert.ok((exits[2] ?? 0) > CASES / 10, 'the mutator damages enough dumps to be refused');
  assert.ok((exits[0] ?? 0) > CASES / 20, 'and leaves enough importable to exercise the printers');
});

test('the mutator is deterministic: same seed, same mutant', () => {
  const text = qemuFile('pc-basic.txt');
  assert.is(mutateDump(seededRandom(7), text), mutateDump(seededRandom(7), text));
  assert.is.not(mutateDump(seededRandom(7), text), mutateDump(seededRandom(8), text));
});

test.run();
