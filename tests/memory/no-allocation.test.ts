// The hot path allocates nothing (no heap numbers, no bigint): optimised loops of 1-, 2-, 4- and
// 8-byte reads and writes, RAM and MMIO, at addresses past 2^31 (where a number handed to a call
// becomes a new heap object) run millions of accesses without one garbage collection. Run in its
// own node, so the loops can be optimised on purpose (--allow-natives-syntax) rather than hoped for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('4M accesses of each kind at addresses past 2^31 cause no garbage collection', () => {
  const fixture = fileURLToPath(new URL('./fixtures/hot-path-allocation.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--import', 'tsx', fixture], {
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, { gcs: number; optimized: boolean }>;
  assert.is(Object.keys(result).length, 7);
  for (const [kind, { gcs, optimized }] of Object.entries(result)) {
    assert.ok(optimized, `${kind}: the loop was deoptimised while measured`);
    assert.is(gcs, 0, `${kind}: ${gcs} garbage collections, so the path allocates`);
  }
});

test.run();
