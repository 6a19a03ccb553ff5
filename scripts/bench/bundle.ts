// A benchmark child bundled by esbuild into node_modules/.cache, so it runs as dist/ ships (under
// tsx, code crosses module bindings the bundle does not have).
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

// Per checkout (a hash of its path): checkouts that share one node_modules (a symlink, a worktree)
// would otherwise overwrite each other's bundles, and a run could time another tree's code.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_CACHE = fileURLToPath(
  new URL(
    `../../node_modules/.cache/vdm-bench-${createHash('sha256').update(ROOT).digest('hex').slice(0, 8)}/`,
    import.meta.url,
  ),
);

/** Bundles scripts/bench/`name`.ts to node_modules/.cache/vdm-bench-HASH/`name`.mjs and returns that path. */
export function bundleChild(name: string, external: string[] = []): string {
  mkdirSync(BENCH_CACHE, { recursive: true });
  const out = `${BENCH_CACHE}${name}.mjs`;
  buildSync({
    entryPoints: [fileURLToPath(new URL(`./${name}.ts`, import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    outfile: out,
    logLevel: 'error',
  });
  return out;
}
