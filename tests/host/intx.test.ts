// INTx through the device fd (drivers/vfio/pci/vfio_pci_intrs.c): trigger, automask at the device
// (PCI 2.3) or the host line, unmask directly and by eventfd, mask, one type at a time, sharing; the
// user's COMMAND.INTX_DISABLE (vfio_pci_config.c:vfio_basic_config_write, vdev->virq_disabled).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VfioDeviceFile } from '../../src/host/index.ts';
import { EventFd } from '../../src/common/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, open } from './helpers.ts';

const INTX = U.VFIO_PCI_INTX_IRQ_INDEX;
const set = (dev: VfioDeviceFile, flags: number, data?: (EventFd | null)[] | boolean[], count = 1) =>
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

const CFG = U.VFIO_PCI_CONFIG_REGION_INDEX;
/** The user's COMMAND write through the config region (the pwrite QEMU's vfio_pci_write_config makes). */
const command = (dev: VfioDeviceFile, intxDisable: boolean) => dev.write(CFG, 4, intxDisable ? 0x0406 : 0x0006, 2);

test('INTX_DISABLE written to the config region masks INTx (vfio_basic_config_write → vfio_pci_intx_mask): ' +
  'nothing is signalled, the interrupt stays pending, clearing it delivers the pending level', () => {
  const { dev } = open(intxHost(), '0000:08:00.0');
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  command(dev, true);
  assert.ok(dev.intx.virqDisabled && dev.intx.masked, 'virq_disabled, ctx->masked');
  assert.ok(dev.hw.intxDisabled, 'pci_intx(pdev, 0): PCI 2.3 masks at the device');
  assert.is(dev.read(CFG, 4, 2), 0x0406, 'the user reads its INTX_DISABLE back from vconfig');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 0, 'no interrupt reaches the eventfd');
  assert.ok(dev.hw.intxPending, 'STATUS.INTERRUPT: pending at the device');
  set(dev, UNMASK);
  assert.is(fd.seen, 0, 'vfio_pci_intx_unmask_handler does nothing while virq_disabled');
  assert.ok(dev.intx.masked && dev.hw.intxDisabled);
  set(dev, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER);
  assert.is(fd.seen, 0, 'vfio_send_intx_eventfd: the loopback trigger is silent too');
  command(dev, false);
  assert.is(fd.seen, 1, 'vfio_pci_intx_unmask: pci_check_and_unmask_intx refuses, the kernel resends');
  assert.ok(dev.intx.masked && dev.hw.intxDisabled, 'and stays masked until the EOI');
  dev.hw.setIntx(false);
  set(dev, UNMASK);
  assert.ok(!dev.intx.masked && !dev.hw.intxDisabled);
  dev.hw.setIntx(true);
  assert.is(fd.seen, 2, 'the next assertion comes through');
});

test('INTX_DISABLE after the automask: the EOI unmask (resample eventfd) is ignored until the user clears it; ' +
  "a byte write to COMMAND's upper half counts (vfio_basic_config_write: offset PCI_COMMAND + 1)", () => {
  const { dev } = open(intxHost(), '0000:08:00.0');
  const fd = counted('trigger');
  const resample = new EventFd('resample');
  set(dev, TRIGGER_FD, [fd]);
  set(dev, U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_UNMASK, [resample]);
  dev.hw.setIntx(true);
  assert.ok(fd.seen === 1 && dev.intx.masked, 'automasked by vfio_intx_handler');
  dev.write(CFG, 5, 0x04, 1);
  assert.ok(dev.intx.virqDisabled);
  assert.is(dev.intx.stats.masks, 0, 'vfio_pci_intx_mask: already masked, nothing more to do');
  dev.hw.setIntx(false);
  resample.signal();
  assert.ok(dev.intx.masked && dev.hw.intxDisabled, 'the EOI does not unmask while virq_disabled');
  dev.write(CFG, 5, 0x00, 1);
  assert.ok(!dev.intx.masked && !dev.hw.intxDisabled, 'cleared with nothing pending: unmasked, no resend');
  assert.is(fd.seen, 1);
  dev.write(CFG, 4, 0x06, 1);
  assert.not.ok(dev.intx.virqDisabled, 'a byte write to the lower half leaves the virtual bit alone');
});

test('INTx enabled while INTX_DISABLE is set starts masked (vfio_intx_enable: ctx->masked = virq_disabled); ' +
  'outside INTx the PCI 2.3 bit follows the virtual one', () => {
  const { dev } = open(intxHost(), '0000:08:00.0');
  command(dev, true);
  assert.ok(dev.hw.intxDisabled, 'no INTx enabled: pci_intx(pdev, 0) all the same');
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  assert.ok(dev.intx.masked && dev.hw.intxDisabled, 'pci_intx(pdev, !ctx->masked)');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 0);
  command(dev, false);
  assert.is(fd.seen, 1, 'the level pending since before is delivered');
  set(dev, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER, undefined, 0);
  command(dev, false);
  assert.ok(dev.hw.intxDisabled, 'no change of the virtual bit: vfio_intx_disable left the device masked');
});

test("without PCI 2.3 masking INTX_DISABLE disables the host line (disable_irq_nosync), never the device's " +
  'bit; clearing it enables the line, which fires again while the level is up', () => {
  const { dev } = open(intxHost(false), '0000:08:00.0');
  const fd = counted('trigger');
  set(dev, TRIGGER_FD, [fd]);
  command(dev, true);
  assert.ok(dev.intx.masked && !dev.intx.line.enabled, 'the line is disabled');
  assert.not.ok(dev.hw.intxDisabled, 'the physical INTX_DISABLE is not touched');
  dev.hw.setIntx(true);
  assert.is(fd.seen, 0, 'the disabled line runs no handler');
  set(dev, UNMASK);
  assert.ok(!dev.intx.line.enabled && fd.seen === 0, 'UNMASK is ignored while virq_disabled');
  command(dev, false);
  assert.is(fd.seen, 1, 'enable_irq: the level still up fires the handler');
  assert.ok(dev.intx.masked && !dev.intx.line.enabled, 'which automasks the line again');
  dev.hw.setIntx(false);
  set(dev, UNMASK);
  assert.ok(dev.intx.line.enabled && !dev.intx.masked);
  set(dev, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER, undefined, 0);
  command(dev, true);
  set(dev, TRIGGER_FD, [fd]);
  assert.ok(dev.intx.masked && !dev.intx.line.enabled, 'vfio_intx_set_signal: disable_irq again after request_irq');
  assert.not.ok(dev.hw.intxDisabled);
});

test.run();
