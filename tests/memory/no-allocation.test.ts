// The hot path allocates nothing (no heap numbers, no bigint): optimised loops of 1-, 2-, 4- and
// 8-byte reads and writes, RAM and MMIO, at addresses past 2^31 (where a number handed to a call
// becomes a new heap object) and of register values past 2^31 (likewise, wherever a value is
// returned from a call or merged as a tagged value), run millions of accesses without one garbage
// collection. Run in its
// own node, so the loops can be optimised on purpose (--allow-natives-syntax) rather than hoped for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/** Runs the fixture in its own node; `argv` says how it is loaded. */
function check(how: string, argv: string[]): void {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', ...argv], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, { gcs: number; optimized: boolean }>;
  assert.is(Object.keys(result).length, 7);
  for (const [kind, { gcs, optimized }] of Object.entries(result)) {
    assert.ok(optimized, `${how}, ${kind}: the loop was deoptimised while measured`);
    assert.is(gcs, 0, `${how}, ${kind}: ${gcs} garbage collections, so the path allocates`);
  }
}

const fixture = fileURLToPath(new URL('./fixtures/hot-path-allocation.ts', import.meta.url));

// Whether V8 inlines read()/write() into a caller depends on their bytecode size, which differs
// between the source run through tsx and the esbuild bundle that dist/ ships (const enums inlined):
// both must stay allocation-free.
test('4M accesses of each kind at addresses past 2^31 cause no garbage collection (source, through tsx)', () => {
  check('tsx', ['--import', 'tsx', fixture]);
});

test('... and none in the esbuild bundle, as dist/ ships the code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vdm-no-allocation-'));
  try {
    const bundle = join(dir, 'fixture.mjs');
    buildSync({
      entryPoints: [fixture],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'error',
    });
    check('bundle', [bundle]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
