// Machine files: the layout is checked where it is read (RAM, PCI windows, ECAM, config ports and the
// MSI doorbell may not overlap, wrap past 2^64 or sit unaligned; msiBase must leave the guest
// vectors), and a host's BARs must fit the machine's windows. Every error names file and field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import {
  parseMachineFile,
  MachineFileError,
  Machine,
  loadMachineFile,
  SimHost,
  parseHostFile,
  HostFileError,
  VfioKernel,
  hostFileChecks,
  type MachineSpec,
  type VdmError,
} from '../../src/index.ts';
import { hostJson, endpoint } from '../vfio/helpers.ts';

/** A machine on a host as src/run wires it: the kernel's VFIO API plus the bench's host-file checks. */
function onBench(spec: MachineSpec, hostFile: object): Machine {
  const host = new SimHost(parseHostFile(JSON.stringify(hostFile), 'h.json'));
  return new Machine(spec, new VfioKernel(host), [{ host: '0000:01:00.0' }], hostFileChecks(spec, host));
}

const q35 = () => JSON.parse(readFileSync(new URL('../../machines/q35.json', import.meta.url), 'utf8'));

function error(machine: any): string {
  try {
    parseMachineFile(JSON.stringify(machine), 'm.json');
  } catch (e) {
    assert.instance(e, MachineFileError);
    return (e as Error).message;
  }
  throw new Error('parsed');
}

const edit = (f: (m: any) => void) => {
  const m = q35();
  f(m);
  return error(m);
};

test('RAM: bounded, aligned, no wrap past 2^64, no overlap with the PCI windows', () => {
  assert.is(
    edit((m) => (m.ram[0].size = '0x1000000000000')),
    'm.json: ram[0].size: vdm models RAM ranges up to 1 TiB (0x10000000000), got 0x1000000000000',
  );
  assert.is(
    edit((m) => (m.ram[0].size = '0x10000000000000000')),
    'm.json: ram[0].size: vdm models RAM ranges up to 1 TiB (0x10000000000), got 0x10000000000000000',
  );
  assert.is(
    edit((m) => (m.ram[0].base = '0xfffffffffffff000')),
    'm.json: ram[0].size: 0xfffffffffffff000+0x80000000 runs past the end of the 64-bit address space',
  );
  assert.is(
    edit((m) => (m.ram[0].base = '0x800')),
    'm.json: ram[0].base: expected a multiple of 4 KiB, got 0x800',
  );
  assert.is(
    edit((m) => (m.ram[0].size = '0x100000000')),
    'm.json: pci.mmio32: 0xc0000000+0x3ec00000 overlaps ram[0] (0x0+0x100000000)',
  );
  assert.is(
    edit((m) => m.ram.push({ name: 'again', base: '0x1000', size: '0x1000' })),
    'm.json: ram[1]: 0x1000+0x1000 overlaps ram[0] (0x0+0x80000000)',
  );
});

test('windows, ECAM and the doorbell: aligned, inside 2^64, apart from each other', () => {
  assert.is(
    edit((m) => (m.pci.mmio32.base = '0xc0000001')),
    'm.json: pci.mmio32.base: expected a multiple of 0x1000, got 0xc0000001',
  );
  assert.is(
    edit((m) => (m.pci.mmio64 = { base: '0xfffffff800000000', size: '0x1000000000' })),
    'm.json: pci.mmio64.size: 0xfffffff800000000+0x1000000000 runs past the end of the 64-bit address space',
  );
  assert.is(
    edit((m) => (m.pci.ecam.base = '0xb0080000')),
    'm.json: pci.ecam.base: expected a multiple of 0x100000, got 0xb0080000',
  );
  assert.is(
    edit((m) => (m.interrupts.doorbell.base = '0xc0000000')),
    'm.json: interrupts.doorbell: 0xc0000000+0x100000 overlaps pci.mmio32 (0xc0000000+0x3ec00000)',
  );
  assert.is(
    edit((m) => (m.pci.mmio64.base = '0x80000000')),
    'm.json: pci.mmio64: 0x80000000+0x800000000 overlaps pci.mmio32 (0xc0000000+0x3ec00000)',
  );
  assert.is(
    edit((m) => (m.pci.io = { base: '0xf000', size: '0x2000' })),
    'm.json: pci.io: expected a range inside the 64 KiB x86 I/O port space',
  );
});

