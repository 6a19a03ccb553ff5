// Machine types and what they decide:
// hw/ppc/spapr.c (spapr_get_msix_emulation: vfio-no-msix-emulation), hw/ppc/spapr_pci.c
// (rtas_ibm_change_msi, rtas_ibm_query_interrupt_source_number, spapr_msi_setmsg),
// hw/vfio/spapr.c (vfio_spapr_create_window), vfio_iommu_type1.c (the MSI isolation check).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseMachineFile,
  MachineError,
  NIC_REGS,
  SPAPR_PHB0_BUID,
  RTAS_CHANGE_MSIX_FN,
  VfioError,
} from '../../src/index.ts';
import { assignBars, barLines, hostJson, hostSide, makeMachine } from '../vfio/helpers.ts';
import type { Machine, PamuIommu } from '../../src/index.ts';

const HI = Number(SPAPR_PHB0_BUID >> 32n);
const LO = Number(SPAPR_PHB0_BUID & 0xffffffffn);

function rtasBoot(m: Machine) {
  const d = m.devices[0]!;
  const cfg = (d.bus!.number() << 16) | (d.devfn << 8);
  const wr = (reg: number, v: number, size: number) => m.rtas!.call('write-pci-config', [cfg | reg, size, v]);
  // Firmware: BAR0 (64-bit) in the 32-bit window, then MEM | MASTER.
  wr(0x10, Number(m.spec.pci.mmio32.base & 0xffffffffn), 4);
  wr(0x14, Number(m.spec.pci.mmio32.base >> 32n), 4);
  wr(4, 6, 2);
  return { d, cfg, wr };
}

test('the same device: q35 lays the msix-table overlay on BAR0, pseries disables it (vfio-no-msix-emulation)', () => {
  const q = makeMachine('q35', 'x86-4k-ir');
  assignBars(q, q.devices[0]!);
  assert.ok(barLines(q).some((l) => /msix-table$/.test(l)));
  const p = makeMachine('pseries', 'power9-64k');
  rtasBoot(p);
  const table = barLines(p).find((l) => l.includes('msix-table'))!;
  assert.match(table, /\[disabled\]$/);
  assert.ok(
    barLines(p).some(
      (l) => /0000:01:00.0 BAR 0 mmaps\[0\]$/.test(l) && l.startsWith('0000200080000000-0000200081ffffff'),
    ),
    'the whole 32M BAR is one mmap, table page included',
  );
});

test('pseries on a POWER9 64K 6.8 host: ibm,change-msi writes the table, ENABLE uses 4 vectors, interrupts ' +
  'arrive as XIVE IRQs', () => {
  const m = makeMachine('pseries', 'power9-64k');
  const { d, cfg, wr } = rtasBoot(m);
  assert.equal(m.rtas!.call('ibm,change-msi', [cfg, HI, LO, RTAS_CHANGE_MSIX_FN, 4, 1]), [0, 4, 2, 2]);
  assert.equal(m.rtas!.call('ibm,query-interrupt-source-number', [cfg, HI, LO, 2]), [0, 0x1102, 1]);
  assert.equal(d.msix!.message(3), { address: 0x40000000000n, data: 0x1103 });
  assert.is(d.msix!.enabled(), false);
  d.calls.length = 0;
  wr(0x70 + 2, 0x8000, 2); // MSI-X ENABLE
  assert.is(d.msix!.enabled(), true);
  for (let v = 0; v < 4; v++)
    assert.is(
      d.msix!.isMasked(v),
      false,
      `entry ${v} unmasked by ibm,change-msi (hw/ppc/spapr_pci.c:spapr_msi_setmsg -> ` +
        'hw/pci/msix.c:msix_set_message clears the mask bit)',
    );
  assert.equal(
    d.calls,
    ['SET_IRQS(INTX, NONE|MASK, 0, 1)', 'SET_IRQS(INTX, NONE|TRIGGER, 0, 0)', 'SET_IRQS(MSIX, EVENTFD|TRIGGER, 0, 4)'],
    'INTx off first (vfio_disable_interrupts)',
  );
  assert.is(d.msix!.accesses.table, 0, 'the guest never touched the table');
  assert.equal(
    m.rtas!.call('ibm,change-msi', [cfg, HI, LO, RTAS_CHANGE_MSIX_FN, 100, 2]),
    [0, 64, 3, 2],
    'more than the table holds: the maximum, nothing allocated',
  );
  assert.equal(m.rtas!.call('ibm,query-interrupt-source-number', [cfg, HI, LO, 9]), [-1]);
  assert.equal(m.rtas!.call('ibm,change-msi', [cfg, HI + 1, LO, RTAS_CHANGE_MSIX_FN, 1, 2]), [-3], 'unknown PHB');
  // The host device raises vector 2: KVM's irqfd delivers XIVE IRQ 0x1102.
  hostSide(d).hw.signalMsix(2);
  assert.equal([...m.irq.counts], [[0x1102, 1]]);
  assert.is(d.interrupts.kvm, 1);
});

