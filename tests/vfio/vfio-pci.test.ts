// QEMU's vfio-pci on each machine: hw/vfio/pci.c (vfio_realize,
// vfio_bar_register, vfio_msix_early_setup, vfio_pci_fixup_msix_region, vfio_pci_relocate_msix,
// vfio_msix_enable, vfio_msix_vector_do_use/release, vfio_sub_page_bar_update_mapping),
// hw/vfio/common.c (vfio_region_setup, vfio_region_mmap), hw/pci/msix.c (msix_init),
// vfio_pci_write_config (every guest config write goes to the kernel's config region first).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VfioRealizeError, NIC_REGS } from '../../src/index.ts';
import * as R from '../../src/common/pci-regs.ts';
import { assignBars, barLines, endpoint, hostJson, hostSide, makeMachine } from './helpers.ts';
import type { Machine, VfioPciDevice } from '../../src/index.ts';

const MSIX_CAP = 0x70;

function msixEnable(m: Machine, d: VfioPciDevice, on = true): void {
  m.pciHost.configWrite(0, d.devfn, MSIX_CAP + 2, on ? 0x8000 : 0, 2);
}

/** The guest programs entry n (address, data) and clears its mask bit. */
function unmask(m: Machine, tableBase: bigint, n: number, n2 = n): void {
  const e = Number(tableBase) + n * 16;
  const msg = m.irq.message(n2);
  m.addressSpaceMemory.write(e, Number(msg.address & 0xffffffffn), 4);
  m.addressSpaceMemory.write(e + 4, Number(msg.address >> 32n), 4);
  m.addressSpaceMemory.write(e + 8, msg.data, 4);
  m.addressSpaceMemory.write(e + 12, 0, 4);
}

function kernel(name: string, version: string) {
  const j = hostJson(name);
  j.kernel = version;
  return j;
}

test('q35, 4K host on 4.10: sparse mmaps around the table page, table and PBA overlays, NORESIZE re-enable on unmask', () => {
  const m = makeMachine('q35', kernel('x86-4k-ir', '4.10'));
  const d = m.devices[0]!;
  const [bar0] = assignBars(m, d);
  assert.equal(barLines(m), [
    '0000000100000000-0000000100003fff (prio 1, i/o): 0000:01:00.0 base BAR 0',
    '0000000100000000-0000000100003fff (prio 0, i/o): 0000:01:00.0 BAR 0',
    '0000000100000000-0000000100001fff (prio 0, ramd): 0000:01:00.0 BAR 0 mmaps[0]',
    '0000000100003000-0000000100003fff (prio 0, ramd): 0000:01:00.0 BAR 0 mmaps[1]',
    '0000000100002000-00000001000027ff (prio 0, i/o): msix-table',
    '0000000100003000-000000010000300f (prio 0, i/o): msix-pba [disabled]',
    '0000000100004000-0000000100007fff (prio 1, i/o): 0000:01:00.0 base BAR 4',
    '0000000100004000-0000000100007fff (prio 0, i/o): 0000:01:00.0 BAR 4',
    '0000000100004000-0000000100007fff (prio 0, ramd): 0000:01:00.0 BAR 4 mmaps[0]',
  ]);
  d.calls.length = 0;
  msixEnable(m, d);
  // vfio_msix_enable → vfio_disable_interrupts → vfio_intx_disable (vfio_intx_disable_kvm masks first).
  assert.equal(
    d.calls,
    ['SET_IRQS(INTX, NONE|MASK, 0, 1)', 'SET_IRQS(INTX, NONE|TRIGGER, 0, 0)', 'SET_IRQS(MSIX, EVENTFD|TRIGGER, 0, 1)'],
    'enabled with every vector masked: one vector, no trigger',
  );
  d.calls.length = 0;
  unmask(m, bar0! + 0x2000n, 3);
  assert.equal(
    d.calls,
    ['SET_IRQS(MSIX, NONE|TRIGGER, 0, 0)', 'SET_IRQS(MSIX, EVENTFD|TRIGGER, 0, 4)'],
    'NORESIZE: disable, then enable with 4',
  );
  assert.ok(
    d.msix!.accesses.table > 0 && d.counts.trapped === 0 && d.counts.mmap === 0,
    'the table writes trapped into the overlay only',
  );
  m.addressSpaceMemory.read(Number(bar0!) + 0x2800, 4);
  assert.is(d.counts.trapped, 1, '0x2800 is past the table but in its page: pread through the kernel');
  m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.CTRL, 1, 4);
  assert.is(d.counts.mmap, 1, 'page 0 is a memslot: no exit');
});