test('msiBase leaves the guest vectors on each controller (the "-16776960 for devices" case)', () => {
  assert.is(
    edit((m) => (m.interrupts.msiBase = 1 << 24)),
    'm.json: interrupts.msiBase: expected 16 to 255 for a lapic (the interrupt numbers its MSIs can name), ' +
      'got 16777216',
  );
  assert.match(
    edit((m) => (m.interrupts.msiBase = 256)),
    'expected 16 to 255 for a lapic',
  );
  assert.match(
    edit((m) => (m.interrupts.msiBase = 8)),
    'expected 16 to 255 for a lapic',
  );
  assert.match(
    edit((m) => Object.assign(m.interrupts, { controller: 'gicv2m', msiBase: 1000 })),
    'expected 32 to 956 for a gicv2m',
  );
  assert.match(
    edit((m) => Object.assign(m.interrupts, { controller: 'gicv3-its', msiBase: 100 })),
    'expected 8192 to 16711680 for a gicv3-its',
  );
});

test('every shipped machine file passes its own layout checks', () => {
  for (const name of ['pc', 'q35', 'virt', 'virt-gicv2m', 'pseries', 'ppce500'])
    loadMachineFile(new URL(`../../machines/${name}.json`, import.meta.url).pathname);
});

test("a BAR or ROM the machine's window cannot hold names the host file's field and the machine's window", () => {
  const spec = loadMachineFile(new URL('../../machines/q35.json', import.meta.url).pathname, 'machines/q35.json');
  const build = (mutate: (ep: any) => void) => {
    const h = hostJson('x86-4k-ir');
    mutate(endpoint(h));
    try {
      onBench(spec, h);
    } catch (e) {
      assert.instance(e, HostFileError);
      return (e as Error).message;
    }
    return 'built';
  };
  assert.is(
    build((ep) => (ep.bars[1].size = '0x1000000000')),
    "h.json: pci[2].children[0].bars[1].size: BAR 4 of 0x1000000000 bytes cannot be placed in the machine's " +
      '64-bit PCI window (machine machines/q35.json: pci.mmio64 is 0x100000000+0x800000000)',
  );
  assert.is(
    build((ep) => (ep.bars[1] = { index: 4, size: '0x80000000', kind: 'mem32' })),
    "h.json: pci[2].children[0].bars[1].size: BAR 4 of 0x80000000 bytes cannot be placed in the machine's " +
      '32-bit PCI window (machine machines/q35.json: pci.mmio32 is 0xc0000000+0x3ec00000)',
  );
  assert.match(
    build((ep) => (ep.rom = '0x80000000')),
    "h.json: pci[2].children[0].rom: a ROM of 0x80000000 bytes cannot be placed in the machine's 32-bit PCI window",
  );
  assert.is(
    build((ep) => (ep.bars[1].size = '0x400000000')),
    'built',
    'a 16 GiB BAR fits the 32 GiB window',
  );
});

test('a realize refusal names the host file entry the device came from', () => {
  const spec = loadMachineFile(new URL('../../machines/q35.json', import.meta.url).pathname);
  const h = hostJson('x86-4k-ir');
  Object.assign(endpoint(h), {
    bars: [{ index: 0, size: '0x2000', kind: 'mem64' }],
    msix: { entries: 8, table: { bar: 0, offset: '0x0' }, pba: { bar: 0, offset: '0x8000' } },
  });
  assert.throws(
    () => onBench(spec, h),
    (e: VdmError) =>
      e.describe() ===
      'hardware reports invalid configuration, MSIX PBA outside of specified BAR (host function 0000:01:00.0: ' +
        'h.json: pci[2].children[0])',
  );
});

test.run();
