// The boot report reads for a newcomer: sums that add up, columns that align whatever the numbers,
// every term it uses explained by `vdm boot --explain-terms`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootFromArgs } from '../../src/cli/boot-command.ts';
import { packageRoot } from '../../src/cli/package-root.ts';
import { runCli } from '../../src/cli/main.ts';
import { formatBootReport, formatGlossary, GLOSSARY } from '../../src/run/index.ts';

test('the interrupt line is a sum that adds up (1,000 raised, not 1,010), pended ones said apart', () => {
  for (const machine of ['q35', 'virt', 'pseries']) {
    const r = bootFromArgs({ machine }).report;
    const i = r.devices[0]!.interrupts;
    assert.is(i.viaKvm + i.viaVmm + i.lost, i.raised, machine);
    const text = formatBootReport(r);
    assert.match(
      text,
      `interrupts: ${i.raised.toLocaleString('en-US')} raised by the device = ` +
        `${i.viaKvm.toLocaleString('en-US')} via KVM irqfd + ${i.viaVmm} via the VMM + ${i.lost} lost`,
    );
  }
  assert.match(
    formatBootReport(bootFromArgs({ machine: 'virt' }).report),
    '10 of those via the VMM fired while their vector was masked',
  );
});

test('the accesses table stays aligned when counts and times grow huge', () => {
  const r = bootFromArgs({ machine: 'q35' }).report;
  r.accesses.fast.ram = 123_456_789_012;
  r.accesses.slow.trappedToKernel = 7;
  r.estimate.byPathUs.ram = 98_765_432.1;
  const lines = formatBootReport(r).split('\n');
  // the table's header, not a BAR's "accesses:" line
  const head = lines.findIndex((l) => /^\s*accesses +count/.test(l));
  const table = lines.slice(head, head + 7);
  const ends = (l: string, cell: RegExp) => [...l.matchAll(cell)].map((m) => m.index! + m[0].length);
  // Every row's count, cost and time end in the same columns as the header's.
  const cols = ends(table[0]!, /count|cost\/access|est\. time/g);
  for (const row of table.slice(1)) assert.equal(ends(row, /[\d,]+ ns|[\d,.]+ us|[\d,]+(?= )/g).slice(-3), cols, row);
  assert.match(table[1]!, '123,456,789,012');
  assert.match(table[1]!, '98,765,432.1 us');
});

test('vdm boot --explain-terms explains every word the report points to; the README carries the same glossary', () => {
  const r = runCli(['boot', '--explain-terms']);
  assert.is(r.code, 0);
  for (const t of ['irqfd', 'memslot', 'PBA', 'TCE', 'type1', 'overlay'])
    assert.ok(
      GLOSSARY.some(([term]) => term.includes(t)),
      t,
    );
  assert.is(r.out, formatGlossary());
  assert.match(formatBootReport(bootFromArgs({}).report), 'vdm boot --explain-terms');
  assert.ok(
    readFileSync(join(packageRoot(), 'README.md'), 'utf8').includes('```\n' + formatGlossary() + '```'),
    'README glossary = vdm boot --explain-terms',
  );
  for (const line of formatGlossary().split('\n')) assert.ok(line.length <= 100, line);
});

test.run();
