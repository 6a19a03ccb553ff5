// The deoptimisation check of the access benchmark: V8's --trace-opt/--trace-deopt lines, sent to
// a file, counted per look. One test runs node itself, so a change of V8's log format is caught.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CodeEvents, codeEventFlags, countCodeEvents } from '../../scripts/bench/code-events.ts';

const dir = mkdtempSync(join(tmpdir(), 'vdm-code-events-'));

function run(log: string, src: string): string {
  const r = spawnSync(process.execPath, [...codeEventFlags(log), '-e', src], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

test('node under the flags: a function optimised, then fed another shape, is seen deoptimised', () => {
  const log = join(dir, 'deopt.log');
  const out = run(
    log,
    `function f(o) { return o.x + 1; }
     let s = 0;
     for (let i = 0; i < 3e5; i++) s += f({ x: i });
     for (let i = 0; i < 3e5; i++) s += f({ y: 1, x: i });
     process.stdout.write(String(s));`,
  );
  assert.match(out, /^\d+$/, `the trace goes to the file, not stdout: ${JSON.stringify(out.slice(0, 300))}`);
  const e = countCodeEvents(readFileSync(log, 'latin1'));
  assert.ok(e.opts >= 1, `optimised: ${JSON.stringify(e)}`);
  assert.ok(e.deopts >= 1, `deoptimised: ${JSON.stringify(e)}`);
});

test('CodeEvents counts only what was logged since its last look; no file counts nothing', () => {
  const log = join(dir, 'grow.log');
  appendFileSync(log, '[bailout (kind: deopt-eager, reason: wrong map): begin.\n');
  const e = new CodeEvents(log); // its first look is at construction
  assert.equal(e.take(), { deopts: 0, opts: 0 });
  appendFileSync(log, '[completed optimizing 0x1 <JSFunction f> (target TURBOFAN)]\n[bailout (kind: deopt-lazy\n');
  assert.equal(e.take(), { deopts: 1, opts: 1 });
  assert.equal(e.take(), { deopts: 0, opts: 0 });
  assert.equal(new CodeEvents(undefined).take(), { deopts: 0, opts: 0 });
  assert.equal(new CodeEvents(join(dir, 'missing.log')).take(), { deopts: 0, opts: 0 });
});

test('counted from the log text: bailouts and completed optimisations, not markings or compile starts', () => {
  const text = [
    '[marking 0x1 <JSFunction f> for optimization to TURBOFAN, reason: hot and stable]',
    '[compiling method 0x1 <JSFunction f> (target TURBOFAN), mode: ConcurrencyMode::kConcurrent]',
    '[completed optimizing 0x1 <JSFunction f> (target TURBOFAN)]',
    '[bailout (kind: deopt-eager, reason: wrong map): begin. deoptimizing 0x1 <JSFunction f>]',
    '[completed optimizing 0x1 <JSFunction f> (target TURBOFAN) OSR]',
  ].join('\n');
  assert.equal(countCodeEvents(text), { deopts: 1, opts: 2 });
  assert.equal(countCodeEvents(''), { deopts: 0, opts: 0 });
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