test('on 6.8: dynamic MSI-X adds vector 3 alone', () => {
  const m = makeMachine('q35', 'x86-4k-ir');
  const d = m.devices[0]!;
  const [bar0] = assignBars(m, d);
  msixEnable(m, d);
  d.calls.length = 0;
  unmask(m, bar0! + 0x2000n, 3);
  assert.equal(d.calls, ['SET_IRQS(MSIX, EVENTFD|TRIGGER, 3, 1)']);
});

test('4.16+: the whole BAR is mmapped; the table page exits (no memslot) but is served by pointer', () => {
  const m = makeMachine('q35', 'x86-4k-ir');
  const d = m.devices[0]!;
  const [bar0] = assignBars(m, d);
  assert.ok(barLines(m).includes('0000000100000000-0000000100003fff (prio 0, ramd): 0000:01:00.0 BAR 0 mmaps[0]'));
  m.addressSpaceMemory.read(Number(bar0!) + 0x2800, 4);
  m.addressSpaceMemory.read(Number(bar0!) + 0x1000, 4);
  assert.equal([d.counts.mmapExit, d.counts.mmap, d.counts.trapped], [1, 1, 0]);
});

test('arm64 64K on 4.10: the table page is the whole BAR, nothing is mmapped, every doorbell is a pwrite', () => {
  const m = makeMachine('virt', kernel('arm64-64k-its', '4.10'));
  const d = m.devices[0]!;
  const [bar0] = assignBars(m, d);
  assert.not.ok(barLines(m).some((l) => l.includes('mmaps')));
  m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.DOORBELL, 0, 4);
  assert.is(d.counts.trapped, 1);
});

test('arm64 64K on 6.8: the doorbell exits without relocation and is fast with x-msix-relocation=bar2', () => {
  const m = makeMachine('virt', 'arm64-64k-its');
  const d = m.devices[0]!;
  const [bar0] = assignBars(m, d);
  m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.DOORBELL, 0, 4);
  assert.equal([d.counts.mmapExit, d.counts.mmap], [1, 0], 'shares the 64K page with the table overlay');

  const r = makeMachine('virt', 'arm64-64k-its', [{ host: '0000:01:00.0', msixRelocation: 2 }]);
  const rd = r.devices[0]!;
  const addrs = assignBars(r, rd);
  assert.equal(rd.msixLayout, {
    entries: 64,
    tableBar: 2,
    tableOffset: 0,
    pbaBar: 2,
    pbaOffset: 0x400,
    noresize: false,
  });
  assert.is(rd.bars[2]!.size, 0x10000n, 'pow2ceil(HOST_PAGE_ALIGN(64*16 + 8)) = 64K');
  assert.is(
    rd.bars[2]!.type,
    R.PCI_BASE_ADDRESS_MEM_TYPE_64 | R.PCI_BASE_ADDRESS_MEM_PREFETCH,
    '64-bit (BAR3 is free) and prefetchable',
  );
  assert.is(r.pciHost.configRead(0, rd.devfn, MSIX_CAP + 4, 4), 2, 'the guest sees BIR 2, offset 0');
  r.addressSpaceMemory.write(Number(addrs[0]!) + NIC_REGS.DOORBELL, 0, 4);
  assert.equal([rd.counts.mmapExit, rd.counts.mmap], [0, 1], 'BAR0 has no overlay any more');
  msixEnable(r, rd);
  unmask(r, addrs[2]!, 0);
  assert.is(rd.msix!.accesses.table, 4, 'the table is emulated in BAR2');
});

test("relocation refusals in QEMU's words", () => {
  const big = hostJson('x86-4k-ir');
  (endpoint(big).bars as unknown[]).push({ index: 2, size: '0x80000000', kind: 'mem32' });
  const refuse = (host: object, msixRelocation: 'auto' | number) => {
    try {
      makeMachine('q35', host, [{ host: '0000:01:00.0', msixRelocation }]);
    } catch (e) {
      assert.instance(e, VfioRealizeError);
      return (e as Error).message;
    }
    return 'realized';
  };
  assert.is(refuse(big, 2), 'Invalid MSI-X relocation BAR 2, no space to extend 32-bit BAR');
  assert.is(refuse(hostJson('x86-4k-ir'), 1), 'Invalid MSI-X relocation BAR 1, consumed by 64-bit BAR 0');
  assert.is(refuse(hostJson('x86-4k-ir'), 'auto'), 'No automatic MSI-X relocation available for device 8086:10fb');
});