test('guest DMA on pseries goes through its TCE window (H_PUT_TCE → MAP_DMA of 4K pages)', () => {
  const m = makeMachine('pseries', 'power9-64k');
  const { d } = rtasBoot(m);
  const log = m.kernel.log;
  assert.ok(
    log.includes('SPAPR_TCE_REMOVE(start_addr=0x0)') &&
      log.includes('SPAPR_TCE_CREATE(page_shift=12, window_size=0x40000000, levels=1)'),
  );
  assert.ok(
    log.some((l) => l.startsWith('SPAPR_REGISTER_MEMORY(')),
    'guest RAM pre-registered',
  );
  assert.is(m.hcall('H_PUT_TCE', 0x1000n, 0x200000n | 3n), 'H_SUCCESS');
  assert.is(hostSide(d).container.iommu!.translate(0x1010n, true) !== null, true);
  assert.is(m.hcall('H_PUT_TCE', 0x1001n, 0x200000n | 3n), 'H_PARAMETER', 'unaligned ioba');
  assert.is(m.hcall('H_PUT_TCE', 0x1000n, 0n), 'H_SUCCESS', 'clearing the TCE unmaps it');
  assert.is(hostSide(d).container.iommu!.translate(0x1010n, true), null);
});

test("pseries on a pre-4.16 kernel: the table's 64K page is not mmapped; with no overlay it traps to " +
  'read()/write()', () => {
  const j = hostJson('power9-64k');
  j.kernel = '4.10';
  const m = makeMachine('pseries', j);
  const { d } = rtasBoot(m);
  const base = Number(m.spec.pci.mmio32.base);
  assert.is(m.addressSpaceMemory.read(base + 0x10, 4), 0xffffffff, 'a table read: the kernel returns 0xff bytes');
  m.addressSpaceMemory.write(base + 0x100, 1, 4);
  assert.is(d.counts.trapped, 2);
  assert.ok(hostSide(d).stats.tableDrops >= 2);
  m.addressSpaceMemory.write(base + 0x10000, 1, 4);
  assert.is(d.counts.mmap, 1, 'the next 64K page is mmapped');
});

test('a GICv2m host refuses the assignment unless allow_unsafe_interrupts is set', () => {
  let msg = '';
  try {
    makeMachine('virt-gicv2m', 'arm64-gicv2m');
  } catch (e) {
    assert.instance(e, VfioError);
    msg = (e as Error).message;
  }
  assert.match(msg, /EPERM.*allow_unsafe_interrupts/);
  const j = hostJson('arm64-gicv2m');
  j.allowUnsafeInterrupts = true;
  const m = makeMachine('virt-gicv2m', j);
  assert.is(m.devices.length, 1);
});

