// The synthetic NIC behind vfio-pci: descriptors and buffers read by DMA through the type1 IOMMU,
// completions written back, MSI-X vector 0 on the bound eventfd; DMA outside the mappings is an
// IOMMU fault that is counted and touches nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { SimHost, VfioKernel, type NicModel } from '../../src/host/index.ts';
import { EventFd, NIC_MAX_BUFFER, NIC_REGS } from '../../src/common/index.ts';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { loadHost, open } from './helpers.ts';

const HOSTS = fileURLToPath(new URL('../../machines/hosts/', import.meta.url));
const VADDR = 0x7f0000000000n;
const IOVA = 0x100000n;

function setup(busMaster = true) {
  const host = SimHost.load(HOSTS + 'x86-4k-ir.json');
  const k = new VfioKernel(host);
  const c = k.openContainer();
  const g = k.openGroup(k.groupOf('0000:01:00.0'));
  g.setContainer(c);
  c.setIommu(U.VFIO_TYPE1v2_IOMMU);
  const dev = g.getDeviceFd('0000:01:00.0');
  // COMMAND: MEMORY | MASTER through the config region (a device without MASTER cannot DMA).
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, busMaster ? 0x6 : 0x2, 2);
  const guestRam = new RamBlock(0x10000);
  k.userMemory.map(VADDR, guestRam);
  c.mapDma({ iova: IOVA, size: 0x10000n, vaddr: VADDR, flags: U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE });
  const irq = new EventFd('msix0');
  dev.setIrqs({
    index: U.VFIO_PCI_MSIX_IRQ_INDEX,
    start: 0,
    count: 1,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [irq],
  });
  const bar0 = dev.mmap(0, 0n, 0x2000n);
  dev.write(0, NIC_REGS.RING_LO, Number(IOVA), 4);
  dev.write(0, NIC_REGS.RING_HI, 0, 4);
  dev.write(0, NIC_REGS.RING_LEN, 8, 4);
  const desc = (i: number, buf: bigint, len: number) => {
    guestRam.writeBytes(i * 16, [...le64(buf), ...le32(len), 0, 0, 0, 0]);
  };
  return { dev, guestRam, irq, bar0, desc, nic: dev.hw.model as NicModel };
}

const le32 = (v: number) => [0, 1, 2, 3].map((i) => (v >>> (8 * i)) & 0xff);
const le64 = (v: bigint) => [...le32(Number(v & 0xffffffffn)), ...le32(Number(v >> 32n))];

test('a doorbell through the mmap transmits by DMA, writes completions and raises MSI-X vector 0', () => {
  const { guestRam, irq, bar0, desc, nic, dev } = setup();
  guestRam.fill(0x01, 0x1000, 64);
  guestRam.fill(0x02, 0x1100, 64);
  desc(0, IOVA + 0x1000n, 64);
  desc(1, IOVA + 0x1100n, 64);
  bar0.write(NIC_REGS.DOORBELL, 2, 4);
  assert.is(nic.packets, 2);
  assert.is(nic.checksum, 64 * 1 + 64 * 2);
  assert.is(guestRam.read(12, 4), 1, 'descriptor 0 done');
  assert.is(guestRam.read(16 + 12, 4), 1, 'descriptor 1 done');
  assert.is(irq.count, 1);
  assert.is(bar0.read(NIC_REGS.ICR, 4), 1);
  assert.is(bar0.read(NIC_REGS.ICR, 4), 0, 'read to clear');
  assert.is(dev.read(0, NIC_REGS.RING_HEAD, 4), 2);
});

test('BAR storage is sparse in 64 KiB chunks: programming the registers costs 64 KiB, not a 16 MiB chunk', () => {
  const { dev } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  const bar0 = dev.hw.bars.get(0)!;
  assert.is(bar0.size, 0x2000000, "the pseries host's NIC has a 32 MiB BAR 0");
  dev.write(0, NIC_REGS.RING_LEN, 8, 4);
  dev.write(0, NIC_REGS.DOORBELL, 0, 4);
  assert.is(bar0.chunkSize, 0x10000);
  assert.is(bar0.allocatedChunks, 1, 'the registers and the doorbell share one');
});

test('DMA to an unmapped IOVA is an IOMMU fault: counted, nothing written, no interrupt', () => {
  const { guestRam, irq, bar0, desc, nic, dev } = setup();
  desc(0, 0x40000000n, 64); // outside the mapping
  const before = guestRam.readBytes(0, 32);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.is(nic.packets, 0);
  assert.equal(dev.hw.dmaFaults[0], { iova: 0x40000000n, write: false });
  assert.equal(guestRam.readBytes(0, 32), before);
  assert.is(irq.count, 0);
});

