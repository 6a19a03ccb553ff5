// Bundles the library, the CLI and the memory map's page script into dist/ (run by `npm ci` through "prepare").
import { build } from 'esbuild';
import { mapWebOptions } from './scripts/map-web-build.mjs';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
};
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
// cli-progress is CommonJS that requires Node builtins: loaded from node_modules, not bundled into ESM.
await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/cli.js',
  external: ['cli-progress'],
  banner: { js: '#!/usr/bin/env node' },
});
await build({ ...mapWebOptions, outfile: 'dist/map-web.js' });
