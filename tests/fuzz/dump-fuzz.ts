// The dump fuzz loop, shared by the CI test and scripts/fuzz-dumps.ts: mutants of the QEMU dumps in
// tests/fixtures/qemu through the CLI entry point, in process.
import { mkdtempSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { QEMU_DIR, qemuFile } from '../memory/qemu-golden.ts';
import { mutateDump, seededRandom } from './dump-mutator.ts';

export const FLAGS = [
  [],
  ['-f'],
  ['-D', '-o'],
  ['-f', '-o'],
  ['--explain', '0xf0010'],
  ['--explain', '0x3f8', '--as', 'I/O'],
];

/** Runs `cases` mutants of the dumps in tests/fixtures/qemu through `vdm mtree`; what went wrong, by case. */
export function fuzzDumps(
  cases: number,
  seed: number,
): { exits: Record<number, number>; failures: string[]; slowestMs: number } {
  const dumps = readdirSync(QEMU_DIR)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => qemuFile(f));
  const dir = mkdtempSync(join(tmpdir(), 'vdm-dump-fuzz-'));
  const exits: Record<number, number> = {};
  const failures: string[] = [];
  let slowest = 0;
  try {
    const r = seededRandom(seed);
    for (let i = 0; i < cases; i++) {
      const file = join(dir, `case${i}.txt`);
      writeFileSync(file, mutateDump(r, dumps[i % dumps.length]!));
      const flags = FLAGS[Math.floor(r() * FLAGS.length)]!;
      const t0 = performance.now();
      const { code, err } = runCli(['mtree', '--import-qemu', file, ...flags]);
      slowest = Math.max(slowest, performance.now() - t0);
      exits[code] = (exits[code] ?? 0) + 1;
      const why =
        code !== 0 && code !== 2
          ? `exit ${code}`
          : /internal error|\n\s+at /.test(err)
            ? 'internal error or stack trace'
            : code === 2 && !err.includes(file)
              ? 'exit 2 without the file'
              : code === 2 &&
                  !err.startsWith('vdm mtree: --as ') &&
                  !new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `).test(err)
                ? 'exit 2 without a line number'
                : null;
      if (why)
        failures.push(`case ${i} (seed ${seed}, flags ${flags.join(' ') || 'none'}): ${why}: ${err.slice(0, 300)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { exits, failures, slowestMs: slowest };
}