test('DMA crossing into a second mapping reads both; crossing past the last one faults at the first unmapped ' +
  'byte', () => {
  const { guestRam, bar0, desc, nic, dev } = setup();
  // A second block, mapped right after the first in both process memory and IOVA space.
  const next = new RamBlock(0x1000);
  const container = dev.device.container;
  container.kernel.userMemory.map(VADDR + 0x10000n, next);
  container.mapDma({
    iova: IOVA + 0x10000n,
    size: 0x1000n,
    vaddr: VADDR + 0x10000n,
    flags: U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE,
  });
  guestRam.fill(0x03, 0xff80, 0x80);
  next.fill(0x05, 0, 0x80);
  desc(0, IOVA + 0xff80n, 0x100);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.is(nic.packets, 1);
  assert.is(nic.checksum, 0x80 * 3 + 0x80 * 5, 'one buffer read from two mappings');
  desc(1, IOVA + 0x10f00n, 0x200); // runs 0x100 bytes past the end of the second mapping
  bar0.write(NIC_REGS.DOORBELL, 2, 4);
  assert.is(nic.packets, 1);
  assert.equal(
    dev.hw.dmaFaults.at(-1),
    { iova: IOVA + 0x11000n, write: false },
    'the fault names the first byte that did not translate',
  );
});

test('a masked physical vector pends in the PBA instead of interrupting', () => {
  const { guestRam, irq, bar0, desc, dev } = setup();
  dev.hw.bars.get(0)!.write(0x2000 + 12, 1, 4); // mask vector 0 in the hardware table
  desc(0, IOVA + 0x1000n, 16);
  guestRam.fill(0, 0x1000, 16);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.is(irq.count, 0);
  assert.is(dev.read(0, 0x3000, 4) & 1, 1, 'the PBA is readable through read()');
});

test('a descriptor longer than NIC_MAX_BUFFER is refused before any DMA (found by the hostile-guest campaign: ' +
  'a 4 GiB length was read page by page and allocated whole)', () => {
  const { bar0, desc, nic, dev } = setup();
  desc(0, IOVA + 0x1000n, 0xffffffff);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.is(nic.badDescriptors, 1);
  assert.is(nic.packets, 0);
  assert.equal(dev.hw.dmaFaults, [], 'the buffer was never read');
  desc(0, IOVA + 0x1000n, NIC_MAX_BUFFER);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.is(nic.badDescriptors, 1, 'the longest legal buffer is read (and faults past the 64 KiB mapping)');
  assert.is(dev.hw.dmaFaults.length, 1);
});

test('every MSI-X signal that does not reach the host handler is counted once, by why (the hostile-guest ' +
  'ledger needs it)', () => {
  const off = setup(false);
  assert.is(off.dev.hw.signalMsix(0), false);
  assert.equal(off.dev.hw.msiOutcomes, { unrouted: 0, blocked: 1, pended: 0 }, 'Bus Master off');
  const { dev } = setup();
  const entries = dev.hw.fn.spec.msix!.entries;
  assert.is(dev.hw.signalMsix(entries), false);
  assert.equal(dev.hw.msiOutcomes, { unrouted: 1, blocked: 0, pended: 0 }, 'no such vector');
  const t = dev.hw.fn.spec.msix!.table;
  dev.hw.bars.get(t.bar)!.write(t.offset + 12, 1, 4); // the physical entry masked
  assert.is(dev.hw.signalMsix(0), false);
  assert.equal(dev.hw.msiOutcomes, { unrouted: 1, blocked: 0, pended: 1 }, 'masked: the PBA bit is set');
  const irqs = dev.stats.interrupts;
  dev.hw.bars.get(t.bar)!.write(t.offset + 12, 0, 4);
  assert.is(dev.hw.signalMsix(0), true);
  assert.is(dev.stats.interrupts, irqs + 1, 'delivered: counted by the kernel, not here');
  assert.equal(dev.hw.msiOutcomes, { unrouted: 1, blocked: 0, pended: 1 });
});

test('without COMMAND.MASTER the device cannot DMA: nothing is read or written, no IOMMU fault', () => {
  const { guestRam, bar0, desc, dev } = setup(false);
  desc(0, IOVA + 0x1000n, 64);
  bar0.write(NIC_REGS.DOORBELL, 1, 4);
  assert.ok(dev.hw.dmaBlocked > 0);
  assert.is(dev.hw.dmaFaults.length, 0);
  assert.is(guestRam.read(12, 4), 0, 'no completion status was written back');
});

test.run();
