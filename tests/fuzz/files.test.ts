// Seeded fuzzing of the shipped host, machine and guest files through the CLI entry point
// (2,000 cases; scripts/fuzz.ts runs 100,000). A failure prints the seed that replays it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFileCase } from './file-cases.ts';
import { Rng, mutateJson } from './mutator.ts';

const CASES = Number(process.env.VDM_FUZZ_CASES ?? 2000);
const FIRST = Number(process.env.VDM_SEED ?? 20261130);

test('the mutator is deterministic per seed and produces every kind of damage', () => {
  const doc = JSON.stringify({ a: 1, b: [1, 2, { c: '0x10' }], d: { e: true } });
  assert.equal(mutateJson(doc, new Rng(7)), mutateJson(doc, new Rng(7)));
  const seen = new Set<string>();
  for (let s = 0; s < 400; s++) for (const m of mutateJson(doc, new Rng(s)).applied) seen.add(m.split(/[ @]/)[0]!);
  assert.equal([...seen].sort(), [
    'deepNesting',
    'dropElement',
    'duplicateElement',
    'duplicateKey',
    'extremeNumber',
    'removeKey',
    'truncate',
    'typeSwap',
    'unknownKey',
  ]);
});

test(`${CASES} mutated files: exit 0/1/2, no stack trace, file and field on exit 2, verdict agrees with the ` +
  'report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vdm-fuzz-'));
  const failures: string[] = [];
  const codes = [0, 0, 0];
  for (let i = 0; i < CASES; i++) {
    const c = runFileCase(FIRST + i, dir);
    codes[c.result.code] = (codes[c.result.code] ?? 0) + 1;
    if (c.problem) failures.push(`seed ${c.seed} (${c.kind} ${c.base}: ${c.mutations.join('; ')}): ${c.problem}`);
  }
  assert.equal(
    failures.slice(0, 10),
    [],
    `${failures.length} failing cases; replay one with VDM_SEED=<seed> VDM_FUZZ_CASES=1`,
  );
  assert.ok(codes[0]! > CASES / 20 && codes[2]! > CASES / 4, `a mix of outcomes (exit 0/1/2: ${codes.join('/')})`);
});

test.run();
