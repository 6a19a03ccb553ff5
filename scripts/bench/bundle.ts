// A benchmark child bundled by esbuild into node_modules/.cache, so it runs as dist/ ships (under
// tsx, code crosses module bindings the bundle does not have).
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/vdm-bench/', import.meta.url));

/** Bundles scripts/bench/`name`.ts to node_modules/.cache/vdm-bench/`name`.mjs and returns that path. */
export function bundleChild(name: string, external: string[] = []): string {
  mkdirSync(CACHE, { recursive: true });
  const out = `${CACHE}${name}.mjs`;
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
