// The vdm command line: exit codes 0 / 1 / 2 and the mtree command (issue: memory core, item 5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { QEMU_DIR, commandOutput, qemuFile, flatBlocks } from '../memory/qemu-golden.ts';

const dump = QEMU_DIR + 'pc-basic.txt';
const tmp = mkdtempSync(join(tmpdir(), 'vdm-cli-'));

test("vdm mtree --import-qemu FILE -f prints QEMU's flat views", () => {
  const r = runCli(['mtree', '--import-qemu', dump, '-f']);
  assert.is(r.code, 0);
  assert.equal(flatBlocks(r.out), flatBlocks(commandOutput(qemuFile('pc-basic.txt'), 'info mtree -f')));
});

test('vdm mtree --explain names the region, the alias path and what it hides', () => {
  const r = runCli(['mtree', '--import-qemu', dump, '--explain', '0xfee00010']);
  assert.is(r.code, 0);
  assert.match(r.out, 'served by: apic-msi (i/o) at offset 0x10');
  assert.match(r.out, 'access: MMIO');
  const io = runCli(['mtree', '--import-qemu', dump, '--explain', '0xcf9', '--as', 'I/O']);
  assert.match(io.out, 'served by: piix3-reset-control');
  assert.match(io.out, 'pci-conf-idx (i/o) at offset 0x1');
});

test('bad input exits 2 with a message naming the file and line', () => {
  const f = join(tmp, 'broken.txt');
  writeFileSync(
    f,
    'address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    ' +
      '00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci 00000000000a0000-00000000000bffff\n\n',
  );
  const r = runCli(['mtree', '--import-qemu', f]);
  assert.is(r.code, 2);
  assert.match(r.err, `${f}:3: alias smram-region targets "pci"`);
  assert.is(runCli(['mtree', '--import-qemu', join(tmp, 'missing.txt')]).code, 2);
  assert.is(runCli(['mtree', '--import-qemu', dump, '--explain', 'zz']).code, 2);
  assert.is(runCli(['mtree', '--import-qemu', dump, '--explain', '0x0', '--as', 'nope']).code, 2);
  assert.is(runCli(['mtree', '--bogus']).code, 2);
  assert.is(runCli(['frobnicate']).code, 2);
});

test('vdm --device addr= and multifunction=: placed where asked; bad values are exit 2', () => {
  const ok = runCli(['pci', '--device', 'host=0000:01:00.0,addr=0x7.0']);
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /Bus  0, device   7, function 0:/);
  const bad = runCli(['boot', '--device', 'host=0000:01:00.0,addr=20.0']);
  assert.is(bad.code, 2);
  assert.match(bad.err, /Property 'vfio-pci.addr' doesn't take value '20.0'/);
  assert.is(runCli(['boot', '--device', 'host=0000:01:00.0,multifunction=maybe']).code, 2);
  const lonely = runCli(['boot', '--json', '--device', 'host=0000:01:00.0,addr=3.1']);
  assert.is(
    lonely.code,
    1,
    'function 1 with no function 0 is accepted (QEMU checks only against a present function 0), but the run ' +
      'did not work',
  );
  assert.is(JSON.parse(lonely.out).driver, null, 'the guest, scanning function 0 first, never finds it');
});

test('--help on every command; demo runs and reports access paths', () => {
  for (const c of ['mtree', 'demo', 'host', 'hosts', 'boot', 'machines', 'pci']) {
    const r = runCli([c, '--help']);
    assert.is(r.code, 0);
    assert.match(r.out, `usage: vdm ${c}`);
  }
  const d = runCli(['demo']);
  assert.is(d.code, 0);
  assert.match(d.out, 'RAM-device (mmapped) 1000');
});

test.run();
