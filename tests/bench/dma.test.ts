// The DMA benchmark's options and its cross-check: every strategy (bare set, vdm, the path before)
// must move the same bytes for the same IOVA stream before any is timed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from '../../scripts/bench/options.ts';
import { DMA_CASES, DMA_STRATEGIES, measure } from '../../scripts/bench/dma-child.ts';

const HOSTS = fileURLToPath(new URL('../../machines/hosts/', import.meta.url));

test('dma options: every case by default, --dma-cases and --dma-ms checked, --only dma', () => {
  assert.equal(parseBenchArgs([]).dma, { cases: [...DMA_CASES], rounds: 5, ms: 40 });
  assert.equal(parseBenchArgs(['--quick', '--dma-cases', 'spapr-tce']).dma, {
    cases: ['spapr-tce'],
    rounds: 5,
    ms: 10,
  });
  assert.equal(parseBenchArgs(['--only', 'dma']).phases, ['dma']);
  assert.throws(() => parseBenchArgs(['--dma-cases', 'type1-7']), /--dma-cases: unknown 'type1-7'/);
  assert.throws(() => parseBenchArgs(['--dma-ms', '0']), /--dma-ms: '0'/);
});

test('the three strategies read and write the same bytes through type1 and sPAPR TCE', () => {
  for (const c of ['type1-100', 'spapr-tce'] as const) {
    const r = measure({ case: c, ms: 1, rounds: 1, hosts: HOSTS });
    assert.equal(
      r.rows.map((x) => x.op),
      ['read', 'write'],
    );
    for (const x of r.rows) for (const k of DMA_STRATEGIES) assert.is(x.ns[k].length, 1, `${c} ${x.op} ${k} timed`);
  }
});

test.run();
