// The boot verdict: each device is judged on what happened in its run (seen by the guest, BARs in
// the machine's windows, interrupts delivered, every transmit completed, no DMA fault, no lost
// interrupt), and a run with a device that did not work exits 1 with the reason first on stderr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import {
  bootNicFarm,
  loadMachineFile,
  parseGuestFile,
  judgeDevice,
  workloadOutcome,
  type BootReport,
} from '../../src/index.ts';
import { hostJson, endpoint, makeBench, assignBars } from '../vfio/helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'vdm-verdict-'));
const write = (name: string, json: unknown) => {
  const f = join(tmp, name);
  writeFileSync(f, JSON.stringify(json));
  return f;
};

test('a working boot says so per device and for the run, in text and --json, exit 0', () => {
  const text = runCli(['boot']);
  assert.is(text.code, 0, text.err);
  assert.match(
    text.out,
    /^verdict: working — the device works\n  hostdev0: working — 1,000\/1,000 transmits completed, MSI-X via KVM irqfd/,
  );
  const json = JSON.parse(runCli(['boot', '--json', '--machine', 'pseries']).out) as BootReport;
  assert.is(json.verdict.working, true);
  assert.equal(
    json.verdict.devices.map((d) => [d.id, d.working, d.reasons]),
    [['hostdev0', true, []]],
  );
  assert.match(json.verdict.devices[0]!.summary, 'MSI-X (RTAS) via KVM irqfd');
});

test('a host function with no behaviour model (the README example had no "model"): NOT working, exit 1, ' +
  'reason first on stderr', () => {
  const h = hostJson('x86-4k-ir');
  delete endpoint(h).model;
  const r = runCli(['boot', '--host', write('no-model.json', h)]);
  assert.is(r.code, 1);
  assert.match(
    r.err.split('\n')[0]!,
    /^vdm boot: hostdev0 \(host 0000:01:00.0\): NOT working — 0 of 1,000 transmits completed: host function 0000:01:00.0 has no behaviour model/,
  );
  assert.match(r.out, /^verdict: NOT working — 1 of 1 device\(s\) did not work: hostdev0/);
  const json = runCli(['boot', '--json', '--host', write('no-model.json', h)]);
  assert.is(json.code, 1);
  assert.is((JSON.parse(json.out) as BootReport).verdict.working, false);
});

test('vdm boot --host x86-acs-topology --device host=0000:03:00.0 (a shipped host): NOT working, exit 1', () => {
  const r = runCli(['boot', '--host', 'x86-acs-topology', '--device', 'host=0000:03:00.0']);
  assert.is(r.code, 1);
  assert.match(r.err, '0 of 1,000 transmits completed');
});

test('the shipped INTx-only NIC with an option ROM works: its ROM BAR, disabled again after the firmware check, ' +
  'is not a misplaced BAR', () => {
  const r = runCli(['boot', '--device', 'host=0000:08:00.0']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /hostdev0: working — 1,000\/1,000 transmits completed, INTx/);
  assert.match(r.out, 'ROM (BAR6): 0x40000 from the device');
});

test('a device with only an INTx pin: the exit code agrees with whether its transmits completed', () => {
  const h = hostJson('x86-4k-ir');
  const ep = endpoint(h);
  delete ep.msix;
  delete ep.msi;
  const r = runCli(['boot', '--json', '--host', write('intx.json', h)]);
  const rep = JSON.parse(r.out) as BootReport;
  const done = rep.driver!.completions === rep.driver!.transmits;
  assert.is(r.code, done ? 0 : 1, r.err);
  assert.is(rep.verdict.working, done);
  if (!done) assert.match(r.err, 'no interrupt reached the driver: the device has no MSI-X');
});

test('function 1 without function 0 (addr=3.1) is invisible to the guest: NOT working, exit 1', () => {
  const r = runCli(['boot', '--device', 'host=0000:01:00.0,addr=3.1']);
  assert.is(r.code, 1);
  assert.match(r.err, 'the guest never saw it: it is function 1 of slot 3 and the slot has no function 0');
});

