// One process per (checkout, size) of the heap benchmark: builds the access benchmark's machine one
// layer at a time and reports what each layer adds to the heap after a full GC: the handlers (the
// benchmark's own device state), the regions in their tree, the rendered FlatView, the compiled
// dispatch. With `snapshot`, it also says which kinds of heap object each layer added (a V8 heap
// snapshot after every layer, self sizes summed by type and constructor).
// Usage (from heap.ts, which bundles it per checkout measured): node --expose-gc heap-child.mjs '{"n":1000}'
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { layout, ramBlockBytes, vdmRegions, RAM_BASE } from './access-layout.ts';

interface Args {
  n: number;
  snapshot?: boolean;
}

export const LAYERS = ['handlers', 'regions', 'view', 'dispatch'] as const;
export type Layer = (typeof LAYERS)[number];

export interface LayerBytes {
  layer: Layer;
  /** Bytes per region this layer added: JS heap, and array-buffer contents (typed arrays). */
  heap: number;
  arrayBuffers: number;
  /** With a snapshot: bytes per region this layer added, by heap object kind. */
  kinds?: Record<string, number>;
}

export interface HeapResult {
  n: number;
  ranges: number;
  layers: LayerBytes[];
  /** RAM blocks written in one place, bytes per block: 4 KiB (also once a RAM window has moved to it), 64 KiB, 16 MiB. */
  ramBlocks: RamBlockBytes[];
}

export interface RamBlockBytes {
  label: string;
  heap: number;
  arrayBuffers: number;
}

/** The RAM blocks measured, and over how many of each (fewer of the big ones: their headers are noise beside them). */
const RAM_BLOCKS = [
  { label: 'RAM 4 KiB', size: 4096, count: 4000, windowed: false },
  { label: 'RAM 4 KiB, window', size: 4096, count: 4000, windowed: true },
  { label: 'RAM 64 KiB', size: 65536, count: 1000, windowed: false },
  { label: 'RAM 16 MiB', size: 1 << 24, count: 16, windowed: false },
];

const args = JSON.parse(process.argv[2]!) as Args;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('heap-child: run under node --expose-gc');

/** Self sizes of every live object, summed by kind: "type constructor" for objects, the type otherwise. */
function snapshotKinds(): Map<string, number> {
  const file = join(tmpdir(), `vdm-heap-${process.pid}.heapsnapshot`);
  writeHeapSnapshot(file);
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  rmSync(file);
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, number>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType]!]!;
    const named = type === 'object' || type === 'closure' || type === 'array' || type === 'hidden';
    const key = named ? `${type} ${snap.strings[snap.nodes[i + iName]!]!.slice(0, 40)}` : type;
    out.set(key, (out.get(key) ?? 0) + snap.nodes[i + iSize]!);
  }
  return out;
}

let last = { heap: 0, arrayBuffers: 0, kinds: new Map<string, number>() };
function measure(): typeof last {
  gc!();
  gc!();
  const u = process.memoryUsage();
  return { heap: u.heapUsed, arrayBuffers: u.arrayBuffers, kinds: args.snapshot ? snapshotKinds() : new Map() };
}

const layers: LayerBytes[] = [];
function layer(name: Layer): void {
  const now = measure();
  const row: LayerBytes = {
    layer: name,
    heap: (now.heap - last.heap) / args.n,
    arrayBuffers: (now.arrayBuffers - last.arrayBuffers) / args.n,
  };
  if (args.snapshot) {
    row.kinds = {};
    for (const k of new Set([...now.kinds.keys(), ...last.kinds.keys()])) {
      const d = ((now.kinds.get(k) ?? 0) - (last.kinds.get(k) ?? 0)) / args.n;
      if (Math.abs(d) >= 1) row.kinds[k] = d;
    }
  }
  layers.push(row);
  last = now;
}

// A first, smaller machine compiles the code every layer runs, so code objects are not counted as data.
for (let i = 0; i < 3; i++) {
  const warm = vdmRegions(layout(Math.min(args.n, 1000)));
  warm.mem.addressSpace('warm-up', warm.root).read(RAM_BASE, 4);
  ramBlockBytes(100);
  ramBlockBytes(100, 4096, true);
}
last = measure();
const l = layout(args.n);
layer('handlers');
const { mem, root } = vdmRegions(l);
layer('regions');
const as = mem.addressSpace('memory', root);
layer('view');
as.read(RAM_BASE, 4); // compiles the dispatch, as the access benchmark's setup does
layer('dispatch');
const ranges = as.view.ranges.length;
const ramBlocks = RAM_BLOCKS.map((r) => ({ label: r.label, ...ramBlockBytes(r.count, r.size, r.windowed) }));
const result: HeapResult = { n: args.n, ranges, layers, ramBlocks };
process.stdout.write(`${JSON.stringify(result)}\n`);
