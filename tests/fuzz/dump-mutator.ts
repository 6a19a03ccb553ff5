// A seeded mutator for QEMU `info mtree` dumps: the ways a monitor log gets damaged or forged
// (cut short, fields swapped, numbers pushed to their limits, lines duplicated or lost, nesting
// far deeper than any machine). Same seed, same mutants.

/** mulberry32: a small, fast, seedable PRNG (fractions in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

const REGION = /^(\s*)([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), ([^)]*)\): (.*)$/;
const EXTREME_HEX = [
  '0000000000000000',
  'ffffffffffffffff',
  '8000000000000000',
  '7fffffffffffffff',
  '0000ffffffffffff',
  '00000000fffffffe',
];
const EXTREME_PRIO = ['-2147483648', '2147483647', '2147483648', '-99999999999999999999', '0', '4096'];
const TYPES = ['ram', 'rom', 'romd', 'ramd', 'i/o', 'container', 'nv-ram', 'flash', ''];

/** One damaged line: the fields of a region line, or the line itself. */
function mutateLine(r: Rand, line: string, names: string[]): string {
  const m = REGION.exec(line);
  if (!m) return pick(r, [line.slice(0, int(r, line.length + 1)), line + ' garbage', '(qemu) info mtree', '']);
  let [, indent, start, end, prio, type, rest] = m as unknown as string[];
  switch (int(r, 9)) {
    case 0:
      [start, end] = [end!, start!];
      break; // swapped fields
    case 1:
      start = pick(r, EXTREME_HEX);
      break;
    case 2:
      end = pick(r, EXTREME_HEX);
      break;
    case 3:
      prio = pick(r, EXTREME_PRIO);
      break;
    case 4:
      type = pick(r, TYPES);
      break;
    case 5:
      [type, rest] = [rest!, type!];
      break;
    case 6:
      rest = /^alias /.test(rest!)
        ? rest!.replace(/@\S+/, '@' + pick(r, names))
        : `alias ${rest} @${pick(r, names)} ${start}-${end}`;
      break; // retargeted: cycles, self-aliases
    case 7:
      indent = ' '.repeat(Math.max(0, indent!.length + pick(r, [-2, -1, 1, 2, 40])));
      break;
    default:
      rest = rest + pick(r, [' [disabled]', ' owner:{x}', ' orphan', ' @0000000000001000', '']);
  }
  return `${indent}${start}-${end} (prio ${prio}, ${type}): ${rest}`;
}

/** A mutant of `text`: one to three damages chosen by `r`. */
export function mutateDump(r: Rand, text: string): string {
  const lines = text.split('\n');
  const names = [
    ...new Set(lines.map((l) => REGION.exec(l)?.[6]?.replace(/^alias (\S+).*/, '$1')).filter((n): n is string => !!n)),
  ];
  for (let k = 1 + int(r, 3); k > 0; k--) {
    const i = int(r, lines.length);
    switch (int(r, 8)) {
      case 0:
        return lines.join('\n').slice(0, int(r, text.length)); // truncation
      case 1:
        lines.splice(i, 0, lines[i]!);
        break; // duplicated line
      case 2:
        lines.splice(i, 1);
        break; // removed line
      case 3:
        lines.splice(i, 0, ...lines.slice(i, i + 1 + int(r, 40)));
        break; // duplicated block
      case 4: {
        // deep nesting: one line opens thousands of levels, or a staircase of them
        const m = REGION.exec(lines[i] ?? '');
        if (!m) break;
        const depth = pick(r, [500, 1001, 5000, 100_000]);
        if (r() < 0.5) lines[i] = '  '.repeat(depth) + lines[i]!.trimStart();
        else
          lines.splice(
            i + 1,
            0,
            ...Array.from(
              { length: Math.min(depth, 1500) },
              (_, d) => '  '.repeat(m[1]!.length / 2 + d + 1) + `${m[2]}-${m[3]} (prio 0, i/o): nest${d}`,
            ),
          );
        break;
      }
      default:
        lines[i] = mutateLine(r, lines[i] ?? '', names);
    }
  }
  return lines.join('\n');
}
