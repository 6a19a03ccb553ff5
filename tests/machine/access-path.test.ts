// --explain on a booted machine and the boot report's counters follow one rule (decidePath /
// VfioPciDevice.mmapExits): for every page of every assigned BAR, on every machine type, the path
// --explain names is the counter a real guest access at that address moves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootFromArgs } from '../../src/cli/boot-command.ts';
import { packageRoot } from '../../src/cli/package-root.ts';
import { explainGuestAccess, type AccessPath, type Machine } from '../../src/machine/index.ts';
import { formatExplanationData } from '../../src/memory/index.ts';

const MACHINES = readdirSync(join(packageRoot(), 'machines'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''));

/** Which report counter one 4-byte read at `addr` moved. */
function pathTaken(m: Machine, addr: bigint): AccessPath {
  const c = m.addressSpaceMemory.counters;
  const snap = () => {
    const s = { ram: c.ram, unassigned: c.unassigned, mmap: 0, mmapExit: 0, trappedToKernel: 0, msixOverlay: 0 };
    for (const d of m.devices) {
      s.mmap += d.counts.mmap;
      s.mmapExit += d.counts.mmapExit;
      s.trappedToKernel += d.counts.trapped;
      s.msixOverlay += (d.msix?.accesses.table ?? 0) + (d.msix?.accesses.pba ?? 0);
    }
    return s;
  };
  const before = snap();
  m.addressSpaceMemory.read(Number(addr), 4);
  const after = snap();
  const moved = (Object.keys(before) as (keyof typeof before)[]).filter((k) => after[k] !== before[k]);
  assert.is(moved.length, 1, `one counter moves for 0x${addr.toString(16)}: ${moved}`);
  return moved[0] as AccessPath;
}

/** Addresses worth probing: each host page of each BAR (start and +8), the MSI-X table and PBA. */
function probes(m: Machine): bigint[] {
  const out: bigint[] = [];
  const page = BigInt(m.kernel.pageSize());
  for (const d of m.devices) {
    for (const vb of d.vbar) {
      const bar = vb && d.bars[vb.index];
      if (!bar || bar.addr === 0xffffffffffffffffn || vb.info.ioport) continue;
      for (let o = 0n; o < bar.size; o += page < bar.size ? page : bar.size) out.push(bar.addr + o, bar.addr + o + 8n);
      const l = d.msixLayout;
      if (l?.tableBar === vb.index) out.push(bar.addr + BigInt(l.tableOffset));
      if (l?.pbaBar === vb.index) out.push(bar.addr + BigInt(l.pbaOffset));
    }
  }
  return out;
}

/**
 * The gicv2m host refuses assignment unless unsafe interrupts are allowed (vfio_iommu_type1
 * allow_unsafe_interrupts).
 */
function unsafeGicv2mHost(): string {
  const host = JSON.parse(readFileSync(join(packageRoot(), 'machines/hosts/arm64-gicv2m.json'), 'utf8'));
  host.allowUnsafeInterrupts = true;
  const file = join(mkdtempSync(join(tmpdir(), 'vdm-path-')), 'arm64-gicv2m-unsafe.json');
  writeFileSync(file, JSON.stringify(host));
  return file;
}

test('all six machine types are probed', () => {
  assert.is(MACHINES.length, 6);
});

for (const name of MACHINES) {
  test(`${name}: --explain names the path the boot report counts, for every page of every BAR`, () => {
    const { machine } = bootFromArgs({ machine: name, host: name === 'virt-gicv2m' ? unsafeGicv2mHost() : undefined });
    const addrs = probes(machine);
    assert.ok(addrs.length > 0, 'the device has BARs in the guest');
    for (const a of addrs) {
      const said = explainGuestAccess(machine, machine.addressSpaceMemory, a).path;
      assert.is(pathTaken(machine, a), said, `0x${a.toString(16)}`);
    }
  });
}

test("virt on a 64 KiB host: the doorbell in the MSI-X table's page exits, costs a VMM trap, and relocation " +
  'is the fix', () => {
  const { machine } = bootFromArgs({ machine: 'virt' });
  const e = explainGuestAccess(machine, machine.addressSpaceMemory, 0x8000000008n);
  assert.is(e.path, 'mmapExit');
  const text = formatExplanationData(e);
  assert.match(text, 'EXITS to the VMM');
  assert.match(text, 'cost: 5,500 ns per access (vmmTrap in machines/virt.json)');
  assert.match(text, 'fix: x-msix-relocation=bar0 moves the MSI-X table and PBA to the end of BAR0, doubled');
  assert.not.match(text, 'no exit');
  // With the table relocated (hw/vfio/pci.c:vfio_pci_relocate_msix) the same register stays in the mmap.
  const moved = bootFromArgs({ machine: 'virt', device: ['host=0000:01:00.0,x-msix-relocation=bar0'] }).machine;
  const e2 = explainGuestAccess(moved, moved.addressSpaceMemory, moved.devices[0]!.bars[0]!.addr + 8n);
  assert.is(e2.path, 'mmap');
  assert.match(formatExplanationData(e2), 'cost: 150 ns per access (mmap in machines/virt.json)');
});

test('x-no-mmap=on: every BAR access is trapped to the kernel and the fix says so', () => {
  const { machine } = bootFromArgs({ machine: 'q35', device: ['host=0000:01:00.0,x-no-mmap=on'] });
  const e = explainGuestAccess(machine, machine.addressSpaceMemory, machine.devices[0]!.bars[0]!.addr + 0x40n);
  assert.is(e.path, 'trappedToKernel');
  assert.match(formatExplanationData(e), 'fix: drop x-no-mmap=on');
  assert.is(pathTaken(machine, machine.devices[0]!.bars[0]!.addr + 0x40n), 'trappedToKernel');
});

test.run();
