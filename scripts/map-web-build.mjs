// esbuild options of the memory map's page script (src/map/web/main.ts), shared by the build and the tests.
export const mapWebOptions = {
  entryPoints: ['src/map/web/main.ts'],
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'chrome100',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};
