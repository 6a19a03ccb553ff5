// Opt-in: the host/machine/guest file fuzz at scale. `npx tsx scripts/fuzz.ts [CASES=100000] [SEED]`;
// prints progress every 5,000 cases and writes fuzz-files.json with the exit codes seen and every
// failure (each replays alone: VDM_SEED=<seed> VDM_FUZZ_CASES=1 npx tsx node_modules/uvu/bin.js tests/fuzz files).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFileCase } from '../tests/fuzz/file-cases.ts';

const cases = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const dir = mkdtempSync(join(tmpdir(), 'vdm-fuzz-'));
const exits = [0, 0, 0];
const failures: string[] = [];
const t0 = performance.now();
for (let i = 0; i < cases; i++) {
  const c = runFileCase(seed + i, dir);
  exits[c.result.code] = (exits[c.result.code] ?? 0) + 1;
  if (c.problem) failures.push(`seed ${c.seed} (${c.kind} ${c.base}: ${c.mutations.join('; ')}): ${c.problem}`);
  if ((i + 1) % 5000 === 0)
    console.log(`${i + 1} cases, ${failures.length} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
const seconds = (performance.now() - t0) / 1000;
writeFileSync('fuzz-files.json', JSON.stringify({ cases, seed, seconds, exits, failures }, null, 2));
console.log(
  `${cases} mutated files (seed ${seed}) in ${seconds.toFixed(1)} s: exit 0/1/2 ${exits.join('/')}, ` +
    `${failures.length} failures`,
);
for (const f of failures.slice(0, 20)) console.log('  ' + f);
process.exitCode = failures.length ? 1 : 0;
