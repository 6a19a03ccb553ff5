// Host description files: every malformed field gets an error naming the file, the field path and
// what was expected; never a crash or a silent default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseHostFile, HostFileError, kernelBehaviour } from '../../src/host/index.ts';
import { runCli } from '../../src/cli/main.ts';

const base = () => ({
  name: 't',
  arch: 'x86_64',
  pageSize: 4096,
  kernel: '6.8',
  iommu: { kind: 'intel-vtd' },
  msi: { controller: 'x86-ir' },
  pci: [
    {
      address: '0000:00:01.0',
      type: 'root-port',
      vendor: '0x8086',
      device: 1,
      children: [
        {
          address: '0000:01:00.0',
          type: 'endpoint',
          vendor: 1,
          device: 2,
          bars: [{ index: 0, size: '0x4000', kind: 'mem64' }],
        },
      ],
    },
  ],
});

function error(mutate: (j: any) => void): string {
  const j: any = base();
  mutate(j);
  try {
    parseHostFile(JSON.stringify(j), 'h.json');
  } catch (e) {
    assert.instance(e, HostFileError);
    return (e as Error).message;
  }
  throw new Error('parsed');
}

test('a valid minimal host parses, with QEMU-relevant defaults spelled out', () => {
  const h = parseHostFile(JSON.stringify(base()), 'h.json');
  assert.is(h.functions[0]!.children[0]!.bus, 1);
  assert.is(h.iommu.dmaEntryLimit, 65535);
  assert.equal(h.iommu.pageSizes, [4096n]);
});

test('malformed host files name the file, the field path and what was expected', () => {
  assert.is(
    error((j) => (j.arch = 'riscv')),
    'h.json: arch: expected one of x86_64, aarch64, ppc64, e500, got "riscv"',
  );
  assert.is(
    error((j) => (j.pageSize = 8192)),
    'h.json: pageSize: expected 4096 or 65536, got 8192',
  );
  assert.is(
    error((j) => (j.kernel = 'latest')),
    'h.json: kernel: expected a kernel version like "6.8", got "latest"',
  );
  assert.is(
    error((j) => delete j.msi),
    'h.json: msi: expected an object, got nothing (the field is missing)',
  );
  assert.is(
    error((j) => j.pci[0].children.push({ address: '0000:02:00.0', type: 'endpoint', vendor: 1, device: 3 })),
    'h.json: pci[0].children[1].address: expected bus 01 (the bus this function sits on), got 02',
  );
  assert.is(
    error((j) => (j.pci[0].children[0].address = '0000:00:05.0')),
    'h.json: pci[0].children[0].address: a child bus must be numbered after its parent bus 00, got 00',
  );
  assert.is(
    error((j) => (j.pci[0].children[0].bars[0].size = '0x3000')),
    'h.json: pci[0].children[0].bars[0].size: expected a power of two of at least 16, got 0x3000',
  );
  assert.is(
    error(
      (j) =>
        (j.pci[0].children[0].msix = { entries: 8, table: { bar: 2, offset: 0 }, pba: { bar: 0, offset: 0x1000 } }),
    ),
    'h.json: pci[0].children[0].msix.table.bar: BAR 2 is not a memory BAR of this function',
  );
  assert.is(
    error(
      (j) =>
        (j.pci[0].children[0].msix = { entries: 8, table: { bar: 0, offset: 4 }, pba: { bar: 0, offset: 0x1000 } }),
    ),
    'h.json: pci[0].children[0].msix.table.offset: expected an 8-byte aligned offset (the low 3 bits hold the ' +
      'BIR), got 0x4',
  );
  assert.is(
    error((j) => (j.pci[0].children[0].children = [])),
    'h.json: pci[0].children[0].children: only bridges and ports have children; this is a endpoint',
  );
  assert.is(
    error((j) => (j.pci[0].bogus = 1)),
    'h.json: pci[0].bogus: unknown field (expected one of: address, type, vendor, device, class, driver, ' +
      'multifunction, acs, bars, rom, msix, msi, intxPin, intxMasking, intxLine, model, reserved, children)',
  );
  assert.is(
    error((j) => (j.iommu.kind = 'spapr-tce')),
    'h.json: iommu.spapr: expected the sPAPR window facts (dma32WindowSize, pageSizes) for an spapr-tce IOMMU',
  );
  assert.is(
    error((j) => j.pci.push({ ...j.pci[0], children: undefined })),
    'h.json: pci[1].address: duplicate address 0000:00:01.0 (also at pci[0])',
  );
});

test('a file that is not JSON says so', () => {
  assert.throws(() => parseHostFile('{ nope', 'x.json'), /x\.json: \(file\): valid JSON/);
});

test('kernel behaviours change at the versions the kernel changed them', () => {
  assert.not.ok(kernelBehaviour('4.15').msixMappable);
  assert.ok(kernelBehaviour('4.16').msixMappable);
  assert.ok(kernelBehaviour('4.6').capabilityChains);
  assert.not.ok(kernelBehaviour('5.18').dmaOwnership);
  assert.ok(kernelBehaviour('5.19.3').dmaOwnership);
});

test('vdm host: tree, groups, viability and policy; --json; bad files exit 2', () => {
  const r = runCli(['host', 'x86-acs-topology']);
  assert.is(r.code, 0);
  assert.match(r.out, '00:1f.1 rc-endpoint 8086:15bc [vfio-pci]');
  assert.match(r.out, 'group 3 is not viable: 0000:00:1f.0 is bound to e1000e');
  const j = JSON.parse(runCli(['host', 'arm64-gicv2m', '--json']).out);
  assert.is(j.msi.allowed, false);
  assert.equal(j.iommu.reserved, [{ start: '0x8000000', end: '0x80fffff', type: 'sw-msi' }]);
  assert.is(runCli(['host', 'no-such-host']).code, 2);
  assert.match(runCli(['hosts']).out, 'power9-64k');
});