test('a host interrupt reaches the guest: doorbell → DMA → MSI-X vector 0 → LAPIC vector (q35) and LPI (virt ' +
  'ITS)', () => {
  for (const [machine, host, irq] of [
    ['q35', 'x86-4k-ir', 48],
    ['virt', 'arm64-64k-its', 8192],
  ] as const) {
    const m = makeMachine(machine, host);
    const d = m.devices[0]!;
    const [bar0] = assignBars(m, d);
    m.pciHost.configWrite(0, d.devfn, 0x72, 0x8000, 2);
    const e = Number(bar0!) + 0x2000;
    const msg = m.irq.message(0);
    m.addressSpaceMemory.write(e, Number(msg.address & 0xffffffffn), 4);
    m.addressSpaceMemory.write(e + 4, Number(msg.address >> 32n), 4);
    m.addressSpaceMemory.write(e + 8, msg.data, 4);
    m.addressSpaceMemory.write(e + 12, 0, 4);
    const got: number[] = [];
    m.irq.handler = (n) => got.push(n);
    // An empty ring still completes: ring 0 descriptors at guest RAM address of the first RAM range.
    const ram = Number(m.spec.ram[0]!.base);
    m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.RING_LO, ram, 4);
    m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.RING_HI, 0, 4);
    m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.RING_LEN, 4, 4);
    m.addressSpaceMemory.write(ram, ram + 0x1000, 4); // descriptor 0: buffer in RAM, length 64
    m.addressSpaceMemory.write(ram + 8, 64, 4);
    m.addressSpaceMemory.write(Number(bar0!) + NIC_REGS.DOORBELL, 1, 4);
    assert.equal(got, [irq], `${machine}: one interrupt`);
    assert.is(hostSide(d).hw.dmaFaults.length, 0, `${machine}: DMA was mapped by the RAM listener`);
  }
});

test('ppce500 on the PAMU host: RAM by subwindows, MSI bank 0 in its subwindow, the host vector reaches it', () => {
  const m = makeMachine('ppce500', 'e500-pamu');
  const log = m.kernel.log;
  assert.ok(log.includes('SET_IOMMU(FSL_PAMU)'));
  const pamu = m.containers[0]!.containerFd.pamu() as PamuIommu; // the host's driver, to read its subwindows
  assert.is(pamu.subwindowSize, 0x1000000n);
  assert.is(pamu.msiBankSubwindow(0), 255);
  assert.is(m.containers[0]!.mappings[0]!.size, 0x40000000n);
});

test('a machine needs a host with the IOMMU it drives; a wrong page size is a warning', () => {
  assert.throws(
    () => makeMachine('pseries', 'x86-4k-ir'),
    (e: unknown) => e instanceof MachineError && /spapr-tce.*x86-4k-ir has intel-vtd/.test((e as Error).message),
  );
  const m = makeMachine('q35', 'x86-4k-ir');
  assert.equal(m.warnings, []);
  const j = hostJson('arm64-64k-its');
  assert.ok(makeMachine('virt-gicv2m', j).warnings.some((w) => /64 KiB pages/.test(w)));
});

test('malformed machine files name the file, the field and what was expected', () => {
  const good = JSON.parse(JSON.stringify(require_('q35')));
  const bad = (edit: (j: Record<string, any>) => void) => {
    const j = JSON.parse(JSON.stringify(good));
    edit(j);
    try {
      parseMachineFile(JSON.stringify(j), 'm.json');
    } catch (e) {
      return (e as Error).message;
    }
    return 'parsed';
  };
  assert.is(
    bad((j) => (j.arch = 'sparc')),
    'm.json: arch: expected one of x86_64, aarch64, ppc64, e500, got "sparc"',
  );
  assert.is(
    bad((j) => delete j.pci.ecam),
    'm.json: pci.ecam: expected the ECAM window {base, size} for config "ecam"',
  );
  assert.is(
    bad((j) => (j.hostPageSize = 8192)),
    'm.json: hostPageSize: expected 4096 or 65536, got 8192',
  );
  assert.is(
    bad((j) => (j.costs.mmap = -1)),
    'm.json: costs.mmap: expected a non-negative number of nanoseconds, got -1',
  );
  assert.is(
    bad((j) => (j.ram = [])),
    'm.json: ram: expected at least one RAM range',
  );
  assert.is(
    bad((j) => (j.iommu = 'spapr-tce')),
    'm.json: spapr: expected the guest DMA window facts {dma32WindowSize, pageShift, dma64WindowAddr} for an ' +
      'spapr-tce machine',
  );
  assert.match(
    bad((j) => (j.extra = 1)),
    /m.json: extra: unknown field/,
  );
  assert.match(parseOrMessage('{'), /m.json: \(file\): valid JSON/);
});

function parseOrMessage(text: string): string {
  try {
    parseMachineFile(text, 'm.json');
    return 'parsed';
  } catch (e) {
    return (e as Error).message;
  }
}

import { readFileSync } from 'node:fs';
function require_(name: string): object {
  return JSON.parse(readFileSync(new URL(`../../machines/${name}.json`, import.meta.url), 'utf8'));
}

test.run();
