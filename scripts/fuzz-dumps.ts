// Opt-in: the dump fuzz at scale. `npx tsx scripts/fuzz-dumps.ts [CASES=100000] [SEED]`; writes
// fuzz-dumps.json with the exit codes seen and every failure.
import { writeFileSync } from 'node:fs';
import { fuzzDumps } from '../tests/fuzz/dump-fuzz.ts';

const cases = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const t0 = performance.now();
const result = fuzzDumps(cases, seed);
const seconds = (performance.now() - t0) / 1000;
writeFileSync('fuzz-dumps.json', JSON.stringify({ cases, seed, seconds, ...result }, null, 2));
console.log(
  `${cases} mutated dumps (seed ${seed}) in ${seconds.toFixed(1)} s: exits ${JSON.stringify(result.exits)}, ` +
    `slowest ${result.slowestMs.toFixed(0)} ms, ${result.failures.length} failures`,
);
for (const f of result.failures.slice(0, 20)) console.log('  ' + f);
process.exitCode = result.failures.length ? 1 : 0;