test('a NIC the interrupt controller has no vectors left for: NOT working, the others work', () => {
  const spec = loadMachineFile(fileURLToPath(new URL('../../machines/q35.json', import.meta.url)));
  const base = JSON.parse(readFileSync(new URL('../../machines/guests/nic.json', import.meta.url), 'utf8'));
  const guest = parseGuestFile(JSON.stringify({ ...base, vectors: 64, iterations: 10 }), 'nic.json');
  // 208 LAPIC vectors for devices: 64, 64, 64, 16, then none for the fifth.
  // Without an INTx pin there is nothing to fall back to (pci_alloc_irq_vectors would take INTx).
  const j = hostJson('x86-4k-ir');
  endpoint(j).intxPin = 0;
  const v = bootNicFarm(spec, j, guest, 5).report.verdict;
  assert.equal(
    v.devices.map((d) => d.working),
    [true, true, true, true, false],
  );
  assert.match(
    v.devices[4]!.summary,
    'the lapic gave the driver no MSI-X vectors (208 for devices, machine file interrupts.msiBase)',
  );
  assert.is(v.working, false);
});

test('a misbehaving guest is judged on its workload: its deliberate DMA fault does not count', () => {
  const r = runCli(['boot', '--guest', 'nic-misbehaving']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'hostdev0: working — 50/50 transmits completed');
});

test("a BAR outside the machine's windows, a DMA fault, a lost interrupt: each makes the device NOT working", () => {
  const { m, host, kernel } = makeBench('virt', 'arm64-64k-its');
  const d = m.devices[0]!;
  assignBars(m, d);
  const stats = {
    msixProgrammedBy: 'table' as const,
    irqMode: 'msix' as const,
    vectorIrqs: [1],
    handled: [10],
    transmits: 10,
    completions: 10,
    statusReads: 0,
    masks: 0,
    tces: 0,
  };
  const ok = judgeDevice(m, host, d, { ...workloadOutcome(d, kernel, true, stats), interruptsViaKvm: 10 });
  assert.is(ok.working, true, ok.summary);
  assert.is(
    judgeDevice(m, host, d, { ...workloadOutcome(d, kernel, true, stats), dmaFaults: 2 }).summary,
    'NOT working — 2 IOMMU faults (DMA to unmapped IOVAs)',
  );
  assert.is(
    judgeDevice(m, host, d, { ...workloadOutcome(d, kernel, true, stats), lostInterrupts: 3 }).summary,
    'NOT working — 3 interrupts lost',
  );
  // The guest moves BAR0 below the 32-bit window.
  const reg = 0x10;
  d.configWrite(reg, 0x100000, 4);
  d.configWrite(reg + 4, 0, 4);
  const moved = judgeDevice(m, host, d, workloadOutcome(d, kernel, true, stats));
  assert.is(moved.working, false);
  assert.match(
    moved.summary,
    /BAR0 \(0x\w+ bytes\) at 0x100000 lies outside the machine's PCI windows \(0x10000000\+0x2eff0000, 0x8000000000\+0x8000000000\)/,
  );
});

test('every command that boots (pci, mtree --machine, map) prints its output for a device that did not work, ' +
  'then exits 1 with the reason on stderr, as boot does', () => {
  const h = hostJson('x86-4k-ir');
  delete endpoint(h).model;
  const host = write('no-model-cmds.json', h);
  const map = join(tmp, 'map.html');
  const runs = {
    pci: runCli(['pci', '--host', host]),
    'pci -v': runCli(['pci', '-v', '--host', host]),
    mtree: runCli(['mtree', '--machine', 'q35', '--host', host]),
    'mtree --explain': runCli(['mtree', '--machine', 'q35', '--host', host, '--explain', '0xfee00000']),
    map: runCli(['map', '--host', host, '--out', map]),
  };
  for (const [what, r] of Object.entries(runs)) {
    const command = `vdm ${what.split(' ')[0]}`;
    assert.is(r.code, 1, what);
    assert.ok(r.out.length > 0, `${what}: its output is still printed`);
    assert.match(r.err.split('\n')[0]!, `${command}: hostdev0 (host 0000:01:00.0): NOT working — 0 of 1,000`, what);
    assert.match(r.err, `${command}: run NOT working`, what);
  }
  assert.match(runs.mtree.out, 'address-space: memory');
  assert.match(readFileSync(map, 'utf8'), '<svg');
  // The same commands on the default host, whose device works: exit 0, nothing on stderr.
  for (const argv of [['pci'], ['mtree', '--machine', 'q35'], ['map', '--out', map]]) {
    const r = runCli(argv);
    assert.is(r.code, 0, `${argv.join(' ')}: ${r.err}`);
    assert.is(r.err, '');
  }
});

test.run();
