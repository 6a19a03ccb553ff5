// Runs every uvu test under tests/ (TypeScript through tsx) and ends with the
// closing line CI reads: "N passed, N failed". A run in which fewer tests ran than the test files
// declared fails (count-tests.mjs counts the declarations).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = [
  '--import',
  'tsx',
  '--import',
  join(root, 'scripts/count-tests.mjs'),
  join(root, 'node_modules/uvu/bin.js'),
  'tests',
  '\\.test\\.ts$',
  ...process.argv.slice(2),
];
const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });

let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
let err = '';
child.stderr.on('data', (d) => {
  err += d;
  process.stderr.write(d);
});
child.on('close', (code) => {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  let failed = total - passed - skipped;
  if (code !== 0 && failed === 0) failed = 1; // a crash before the summary still fails
  const declared = Number(/tests declared: (\d+)/.exec(err)?.[1] ?? -1);
  const late = [...err.matchAll(/test declared after its file's test.run\(\): (.*)/g)].map((m) => m[1]);
  if (declared !== total || late.length) {
    console.log(
      `\n${declared} tests declared, ${total} ran${late.length ? `; declared after their file's test.run() (move test.run() to the end): ${late.join(', ')}` : ''}`,
    );
    failed = Math.max(failed, 1);
  }
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed > 0 ? 1 : 0);
});