test("a Chelsio T5 VF's PBA past its 8K BAR is moved to 0x1000; another device fails realize", () => {
  const j = hostJson('x86-4k-ir');
  const e = endpoint(j);
  Object.assign(e, {
    vendor: '0x1425',
    device: '0x5801',
    bars: [{ index: 0, size: '0x2000', kind: 'mem64' }],
    msix: { entries: 8, table: { bar: 0, offset: '0x0' }, pba: { bar: 0, offset: '0x8000' } },
  });
  const m = makeMachine('q35', j);
  assert.is(m.devices[0]!.msixLayout!.pbaOffset, 0x1000);
  e.vendor = '0x8086';
  assert.throws(
    () => makeMachine('q35', j),
    /hardware reports invalid configuration, MSIX PBA outside of specified BAR/,
  );
  assert.is(
    makeMachine('q35', j, [{ host: '0000:01:00.0', msixRelocation: 2 }]).devices[0]!.msixLayout!.pbaBar,
    2,
    'relocation moves it anyway',
  );
});

test('x-no-mmap: every BAR access traps', () => {
  const m = makeMachine('q35', 'x86-4k-ir', [{ host: '0000:01:00.0', noMmap: true }]);
  const [bar0] = assignBars(m, m.devices[0]!);
  assert.not.ok(barLines(m).some((l) => l.includes('mmaps')));
  m.addressSpaceMemory.read(Number(bar0!), 4);
  assert.is(m.devices[0]!.counts.trapped, 1);
});

test('a 0x100-byte BAR on a 4K host is widened to a page while page aligned, and shrinks back when not', () => {
  const j = hostJson('x86-4k-ir');
  (endpoint(j).bars as unknown[]).push({ index: 2, size: '0x100', kind: 'mem32' });
  const m = makeMachine('q35', j);
  const d = m.devices[0]!;
  const addrs = assignBars(m, d);
  const line = () => barLines(m).filter((l) => l.includes('BAR 2'));
  assert.is(addrs[2]! & 0xfffn, 0n);
  assert.equal(line(), [
    '00000000c0000000-00000000c0000fff (prio 0, i/o): 0000:01:00.0 base BAR 2',
    '00000000c0000000-00000000c0000fff (prio 0, i/o): 0000:01:00.0 BAR 2',
    '00000000c0000000-00000000c0000fff (prio 0, ramd): 0000:01:00.0 BAR 2 mmaps[0]',
  ]);
  m.pciHost.configWrite(0, d.devfn, 0x18, 0xc0000100, 4);
  assert.equal(line(), [
    '00000000c0000100-00000000c00001ff (prio 0, i/o): 0000:01:00.0 base BAR 2',
    '00000000c0000100-00000000c00001ff (prio 0, i/o): 0000:01:00.0 BAR 2',
    '00000000c0000100-00000000c00001ff (prio 0, ramd): 0000:01:00.0 BAR 2 mmaps[0]',
  ]);
  m.addressSpaceMemory.read(0xc0000100, 4);
  assert.equal(
    [d.counts.mmap, d.counts.mmapExit],
    [0, 1],
    'an unaligned sub-page mapping cannot be a memslot: it exits',
  );
  m.pciHost.configWrite(0, d.devfn, 0x18, 0xc0001000, 4);
  m.addressSpaceMemory.read(0xc0001000, 4);
  assert.equal([d.counts.mmap, d.counts.mmapExit], [1, 1], 'aligned again: a whole page, a memslot');
});

for (const noKvmIntx of [false, true]) {
  test(`the guest's COMMAND.INTX_DISABLE reaches the kernel's INTx mask (hw/vfio/pci.c:vfio_pci_write_config → ` +
    `vfio_pci_config.c:vfio_basic_config_write), ${noKvmIntx ? 'VMM path' : 'KVM irqfd'}`, () => {
    const m = makeMachine('q35', 'x86-4k-ir', [{ host: '0000:08:00.0', noKvmIntx }]);
    const d = m.devices[0]!;
    assignBars(m, d);
    const k = hostSide(d);
    assert.is(d.intx.path, noKvmIntx ? 'vmm' : 'kvm-resample');
    m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_INTX_DISABLE, 2);
    assert.ok(k.intx.virqDisabled && k.intx.masked, 'the kernel masked INTx');
    assert.is(m.pciHost.configRead(0, d.devfn, R.PCI_COMMAND, 2), R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_INTX_DISABLE);
    k.hw.setIntx(true);
    assert.is(d.intx.stats.interrupts, 0, 'nothing reaches the trigger eventfd');
    m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    assert.is(d.intx.stats.interrupts, 1, 'the pending level arrives once the guest clears it');
    assert.is(d.intx.pending, noKvmIntx, 'on the VMM path QEMU asserted the pin (vfio_intx_interrupt)');
    if (!noKvmIntx) return;
    const irq = d.intx.route.irq;
    assert.ok(m.irq.level(irq));
    m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_INTX_DISABLE, 2);
    assert.not.ok(
      m.irq.level(irq),
      "QEMU's own INTX_DISABLE holds the asserted pin off the line (pci_update_irq_disabled)",
    );
    m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    assert.ok(m.irq.level(irq), 'and puts it back');
  });
}

test.run();
