// A seeded mutator for JSON input files (host, machine, guest): truncation, type swaps, extreme
// numbers, duplicated, removed and unknown keys, deep nesting. Every choice comes from one seed, so
// a failing case is replayed from its seed alone (QEMU dumps have their own in dump-mutator.ts).
import { seededRandom } from './dump-mutator.ts';

/** Seeded choices over dump-mutator.ts's PRNG (one generator for every fuzz suite). */
export class Rng {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Numbers at the edges of what the files accept: zero, negatives, fractions, 2^31/2^32/2^53/2^64 and beyond. */
export const EXTREME_NUMBERS: readonly Json[] = [
  0,
  1,
  -1,
  0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  1e308,
  -0,
  '0x0',
  '0x7fffffff',
  '0xffffffff',
  '0x100000000',
  '0x8000000000000000',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '0x' + 'f'.repeat(40),
  '-0x1',
  '0x',
  '',
  '1_000',
  '0x1000',
];

/** Values of every JSON type, to swap in for a value of another. */
const ANY_TYPE: readonly Json[] = [null, true, false, 0, 'x', 'nic', [], [1], {}, { a: 1 }];

/** A path to a value in a document: keys and indexes. */
type Path = (string | number)[];

function paths(doc: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(doc)) doc.forEach((v, i) => paths(v, [...at, i], out));
  else if (doc && typeof doc === 'object') for (const [k, v] of Object.entries(doc)) paths(v, [...at, k], out);
  return out;
}

function get(doc: Json, p: Path): Json {
  return p.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, doc);
}

function set(doc: Json, p: Path, value: Json): Json {
  if (!p.length) return value;
  (get(doc, p.slice(0, -1)) as Record<string | number, Json>)[p.at(-1)!] = value;
  return doc;
}

/** `depth` levels of arrays or objects around a value, as text (built without recursion). */
function nested(depth: number, rng: Rng): string {
  const inner = JSON.stringify(rng.pick(ANY_TYPE));
  return rng.int(2) === 0
    ? '['.repeat(depth) + inner + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}

/** Serializes with one key of one object written twice (JSON.parse keeps the last). */
function withDuplicateKey(doc: Json, target: Json, key: string, dup: Json): string {
  const ser = (v: Json): string => {
    if (Array.isArray(v)) return `[${v.map(ser).join(',')}]`;
    if (v && typeof v === 'object') {
      const parts = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${ser(x)}`);
      if (v === target) parts.push(`${JSON.stringify(key)}:${ser(dup)}`);
      return `{${parts.join(',')}}`;
    }
    return JSON.stringify(v);
  };
  return ser(doc);
}

export const JSON_MUTATIONS = [
  'truncate',
  'typeSwap',
  'extremeNumber',
  'duplicateKey',
  'removeKey',
  'unknownKey',
  'deepNesting',
  'duplicateElement',
  'dropElement',
] as const;
export type JsonMutation = (typeof JSON_MUTATIONS)[number];

/**
 * Applies `count` seeded mutations to a JSON document's text and returns the new text with the
 * names of the mutations applied (a truncation ends the sequence: the text is no longer JSON).
 */
export function mutateJson(text: string, rng: Rng, count = 1 + rng.int(3)): { text: string; applied: string[] } {
  let doc = JSON.parse(text) as Json;
  const applied: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rng.pick(JSON_MUTATIONS);
    const all = paths(doc);
    const p = rng.pick(all);
    const where = p.join('.') || '(root)';
    const parent = p.length ? get(doc, p.slice(0, -1)) : null;
    switch (kind) {
      case 'truncate': {
        const s = JSON.stringify(doc);
        applied.push(`truncate@${s.length}`);
        return { text: s.slice(0, rng.int(s.length)), applied };
      }
      case 'typeSwap':
        doc = set(doc, p, rng.pick(ANY_TYPE));
        break;
      case 'extremeNumber': {
        const numeric = all.filter(
          (q) => typeof get(doc, q) === 'number' || /^(0x[0-9a-f]+|\d+)$/i.test(String(get(doc, q))),
        );
        const q = numeric.length ? rng.pick(numeric) : p;
        const v = rng.pick(EXTREME_NUMBERS);
        doc = set(doc, q, v);
        applied.push(`extremeNumber ${q.join('.')}=${JSON.stringify(v)}`);
        continue;
      }
      case 'duplicateKey': {
        const objects = all
          .map((q) => get(doc, q))
          .filter(
            (v): v is { [k: string]: Json } =>
              !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0,
          );
        if (!objects.length) break;
        const o = rng.pick(objects);
        const k = rng.pick(Object.keys(o));
        applied.push(`duplicateKey ${k}`);
        return { text: withDuplicateKey(doc, o, k, rng.pick([...ANY_TYPE, ...EXTREME_NUMBERS])), applied };
      }
      case 'removeKey':
        if (parent && !Array.isArray(parent) && typeof parent === 'object') delete parent[p.at(-1) as string];
        break;
      case 'unknownKey': {
        const v = get(doc, p);
        if (v && typeof v === 'object' && !Array.isArray(v)) v[`x${rng.int(100)}`] = rng.pick(ANY_TYPE);
        break;
      }
      case 'deepNesting': {
        // Spliced in as text and last: deeper than JSON.stringify (or any recursive walk) goes.
        const mark = `@nest${rng.int(1e9)}@`;
        doc = set(doc, p, mark);
        applied.push(`deepNesting ${where}`);
        return {
          text: JSON.stringify(doc).replace(JSON.stringify(mark), nested(rng.pick([10, 1000, 6000]), rng)),
          applied,
        };
      }
      case 'duplicateElement': {
        const v = get(doc, p);
        if (Array.isArray(v) && v.length) v.push(JSON.parse(JSON.stringify(rng.pick(v))));
        break;
      }
      case 'dropElement':
        if (Array.isArray(parent)) parent.splice(p.at(-1) as number, 1);
        break;
    }
    applied.push(`${kind} ${where}`);
  }
  return { text: JSON.stringify(doc, null, 1), applied };
}
