// End-to-end boots: every machine type on its default host, the overlay difference
// between q35 and pseries, the doorbell path with and without relocation on a 64K host, a
// misbehaving guest, and malformed files giving exit code 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import { bootNicFarm, loadMachineFile, parseGuestFile } from '../../src/index.ts';
import { hostJson } from '../vfio/helpers.ts';
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
  assert.match(noHost.err, /m.json: defaultHost: missing: .* or pass --host NAME\|FILE/);
  assert.is(runCli(['boot', '--machine', join(dir, 'm.json'), '--host', 'x86-4k-ir']).code, 0);
  assert.throws(
    () => parseGuestFile('{"name":"g","vectors":0,"ringSize":8,"bufferSize":64,"iterations":1}', 'g.json'),
    /g.json: vectors: expected an integer from 1 to 2048, got 0/,
  );
  assert.throws(
    () => parseGuestFile('{"name":"g","vectors":1,"ringSize":8,"bufferSize":64}', 'g.json'),
    /g.json: iterations: expected a non-negative integer/,
  );
});

test("vdm mtree --machine prints the booted tree with the device's BAR regions", () => {
  const r = runCli(['mtree', '--machine', 'q35', '-D']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\(prio 0, ramd\): 0000:01:00.0 BAR 0 mmaps\[0\]/);
  assert.match(r.out, /\(prio 0, i\/o\): msix-pba \[disabled\]/);
  assert.match(runCli(['machines']).out, /pseries .*not emulated \(RTAS\)/);
});

test('vdm pci lists the assigned function with the BARs firmware placed; mtree --machine --explain names the ' +
  'mmap', () => {
  const pci = runCli(['pci', '--machine', 'q35']);
  assert.is(pci.code, 0, pci.err);
  assert.match(pci.out, /PCI device 8086:10fb/);
  assert.match(pci.out, /BAR0: 64 bit memory at 0x100000000 \[0x100003fff\]\./);
  const ex = runCli(['mtree', '--machine', 'q35', '--explain', '0x100002010']);
  assert.is(ex.code, 0, ex.err);
  assert.match(ex.out, /served by: msix-table/);
});

/** Boots `count` NICs from the machine's default host, packed onto its root bus. */
function bootMany(machine: string, count: number, program: Record<string, unknown> = {}) {
  const spec = loadMachineFile(fileURLToPath(new URL(`../../machines/${machine}.json`, import.meta.url)));
  const base = JSON.parse(readFileSync(new URL('../../machines/guests/nic.json', import.meta.url), 'utf8'));
  const guest = parseGuestFile(JSON.stringify({ ...base, ...program }), 'nic.json');
  return bootNicFarm(spec, hostJson(spec.defaultHost!), guest, count);
}

test('a guest drives every NIC: own vectors, own ring in RAM, every transmit completes (q35, 4 NICs in one ' +
  'multifunction slot)', () => {
  const r = bootMany('q35', 4, { iterations: 100 }).report;
  assert.is(r.driver!.nics, 4);
  assert.is(r.driver!.completions, 400);
  assert.is(r.driver!.spurious, 0);
  const irqs = r.devices.flatMap((d) => d.msix!.vectors.map((v) => v.irq));
  assert.is(new Set(irqs).size, 16, 'no two devices share a LAPIC vector');
  for (const d of r.devices) {
    assert.is(d.msix!.vectors[0]!.handled, 100, `${d.host} took its own completions`);
    assert.is(d.dma.faults, 0);
  }
  assert.equal(r.warnings, []);
});

test("pseries: every NIC's TCEs come from the PHB's one window, none overlapping", () => {
  const r = bootMany('pseries', 3, { iterations: 10 });
  assert.is(r.report.driver!.completions, 30);
  assert.is(
    r.report.devices.reduce((a, d) => a + d.dma.faults, 0),
    0,
  );
  const maps = r.report.devices[0]!.dma.mappings.map((m) => ({ iova: BigInt(m.iova), size: BigInt(m.size) })).sort(
    (a, b) => (a.iova < b.iova ? -1 : 1),
  );
  assert.ok(maps.length >= 3);
  for (let i = 1; i < maps.length; i++)
    assert.ok(
      maps[i - 1]!.iova + maps[i - 1]!.size <= maps[i]!.iova,
      'IOVA ranges of different drivers do not overlap',
    );
});

test('the LAPIC runs out of vectors: later NICs get fewer or none, and the report says so', () => {
  // q35's LAPIC has vectors 48-255 for devices (208); four NICs asking 64 each get 64, 64, 64, 16.
  const r = bootMany('q35', 4, { vectors: 64, iterations: 10 }).report;
  assert.equal(
    r.devices.map((d) => d.msix!.vectors.length),
    [64, 64, 64, 16],
  );
  assert.ok(
    r.warnings.some((w) => /48 MSI-X vectors were refused: the lapic has 208 for devices/.test(w)),
    r.warnings.join('\n'),
  );
  assert.is(r.driver!.completions, 40, 'vector 0 of every NIC still works');
});

test.run();
