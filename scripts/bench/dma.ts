// The DMA benchmark: ns per 1,500-byte device DMA read and write through the simulated IOMMU
// (type1 with 1, 100 and 10,000 mappings; sPAPR TCE with 4 KiB TCEs), side by side in one process
// per case with a bare typed-array `set` of the same bytes and with the path vdm had before. Median
// and min-max over the rounds; the target is 2 us per DMA.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundleChild } from './bundle.ts';
import { DMA_STRATEGIES, type DmaCase, type DmaChildArgs, type DmaChildResult, type DmaStrategy } from './dma-child.ts';
import { spread, type Spread } from './access.ts';
import type { Progress } from './output.ts';

/** The issue's target for one 1,500-byte DMA through the IOMMU. */
export const DMA_TARGET_NS = 2000;
const NOISE = 0.2;
const HOSTS = fileURLToPath(new URL('../../machines/hosts/', import.meta.url));

export interface DmaOptions {
  cases: DmaCase[];
  rounds: number;
  /** CPU ms per round of each strategy. */
  ms: number;
}

export interface DmaRow {
  case: DmaCase;
  mappings: number;
  op: 'read' | 'write';
  ns: Record<DmaStrategy, Spread>;
  /** vdm ÷ bare set, and the path before ÷ vdm (the speed-up), from the medians. */
  vdmToSet: number;
  beforeToVdm: number;
  meetsTarget: boolean;
  noisy: DmaStrategy[];
}

export function runDma(opts: DmaOptions, progress: Progress, onRow: (row: DmaRow) => void): DmaRow[] {
  const child = bundleChild('dma-child');
  const rows: DmaRow[] = [];
  for (const c of opts.cases) {
    progress.step(`dma: ${c}`);
    const args: DmaChildArgs = { case: c, ms: opts.ms, rounds: opts.rounds, hosts: HOSTS };
    const r = spawnSync(process.execPath, [child, JSON.stringify(args)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !last.startsWith('{'))
      throw new Error(
        `dma benchmark, ${c}: ${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.status}, output ${JSON.stringify(last.slice(0, 200))}`}`,
      );
    const res = JSON.parse(last) as DmaChildResult;
    for (const x of res.rows) {
      const ns = Object.fromEntries(DMA_STRATEGIES.map((k) => [k, spread(x.ns[k])])) as Record<DmaStrategy, Spread>;
      const row: DmaRow = {
        case: c,
        mappings: res.mappings,
        op: x.op,
        ns,
        vdmToSet: ns.vdm.median / ns.set.median,
        beforeToVdm: ns.before.median / ns.vdm.median,
        meetsTarget: ns.vdm.median <= DMA_TARGET_NS,
        noisy: DMA_STRATEGIES.filter(
          (k) => ns[k].max > ns[k].median * (1 + NOISE) || ns[k].min < ns[k].median * (1 - NOISE),
        ),
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}
