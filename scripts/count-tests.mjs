// Preloaded by run-tests.mjs: counts the tests the test files declare, so the runner can fail when
// fewer ran (a test declared after its file's test.run() is silently never run by uvu).
import { register } from 'node:module';
import { writeSync } from 'node:fs';

register('./count-tests-hooks.mjs', import.meta.url);

globalThis.VDM_DECLARED_TESTS = 0;
globalThis.VDM_LATE_TESTS = [];
process.on('exit', () => {
  for (const name of globalThis.VDM_LATE_TESTS) writeSync(2, `\ntest declared after its file's test.run(): "${name}"`);
  writeSync(2, `\ntests declared: ${globalThis.VDM_DECLARED_TESTS}\n`);
});
