// Heap bytes per region of the access benchmark's machine, layer by layer (regions, FlatView,
// dispatch), and what a written 4 KiB RAM block costs; with --against REF, the same for the source
// tree of a git ref, side by side in one run (before/after a change). One bundled process per
// (checkout, size), as dist/ ships: under tsx every function carries extra properties.
// Usage: npm run bench:heap [-- --sizes 1000,10000,100000 --against main --kinds 10000 --out bench-results]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import type { HeapResult, LayerBytes } from './heap-child.ts';
import { BENCH_CACHE } from './bundle.ts';
import { fixed, line, thousands } from './output.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = BENCH_CACHE;

export const HEAP_USAGE = `usage: npm run bench:heap [-- options]
  --sizes LIST   regions (default 1000,10000,100000)
  --against REF  also measure the src/ of this git ref (for example main), side by side
  --kinds N      at N regions, also break each layer down by heap object kind (a heap snapshot per layer)
  --out DIR      where heap.json goes (default bench-results)`;

export interface HeapOptions {
  sizes: number[];
  against?: string;
  kinds?: number;
  out: string;
}

export function parseHeapArgs(argv: string[]): HeapOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string' },
      against: { type: 'string' },
      kinds: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const count = (flag: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
      throw new Error(`--${flag}: '${text}' is not a region count between 1 and 1000000`);
    return n;
  };
  return {
    sizes: (values.sizes ?? '1000,10000,100000').split(',').map((s) => count('sizes', s.trim())),
    against: values.against,
    kinds: values.kinds === undefined ? undefined : count('kinds', values.kinds),
    out: values.out ?? 'bench-results',
  };
}

/** The src/ of a git ref, extracted under node_modules/.cache (so its imports resolve to our node_modules). */
function checkoutOf(ref: string): string {
  const dir = join(CACHE, `heap-${ref.replace(/[^\w.-]/g, '_')}/`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['-C', ROOT, 'archive', ref, 'src'], { maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  return dir;
}

/** The child bundled against `checkout`'s memory module. */
async function bundleChild(checkout: string, tag: string): Promise<string> {
  const memory = join(checkout, 'src/memory/index.ts');
  const redirect: Plugin = {
    name: 'memory-of-checkout',
    setup(b) {
      b.onResolve({ filter: /\/src\/memory\/index\.ts$/ }, () => ({ path: memory }));
    },
  };
  const out = join(CACHE, `heap-child-${tag}.mjs`);
  await build({
    entryPoints: [fileURLToPath(new URL('./heap-child.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: out,
    plugins: [redirect],
    logLevel: 'error',
  });
  return out;
}

function runChild(child: string, n: number, snapshot: boolean): HeapResult {
  // Single-threaded: no concurrent compiler or GC finishing between two measurements, so a run repeats exactly.
  const r = spawnSync(process.execPath, ['--expose-gc', '--single-threaded', child, JSON.stringify({ n, snapshot })], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{'))
    throw new Error(
      `heap benchmark, ${n} regions: ${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.status}`}`,
    );
  return JSON.parse(last) as HeapResult;
}

/** vdm's own layers: everything but the benchmark's handlers. */
function vdmTotal(r: HeapResult): { heap: number; arrayBuffers: number } {
  const own = r.layers.filter((l) => l.layer !== 'handlers');
  return { heap: own.reduce((s, l) => s + l.heap, 0), arrayBuffers: own.reduce((s, l) => s + l.arrayBuffers, 0) };
}

const cell = (heap: number, ab: number): string => (ab >= 1 ? `${fixed(heap, 0)} + ${fixed(ab, 0)}` : fixed(heap, 0));

async function main(): Promise<void> {
  let opts: HeapOptions;
  try {
    opts = parseHeapArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench:heap: ${(e as Error).message}\n\n${HEAP_USAGE}`);
    process.exit(2);
  }
  mkdirSync(CACHE, { recursive: true });
  const trees: { name: string; child: string }[] = [];
  if (opts.against) trees.push({ name: opts.against, child: await bundleChild(checkoutOf(opts.against), 'against') });
  trees.push({ name: 'this tree', child: await bundleChild(ROOT, 'this') });
  const results: Record<string, HeapResult[]> = {};
  console.log(
    `Heap bytes per region after a full GC (JS heap + typed-array contents), node ${process.version}; ` +
      '"handlers" is the benchmark\'s own device state, not vdm\'s',
  );
  const widths = [8, -17, ...trees.map(() => 16)];
  console.log(line(['regions', 'layer', ...trees.map((t) => t.name)], widths));
  for (const n of opts.sizes) {
    const rs = trees.map((t) => runChild(t.child, n, n === opts.kinds));
    trees.forEach((t, i) => (results[t.name] ??= []).push(rs[i]!));
    for (const layer of rs[0]!.layers.map((l) => l.layer)) {
      const of = (r: HeapResult): LayerBytes => r.layers.find((l) => l.layer === layer)!;
      console.log(line([thousands(n), layer, ...rs.map((r) => cell(of(r).heap, of(r).arrayBuffers))], widths));
    }
    console.log(line(['', 'vdm total', ...rs.map((r) => cell(vdmTotal(r).heap, vdmTotal(r).arrayBuffers))], widths));
    if (n === opts.kinds)
      rs.forEach((r, i) => {
        console.log(`  by heap object kind, ${trees[i]!.name} (bytes per region, >= 4):`);
        for (const l of r.layers) {
          const kinds = Object.entries(l.kinds ?? {})
            .filter(([, b]) => Math.abs(b) >= 4)
            .sort((a, b) => b[1] - a[1]);
          console.log(`    ${l.layer.padEnd(9)} ${kinds.map(([k, b]) => `${k} ${fixed(b, 0)}`).join(', ')}`);
        }
      });
  }
  console.log('RAM blocks written in one place, bytes per block (JS heap + array buffers):');
  const ram = trees.map((t) => results[t.name]![0]!.ramBlocks);
  for (const [i, { label }] of ram[0]!.entries())
    console.log(line(['', label, ...ram.map((r) => cell(r[i]!.heap, r[i]!.arrayBuffers))], widths));
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(
    join(opts.out, 'heap.json'),
    `${JSON.stringify({ node: process.version, options: opts, results }, null, 1)}\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