test('MSI-X PBA: straddling the end of its BAR or overlapping the table is refused; wholly past the BAR is ' +
  'misreporting hardware vfio-pci handles', () => {
  const ep = (j: any) => j.pci[0].children[0];
  const msix =
    (table: number, pba: number, entries = 8) =>
    (j: any) =>
      (ep(j).msix = { entries, table: { bar: 0, offset: table }, pba: { bar: 0, offset: pba } });
  assert.is(
    error(msix(0, 0x3ff8, 128)),
    'h.json: pci[0].children[0].msix.pba.offset: a 128-entry PBA (16 bytes) at 0x3ff8 runs past the end of ' +
      'BAR 0 (0x4000 bytes)',
  );
  assert.match(
    error(msix(0x1000, 0x1040)),
    'h.json: pci[0].children[0].msix.pba.offset: the PBA (0x1040+0x8) overlaps the table (0x1000+0x80) in BAR ' +
      '0 (hw/pci/msix.c:msix_init refuses it)',
  );
  assert.match(error(msix(0x1000, 0xff8, 128)), 'overlaps the table', 'a 16-byte PBA ending inside the table');
  const j: any = base();
  msix(0, 0x8000)(j);
  assert.is(parseHostFile(JSON.stringify(j), 'h.json').functions[0]!.children[0]!.msix!.pba.offset, 0x8000);
  msix(0, 0x1000)(j);
  assert.ok(parseHostFile(JSON.stringify(j), 'h.json'), 'table then PBA, apart');
});

test('BAR sizes, overlaps and the ROM: each refusal names the field', () => {
  const ep = (j: any) => j.pci[0].children[0];
  assert.is(
    error(
      (j) =>
        (ep(j).bars = [
          { index: 0, size: '0x4000', kind: 'mem64' },
          { index: 1, size: '0x1000', kind: 'mem32' },
        ]),
    ),
    'h.json: pci[0].children[0].bars[1].index: BAR 1 overlaps BAR 0 (a 64-bit BAR takes two slots: 0 and 1)',
  );
  assert.is(
    error((j) => ep(j).bars.push({ index: 0, size: '0x1000', kind: 'mem32' })),
    'h.json: pci[0].children[0].bars[0].index: BAR 0 overlaps BAR 0',
  );
  for (const size of ['0x200000000000', '0x8000000000000000']) {
    assert.match(
      error((j) => (ep(j).bars[0].size = size)),
      `h.json: pci[0].children[0].bars[0].size: vdm models BARs up to 256 GiB (0x4000000000), got ${size}`,
    );
  }
  assert.match(
    error((j) => (ep(j).bars = [{ index: 0, size: '0x20000', kind: 'io' }])),
    'bars[0].size: an I/O BAR is at most 64 KiB',
  );
  assert.match(
    error((j) => (ep(j).rom = '0x100000000')),
    'h.json: pci[0].children[0].rom: an expansion ROM is at most 2 GiB',
  );
});

test('the "rtl8168" model needs its window BAR 2', () => {
  const ep = (j: any) => j.pci[0].children[0];
  assert.is(
    error((j) => Object.assign(ep(j), { model: 'rtl8168', bars: [{ index: 0, size: '0x100', kind: 'io' }] })),
    'h.json: pci[0].children[0].model: the "rtl8168" model needs a memory BAR 2 of at least 0x100 bytes (its ' +
      'window registers at 0x70 and 0x74)',
  );
});

test('the "nic" model needs its register BAR 0 (found by the file fuzz: a NIC without BAR 0 crashed at ' +
  'realize)', () => {
  const ep = (j: any) => j.pci[0].children[0];
  assert.is(
    error((j) => Object.assign(ep(j), { model: 'nic', bars: [{ index: 1, size: '0x4000', kind: 'mem32' }] })),
    'h.json: pci[0].children[0].model: the "nic" model needs a memory BAR 0 of at least 0x2000 bytes (its ' +
      'registers, and the doorbell at 0x1000)',
  );
  assert.match(
    error((j) => Object.assign(ep(j), { model: 'nic', bars: [{ index: 0, size: '0x1000', kind: 'mem32' }] })),
    'needs a memory BAR 0 of at least 0x2000 bytes',
  );
  const j: any = base();
  ep(j).model = 'nic';
  assert.is(parseHostFile(JSON.stringify(j), 'h.json').functions[0]!.children[0]!.model, 'nic');
});

test('a value too deep or too long for a message is described, not printed (found by the file fuzz)', () => {
  const deep = '['.repeat(6000) + ']'.repeat(6000);
  assert.match(
    error((j) => (j.name = { a: 1 })),
    'h.json: name: expected a string, got an object',
  );
  const text = JSON.stringify(base()).replace('"kernel":"6.8"', `"kernel":${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`);
  assert.throws(() => parseHostFile(text, 'h.json'), /h.json: kernel: expected a string, got an object/);
  assert.throws(
    () => parseHostFile(JSON.stringify(base()).replace('"name":"t"', `"name":${deep}`), 'h.json'),
    /h.json: name: expected a string, got an array/,
  );
  assert.match(
    error((j) => (j.arch = 'x'.repeat(500))),
    '..." (500 characters)',
  );
});

test.run();
