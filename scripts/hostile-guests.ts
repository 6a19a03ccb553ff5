// Opt-in: the hostile-guest campaign at scale. `npx tsx scripts/hostile-guests.ts [PROGRAMS=10000] [SEED]`;
// writes hostile-guests.json with the totals and every finding (with the ops that led to it).
import { writeFileSync } from 'node:fs';
import { runHostileCampaign } from '../tests/guest/hostile-guest.ts';

const programs = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const t0 = performance.now();
const result = runHostileCampaign(programs, seed);
const seconds = (performance.now() - t0) / 1000;
writeFileSync('hostile-guests.json', JSON.stringify({ seed, seconds, ...result }, null, 2));
console.log(
  `${programs} hostile guest programs, ${result.ops} operations (seed ${seed}) in ${seconds.toFixed(1)} s: ` +
    `${result.findings.length} findings`,
);
console.log(`interrupts: ${JSON.stringify(result.totals)}`);
for (const f of result.findings.slice(0, 20))
  console.log(`  ${f.machine} program ${f.program}: ${f.kind}: ${f.what.split('\n')[0]}`);
process.exitCode = result.findings.length ? 1 : 0;
