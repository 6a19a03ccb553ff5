// End-to-end boots (issue 6): every machine type on its default host, the overlay difference
// between q35 and pseries, the doorbell path with and without relocation on a 64K host, a
// misbehaving guest, and malformed files giving exit code 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { parseGuestFile } from '../../src/index.ts';
import type { BootReport } from '../../src/index.ts';

function bootJson(...args: string[]): BootReport {
  const r = runCli(['boot', '--json', ...args]);
  assert.is(r.code, 0, r.err);
  return JSON.parse(r.out) as BootReport;
}

for (const machine of ['pc', 'q35', 'virt', 'pseries', 'ppce500']) {
  test(`${machine} boots on its default host: every transmit completes and interrupts`, () => {
    const r = bootJson('--machine', machine, '--guest', 'nic');
    const d = r.devices[0]!;
    assert.is(r.driver!.completions, 1000);
    assert.is(d.msix!.vectors[0]!.handled, 1000);
    assert.is(d.dma.faults, 0);
    assert.is(r.driver!.spurious, 0);
    assert.ok(r.accesses.fast.ram > 0);
  });
}

test('the same guest on q35 and on pseries: the table overlay, and who programs MSI-X', () => {
  const q = bootJson('--machine', 'q35');
  const p = bootJson('--machine', 'pseries');
  assert.equal(q.devices[0]!.bars[0]!.overlays.find((o) => o.name === 'msix-table')!.enabled, true);
  assert.equal(p.devices[0]!.bars[0]!.overlays.find((o) => o.name === 'msix-table')!.enabled, false);
  assert.is(q.devices[0]!.msix!.programmedBy, 'table');
  assert.is(p.devices[0]!.msix!.programmedBy, 'rtas');
  assert.is(p.accesses.slow.msixOverlay, 0);
  assert.ok(q.accesses.slow.msixOverlay > 0);
  assert.ok(p.driver!.tces > 0, 'pseries DMA goes through TCEs the guest installed');
});

test('virt on the 64K host: the doorbell exits without relocation and is fast with x-msix-relocation=bar2', () => {
  const slow = bootJson('--machine', 'virt');
  assert.ok(slow.accesses.slow.mmapExit >= 1000);
  assert.ok(slow.warnings.some((w) => /x-msix-relocation/.test(w)));
  const fast = bootJson('--machine', 'virt', '--device', 'host=0000:01:00.0,x-msix-relocation=bar2');
  assert.is(fast.accesses.slow.mmapExit, 0);
  assert.ok(fast.accesses.fast.mmap >= 2000);
  assert.is(fast.devices[0]!.msix!.table, 'BAR2+0x0');
  assert.ok(fast.estimate.totalUs < slow.estimate.totalUs);
});

test('a misbehaving guest finishes; faults are reported and nothing outside its mappings is touched', () => {
  const r = bootJson('--machine', 'q35', '--guest', 'nic-misbehaving');
  const d = r.devices[0]!;
  assert.is(d.dma.faults > 0, true);
  assert.ok(r.warnings.some((w) => /IOMMU faults/.test(w)));
  assert.ok(r.warnings.some((w) => /unassigned/.test(w)));
  assert.is(r.driver!.completions, 50, 'the workload before the garbage completed');
});

test('a GICv2m host refuses the device: exit 1 and the reason', () => {
  const r = runCli(['boot', '--machine', 'virt-gicv2m']);
  assert.is(r.code, 1);
  assert.match(r.err, /allow_unsafe_interrupts/);
});

test('bad input is exit 2 with the file and field named', () => {
  const missing = runCli(['boot', '--machine', '/nonexistent/m.json']);
  assert.is(missing.code, 2);
  assert.match(missing.err, /\/nonexistent\/m.json: \(file\)/);
  assert.is(runCli(['boot', '--device', 'host=0000:01:00.0,x-msix-relocation=bar9']).code, 2);
  assert.is(runCli(['boot', '--bogus']).code, 2);
  const dir = mkdtempSync(join(tmpdir(), 'vdm-'));
  const spec = JSON.parse(readFileSync(new URL('../../machines/q35.json', import.meta.url), 'utf8'));
  delete spec.defaultHost;
  writeFileSync(join(dir, 'm.json'), JSON.stringify(spec));
  const noHost = runCli(['boot', '--machine', join(dir, 'm.json')]);
  assert.is(noHost.code, 2);
  assert.match(noHost.err, /names no defaultHost: pass --host/);
  assert.is(runCli(['boot', '--machine', join(dir, 'm.json'), '--host', 'x86-4k-ir']).code, 0);
  assert.throws(() => parseGuestFile('{"name":"g","vectors":0,"ringSize":8,"bufferSize":64,"iterations":1}', 'g.json'), /g.json: vectors: expected an integer from 1 to 2048, got 0/);
  assert.throws(() => parseGuestFile('{"name":"g","vectors":1,"ringSize":8,"bufferSize":64}', 'g.json'), /g.json: iterations: expected a non-negative integer/);
});

test('vdm mtree --machine prints the booted tree with the device\'s BAR regions', () => {
  const r = runCli(['mtree', '--machine', 'q35', '-D']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\(prio 0, ramd\): 0000:01:00.0 BAR 0 mmaps\[0\]/);
  assert.match(r.out, /\(prio 0, i\/o\): msix-pba \[disabled\]/);
  assert.match(runCli(['machines']).out, /pseries .*not emulated \(RTAS\)/);
});

test('vdm pci lists the assigned function with the BARs firmware placed; mtree --machine --explain names the mmap', () => {
  const pci = runCli(['pci', '--machine', 'q35']);
  assert.is(pci.code, 0, pci.err);
  assert.match(pci.out, /PCI device 8086:10fb/);
  assert.match(pci.out, /BAR0: 64 bit memory at 0x100000000 \[0x100003fff\]\./);
  const ex = runCli(['mtree', '--machine', 'q35', '--explain', '0x100002010']);
  assert.is(ex.code, 0, ex.err);
  assert.match(ex.out, /served by: msix-table/);
});

test.run();
