// Device quirks in vfio-pci: hw/vfio/pci-quirks.c (vfio_bar_quirk_setup, vfio_probe_rtl8168_bar2_quirk,
// vfio_rtl8168_quirk_address_read/write, vfio_rtl8168_quirk_data_read/write).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainGuestAccess, infoMtree, type Rtl8168Model, type Machine, type VfioPciDevice } from '../../src/index.ts';
import { assignBars, endpoint, hostJson, hostSide, makeMachine } from './helpers.ts';

const DATA = 0x70;
const ADDRESS = 0x74;
const WRITE = 0x80000000;
const MSIX_TABLE = 0x10000; // address register target 0x1 in bits 16:30

/** An RTL8168 as lspci shows one: I/O BAR 0, registers in BAR 2, MSI-X table in BAR 4. */
function rtlHost(device = '0x8168') {
  const j = hostJson('x86-4k-ir');
  Object.assign(endpoint(j), {
    vendor: '0x10ec',
    device,
    model: 'rtl8168',
    bars: [
      { index: 0, size: '0x100', kind: 'io' },
      { index: 2, size: '0x1000', kind: 'mem64' },
      { index: 4, size: '0x4000', kind: 'mem64', prefetchable: true },
    ],
    msix: { entries: 4, table: { bar: 4, offset: '0x0' }, pba: { bar: 4, offset: '0x800' } },
  });
  return j;
}

function bench(device?: string): { m: Machine; d: VfioPciDevice; bar2: number; hw: Rtl8168Model } {
  const m = makeMachine('q35', rtlHost(device));
  const d = m.devices[0]!;
  const bars = assignBars(m, d);
  return { m, d, bar2: Number(bars[2]!), hw: hostSide(d).hw.model as Rtl8168Model };
}

test('vfio_probe_rtl8168_bar2_quirk: 10ec:8168 gets the two window regions over BAR 2 at priority 1', () => {
  const { m } = bench();
  // mtree_print_mr lists subregions by address: the overlays come after the mmap they cover.
  const lines = infoMtree([m.addressSpaceMemory], { disabled: true })
    .split('\n')
    .filter((l) => /rtl8168|BAR 2/.test(l))
    .map((l) => l.trim().replace(/^[0-9a-f]+-[0-9a-f]+ /, ''));
  assert.equal(lines, [
    '(prio 1, i/o): 0000:01:00.0 base BAR 2',
    '(prio 0, i/o): 0000:01:00.0 BAR 2',
    '(prio 0, ramd): 0000:01:00.0 BAR 2 mmaps[0]',
    '(prio 1, i/o): vfio-rtl8168-window-data-quirk',
    '(prio 1, i/o): vfio-rtl8168-window-address-quirk',
  ]);
});

test('vfio_rtl8168_quirk_address_write: a table write through the window lands in the emulated table, not the device', () => {
  const { m, d, bar2, hw } = bench();
  const as = m.addressSpaceMemory;
  as.write(bar2 + DATA, 0xfee00000, 4);
  as.write(bar2 + ADDRESS, WRITE | MSIX_TABLE | 0x10, 4); // entry 1, address low
  as.write(bar2 + DATA, 0x4021, 4);
  as.write(bar2 + ADDRESS, WRITE | MSIX_TABLE | 0x18, 4); // entry 1, data
  const t = new DataView(d.msix!.table.buffer, d.msix!.table.byteOffset);
  assert.is(t.getUint32(0x10, true), 0xfee00000);
  assert.is(t.getUint32(0x18, true), 0x4021);
  assert.is(hw.window.size, 0, 'the guest MSI-X message never reached the hardware');
  // vfio_rtl8168_quirk_address_read / data_read: a read of the table through the window.
  as.write(bar2 + ADDRESS, MSIX_TABLE | 0x18, 4);
  assert.is(as.read(bar2 + ADDRESS, 4) >>> 0, (WRITE | MSIX_TABLE | 0x18) >>> 0, 'latched');
  assert.is(as.read(bar2 + DATA, 4), 0x4021);
  assert.is(hw.window.size, 0);
  // The window's host page cannot be a KVM memslot (kvm_align_section): the rest of it exits.
  as.read(bar2 + 0x100, 4);
  assert.equal(d.barCounts[2], { mmap: 0, mmapExit: 1, trapped: 0 });
  assert.is(d.mmapExitCause(2, 0x100), 'quirk');
  const why = explainGuestAccess(m, as, BigInt(bar2 + 0x100)).notes.join('\n');
  assert.match(why, 'also holds a device quirk region QEMU traps (hw/vfio/pci-quirks.c)');
  assert.not.match(why, 'x-msix-relocation', 'relocating MSI-X would not free this page');
});

test('vfio_rtl8168_quirk_address_write: another target passes through to the device', () => {
  const { m, bar2, hw } = bench();
  const as = m.addressSpaceMemory;
  as.write(bar2 + DATA, 0x1234, 4);
  as.write(bar2 + ADDRESS, WRITE | 0x20000 | 0x8, 4);
  assert.equal([...hw.window], [[0x20008, 0x1234]]);
  as.write(bar2 + ADDRESS, 0x20008, 4);
  assert.is(as.read(bar2 + ADDRESS, 4) >>> 0, (WRITE | 0x20008) >>> 0, "the device's own latch");
  assert.is(as.read(bar2 + DATA, 4), 0x1234);
});

test('vfio_bar_quirk_setup: another device id gets no quirk, and its window writes reach the device', () => {
  const { m, d, bar2, hw } = bench('0x8136');
  assert.equal(d.vbar[2]!.quirks, []);
  assert.not.match(infoMtree([m.addressSpaceMemory], { disabled: true }), 'rtl8168');
  const as = m.addressSpaceMemory;
  as.write(bar2 + DATA, 0xfee00000, 4);
  as.write(bar2 + ADDRESS, WRITE | MSIX_TABLE | 0x10, 4);
  assert.equal([...hw.window], [[MSIX_TABLE | 0x10, 0xfee00000]]);
  assert.is(new DataView(d.msix!.table.buffer).getUint32(0x10, true), 0);
});

test.run();
