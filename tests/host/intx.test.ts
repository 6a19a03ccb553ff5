// INTx through the device fd (drivers/vfio/pci/vfio_pci_intrs.c): trigger, automask at the device
// (PCI 2.3) or the host line, unmask directly and by eventfd, mask, one type at a time, sharing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VfioDevice } from '../../src/host/index.ts';
import { EventFd } from '../../src/common/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, open } from './helpers.ts';

const INTX = U.VFIO_PCI_INTX_IRQ_INDEX;
const set = (dev: VfioDevice, flags: number, data?: (EventFd | null)[] | boolean[], count = 1) =>
  dev.setIrqs({ index: INTX, start: 0, count, flags, data });
const TRIGGER_FD = U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER;
const UNMASK = U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_UNMASK;

/** The shipped x86 host's INTx-only NIC, optionally without PCI 2.3 masking, plus a twin on the same line. */
function intxHost(masking = true, twinMasking?: boolean) {
  const j = hostJson('x86-4k-ir');
  const port = j.pci.find((f: { address: string }) => f.address === '0000:00:1c.0');
  port.children[0].intxMasking = masking;
  if (twinMasking !== undefined) {
    j.pci.push({
      ...port,
      address: '0000:00:1d.0',
      children: [
        {
          ...port.children[0],
          address: '0000:09:00.0',
          intxMasking: twinMasking,
          intxLine: port.children[0].intxLine ?? 16,
        },
      ],
    });
  }
  return hostFrom(j);
}

function counted(label: string): EventFd & { seen: number } {
  const fd = new EventFd(label) as EventFd & { seen: number };
  fd.seen = 0;
  fd.on('signal', () => fd.seen++);
  return fd;
}

test('vfio_intx_handler with PCI 2.3 masking: one signal, INTX_DISABLE set, unmask re-signals while the ' +
  'device still asserts', () => {
  const { dev } = open(intxHost(), '0000:08:00.0');
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  assert.is(dev.irqType, INTX);
  assert.not.ok(dev.hw.intxDisabled, 'vfio_intx_enable: pci_intx(pdev, 1)');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 1);
  assert.ok(dev.intx.masked && dev.hw.intxDisabled, 'automasked at the device (pci_check_and_mask_intx)');
  set(dev, UNMASK);
  assert.is(fd.seen, 2, 'pci_check_and_unmask_intx refuses while STATUS.INTERRUPT is set: the kernel signals again');
  assert.ok(dev.intx.masked);
  dev.hw.setIntx(false); // the driver cleared the cause
  set(dev, UNMASK);
  assert.ok(!dev.intx.masked && !dev.hw.intxDisabled, 'unmasked at the device');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 3, 'the next assertion comes through');
});

test('without PCI 2.3 masking the host line is disabled (disable_irq_nosync) and requested exclusively', () => {
  const { dev } = open(intxHost(false), '0000:08:00.0');
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  dev.hw.setIntx(true);
  assert.is(fd.seen, 1);
  assert.ok(dev.intx.masked && !dev.intx.line.enabled && !dev.hw.intxDisabled, 'the line, not the device, is masked');
  set(dev, UNMASK);
  assert.is(fd.seen, 2, 'enable_irq with the level still up fires again');
  dev.hw.setIntx(false);
  set(dev, UNMASK);
  assert.ok(dev.intx.line.enabled && !dev.intx.masked);
});

test('request_irq: a line held without IRQF_SHARED cannot be shared (EBUSY, genirq: Flags mismatch)', () => {
  const host = intxHost(false, true);
  const a = open(host, '0000:08:00.0');
  set(a.dev, TRIGGER_FD, [new EventFd()]);
  const b = open(host, '0000:09:00.0');
  assert.throws(
    () => set(b.dev, TRIGGER_FD, [new EventFd()]),
    /EBUSY.*genirq: Flags mismatch irq 16\. 00000080 \(vfio-intx\(0000:09:00\.0\)\) vs\. 00000000 \(vfio-intx\(0000:08:00\.0\)\)/,
  );
  assert.is(b.dev.irqType, -1);
});

test('a shared line with two PCI 2.3 devices: only the one asserting is signalled (the other returns IRQ_NONE)', () => {
  const host = intxHost(true, true);
  const a = open(host, '0000:08:00.0');
  const b = open(host, '0000:09:00.0');
  const fa = counted('a');
  const fb = counted('b');
  set(a.dev, TRIGGER_FD, [fa]);
  set(b.dev, TRIGGER_FD, [fb]);
  assert.is(a.dev.intx.line, b.dev.intx.line);
  b.dev.hw.setIntx(true);
  assert.equal([fa.seen, fb.seen], [0, 1]);
  a.dev.hw.setIntx(true);
  assert.equal([fa.seen, fb.seen], [1, 1]);
});

test('UNMASK by eventfd (the virqfd KVM resample signals), MASK, and the errors vfio_pci_set_intx_* give', () => {
  const { dev } = open(intxHost(), '0000:08:00.0');
  assert.is(
    errno(() => set(dev, UNMASK)),
    'EINVAL',
    'unmask with INTx not enabled',
  );
  assert.is(
    errno(() => set(dev, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_MASK)),
    'EINVAL',
  );
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  assert.is(
    errno(() => set(dev, U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_MASK, [new EventFd()])),
    'ENOTTY',
    'mask by eventfd is not implemented',
  );
  const resample = new EventFd('resample');
  set(dev, U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_UNMASK, [resample]);
  dev.hw.setIntx(true);
  dev.hw.setIntx(false);
  resample.signal();
  assert.not.ok(dev.intx.masked, 'the resample eventfd unmasked');
  set(dev, U.VFIO_IRQ_SET_DATA_BOOL | U.VFIO_IRQ_SET_ACTION_MASK, [true]);
  assert.ok(dev.intx.masked && dev.hw.intxDisabled, 'ACTION_MASK');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 1, 'masked: nothing signalled');
  set(dev, U.VFIO_IRQ_SET_DATA_BOOL | U.VFIO_IRQ_SET_ACTION_TRIGGER, [true]);
  assert.is(fd.seen, 2, 'loopback trigger');
});

test('one interrupt type at a time: MSI-X needs INTx disabled first; the device does not assert INTx in MSI-X ' +
  'mode', () => {
  const { dev } = open(intxHost(), '0000:01:00.0');
  const fd = counted('intx');
  set(dev, TRIGGER_FD, [fd]);
  const msix = { index: U.VFIO_PCI_MSIX_IRQ_INDEX, start: 0, count: 1, flags: TRIGGER_FD, data: [new EventFd()] };
  assert.throws(() => dev.setIrqs(msix), /EINVAL.*INTx is active/);
  set(dev, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER, undefined, 0);
  assert.ok(dev.hw.intxDisabled, 'vfio_intx_disable leaves the device masked');
  dev.setIrqs(msix);
  assert.throws(() => set(dev, TRIGGER_FD, [fd]), /EINVAL.*MSI-X is active/);
  dev.hw.setIntx(true);
  assert.is(fd.seen, 0);
  assert.not.ok(dev.hw.intxOutput, 'MSI-X mode: the pin stays low');
});

test.run();
