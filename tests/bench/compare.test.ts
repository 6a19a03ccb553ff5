// bench:compare: the same cells of several access runs side by side, and how far their medians are apart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccessRow } from '../../scripts/bench/access.ts';
import { compareAccess, summarize } from '../../scripts/bench/compare.ts';

const row = (regions: number, stream: string, direct: number, vdm: number, v86?: number): AccessRow =>
  ({
    regions,
    stream,
    op: 'read',
    ns: {
      direct: { median: direct, min: direct, max: direct },
      vdm: { median: vdm, min: vdm, max: vdm },
      ...(v86 ? { v86: { median: v86, min: v86, max: v86 } } : {}),
    },
    vdmToDirect: vdm / direct,
    noisy: [],
    deopt: [],
    codeEvents: {},
  }) as unknown as AccessRow;

test('cells in every run are compared; spread = largest ÷ smallest median - 1', () => {
  const a = [row(10, 'mmio-seq', 10, 20, 40), row(10, 'ram-seq', 4, 8)];
  const b = [row(10, 'mmio-seq', 12, 20, 40), row(1000, 'ram-seq', 4, 8)];
  const cells = compareAccess([a, b]);
  assert.equal(
    cells.map((c) => [c.regions, c.stream, c.what, c.medians, Number(c.spread.toFixed(3))]),
    [
      [10, 'mmio-seq', 'direct', [10, 12], 0.2],
      [10, 'mmio-seq', 'vdm', [20, 20], 0],
      [10, 'mmio-seq', 'v86', [40, 40], 0],
      [10, 'mmio-seq', 'vdm/direct', [2, 20 / 12], 0.2],
    ],
  );
});

test('summary: median, 90th percentile, largest, and how many within 10%', () => {
  assert.equal(summarize([0.05, 0.3, 0.1, 0.02, 0.5]), { median: 0.1, p90: 0.5, max: 0.5, inside: 3 });
  assert.equal(summarize([]), { median: 0, p90: 0, max: 0, inside: 0 });
});

test.run();
