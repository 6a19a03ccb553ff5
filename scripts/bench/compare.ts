// Run-to-run stability of the access benchmark: the cells of several result files side by side,
// each cell's medians and how far apart they are (largest ÷ smallest - 1), then a summary.
// Usage: npm run bench:compare -- RESULT RESULT [RESULT ...]
//   (a RESULT is a JSON file `npm run bench` wrote, or its output directory: its latest.json)
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessRow } from './access.ts';
import { ACCESS_STRATEGIES } from './access-streams.ts';
import { fixed, line, thousands } from './output.ts';

export interface CellStability {
  regions: number;
  stream: string;
  op: string;
  /** A strategy, or 'vdm/direct' for the ratio. */
  what: string;
  /** One median per run, in the order of the runs. */
  medians: number[];
  /** Largest ÷ smallest median, minus 1. */
  spread: number;
}

/** Cells present in every run, with their medians and spread. */
export function compareAccess(runs: AccessRow[][]): CellStability[] {
  const key = (r: AccessRow) => `${r.regions} ${r.stream} ${r.op}`;
  const cells: CellStability[] = [];
  for (const first of runs[0] ?? []) {
    const same = runs.map((rows) => rows.find((r) => key(r) === key(first)));
    if (same.some((r) => !r)) continue;
    const rows = same as AccessRow[];
    const add = (what: string, medians: (number | undefined)[]) => {
      if (medians.some((m) => m === undefined || !(m > 0))) return;
      const m = medians as number[];
      cells.push({ ...first, what, medians: m, spread: Math.max(...m) / Math.min(...m) - 1 });
    };
    for (const s of ACCESS_STRATEGIES)
      add(
        s,
        rows.map((r) => r.ns[s]?.median),
      );
    add(
      'vdm/direct',
      rows.map((r) => r.vdmToDirect),
    );
  }
  return cells;
}

/** Median, 90th percentile and largest of the spreads, and how many are within `within`. */
export function summarize(
  spreads: number[],
  within = 0.1,
): { median: number; p90: number; max: number; inside: number } {
  const s = [...spreads].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { median: at(0.5), p90: at(0.9), max: s[s.length - 1] ?? 0, inside: s.filter((x) => x <= within).length };
}

function load(path: string): AccessRow[] {
  const file = statSync(path).isDirectory() ? join(path, 'latest.json') : path;
  const json = JSON.parse(readFileSync(file, 'utf8')) as { access?: { rows: AccessRow[] } };
  if (!json.access) throw new Error(`${file}: no access results (run with --only access)`);
  return json.access.rows;
}

function main(): void {
  const paths = process.argv.slice(2);
  if (paths.length < 2) {
    console.error('usage: npm run bench:compare -- RESULT RESULT [RESULT ...]  (JSON files or result directories)');
    process.exit(2);
  }
  let cells: CellStability[];
  try {
    cells = compareAccess(paths.map(load));
  } catch (e) {
    console.error(`bench:compare: ${(e as Error).message}`);
    process.exit(1);
  }
  const pct = (x: number) => `${fixed(100 * x, 0)}%`;
  const widths = [8, -10, -5, -10, 30, 7];
  console.log(line(['regions', 'stream', 'op', 'of', 'medians (ns; ratio)', 'spread'], widths));
  for (const c of cells)
    console.log(
      line(
        [
          thousands(c.regions),
          c.stream,
          c.op,
          c.what,
          c.medians.map((m) => fixed(m, c.what === 'vdm/direct' ? 2 : 1)).join(' / '),
          pct(c.spread),
        ],
        widths,
      ),
    );
  console.log('\nspread of the medians (largest ÷ smallest - 1) over the runs:');
  for (const what of [...ACCESS_STRATEGIES, 'vdm/direct']) {
    const xs = cells.filter((c) => c.what === what).map((c) => c.spread);
    if (!xs.length) continue;
    const s = summarize(xs);
    console.log(
      `  ${what.padEnd(10)} ${xs.length} cells: median ${pct(s.median)}, 90th percentile ${pct(s.p90)}, ` +
        `largest ${pct(s.max)}; within 10%: ${s.inside}`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
