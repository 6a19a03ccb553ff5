// The published package: `npm pack`, installed into a fresh consumer project, type-checks
// `import { MemorySystem } from 'vdm'` with the settings `tsc --init` writes (strict, nodenext),
// lib check on. The types are the .d.ts files the build emits (tsconfig.build.json), not sources.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/cli/package-root.ts';

const root = packageRoot();
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('a consumer project type-checks against the packed package', () => {
  assert.ok(
    existsSync(join(root, 'dist', 'types', 'index.d.ts')),
    'dist/types/index.d.ts is missing: run "npm run build" (npm ci does)',
  );
  const tmp = mkdtempSync(join(tmpdir(), 'vdm-pack-'));
  // Scripts are skipped: dist/ is what `npm ci`/`npm run build` produced, and packing must not rebuild it.
  const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = packed[0]!.files.map((f) => f.path);
  assert.ok(
    files.includes('dist/types/index.d.ts') && files.includes('dist/index.js') && files.includes('dist/map-web.js'),
  );
  assert.not.ok(
    files.some((f) => f.startsWith('src/')),
    'sources are not published',
  );
  const consumer = join(tmp, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run(
    'npm',
    ['install', join(tmp, packed[0]!.filename), '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'],
    consumer,
  );
  run(process.execPath, [tsc, '--init'], consumer);
  writeFileSync(
    join(consumer, 'index.ts'),
    "import { MemorySystem, type AddressSpace } from 'vdm';\nconst mem = new MemorySystem();\nconst root = " +
      "mem.container('root', 1n << 64n);\nconst as: AddressSpace = mem.addressSpace('memory', root);\nexport " +
      'const name: string = as.name;\n',
  );
  run(process.execPath, [tsc, '-p', '.', '--noEmit', '--skipLibCheck', 'false'], consumer);
});

test.run();
