// Progress on long work: a bar on a terminal, nothing when piped; the guest reports every iteration.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { progressBar } from '../../src/cli/progress.ts';
import { runCli } from '../../src/cli/main.ts';
import { bootFromArgs } from '../../src/cli/boot-command.ts';

/** A stream that says it is (or is not) a terminal and keeps what is written to it. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = new Writable({
    write: (chunk, _enc, cb) => ((s.text += String(chunk)), cb()),
  }) as unknown as NodeJS.WriteStream & { text: string };
  s.text = '';
  Object.assign(s, {
    isTTY,
    columns: 100,
    cursorTo: (_x: number, _y?: unknown, cb?: () => void) => (cb?.(), true),
    clearLine: (_d: number, cb?: () => void) => (cb?.(), true),
    moveCursor: (_x: number, _y: number, cb?: () => void) => (cb?.(), true),
  });
  return s;
}

test('piped (not a terminal): no bar at all', () => {
  assert.is(progressBar('guest nic', stream(false)), null);
});

test('on a terminal: the bar shows done/total and is cleared at the end', () => {
  const s = stream(true);
  const bar = progressBar('guest nic', s)!;
  bar.update(1, 4);
  bar.update(4, 4);
  bar.stop();
  assert.match(s.text, 'guest nic [');
  assert.match(s.text, '4/4');
});

test('the guest reports each iteration of every driver, ending at the total', () => {
  const seen: [number, number][] = [];
  const r = bootFromArgs({ machine: 'q35' }, (done, total) => seen.push([done, total]));
  const iterations = r.report.guest.iterations;
  assert.is(seen.length, iterations);
  assert.equal(seen[seen.length - 1], [iterations, iterations]);
  assert.ok(
    seen.every(([d], i) => d === i + 1),
    'one step at a time, in order',
  );
});

test('--json output is unaffected (the bar only ever goes to a terminal on stderr)', () => {
  const r = runCli(['boot', '--json']);
  assert.is(r.err, '');
  assert.ok(JSON.parse(r.out).verdict.working);
});

test.run();
