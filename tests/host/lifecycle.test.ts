// Groups and containers over time:
// drivers/iommu/iommu.c (iommu_device_use_default_domain), the pre-5.19 vfio_iommu_group_notifier,
// drivers/vfio/vfio_main.c (vfio_device_remove and the REQ eventfd),
// vfio_iommu_type1.c (vfio_iommu_type1_attach_group: domain reuse, reserved-region conflicts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VfioKernel, KernelBug } from '../../src/host/index.ts';
import { EventFd } from '../../src/common/index.ts';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, loadHost, triggerMsix } from './helpers.ts';

const RW = U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE;

/** x86-acs-topology with 00:1f.0 unbound, so the {1f.0, 1f.1} group is viable. */
function multifunctionHost(kernel: string) {
  const j = hostJson('x86-acs-topology');
  j.kernel = kernel;
  j.pci.find((f: { address: string }) => f.address === '0000:00:1f.0').driver = null;
  return hostFrom(j);
}

function useGroup(k: VfioKernel, address: string) {
  const c = k.openContainer();
  const g = k.openGroup(k.groupOf(address));
  g.setContainer(c);
  c.setIommu(U.VFIO_TYPE1v2_IOMMU);
  return { c, g, dev: g.getDeviceFd(address) };
}

test('binding a DMA driver to a sibling of an in-use group: EBUSY from 5.19, a kernel BUG before', () => {
  const host = multifunctionHost('6.8');
  const k = new VfioKernel(host);
  useGroup(k, '0000:00:1f.1');
  assert.is(
    errno(() => k.bindDriver('0000:00:1f.0', 'e1000e')),
    'EBUSY',
  );
  assert.is(host.functionAt('0000:00:1f.0')!.spec.driver, null, 'the sibling stays unbound');
  k.bindDriver('0000:00:1f.0', 'pci-stub'); // driver_managed_dma: allowed
  const old = new VfioKernel(multifunctionHost('5.15'));
  useGroup(old, '0000:00:1f.1');
  assert.throws(
    () => old.bindDriver('0000:00:1f.0', 'e1000e'),
    (e: unknown) => e instanceof KernelBug && /vfio_iommu_group_notifier/.test(e.message),
  );
});

test('unbinding vfio-pci from an open device signals REQ and waits until the user closes it', () => {
  const k = new VfioKernel(loadHost('x86-4k-ir'));
  const { g, dev } = useGroup(k, '0000:01:00.0');
  const req = new EventFd('req');
  dev.setIrqs({
    index: U.VFIO_PCI_REQ_IRQ_INDEX,
    start: 0,
    count: 1,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [req],
  });
  assert.equal(k.unbindDriver('0000:01:00.0'), { done: false, requested: true });
  assert.equal(k.unbindDriver('0000:01:00.0'), { done: false, requested: true }, 'asked again (every 10 s)');
  assert.is(req.count, 2);
  dev.close(); // QEMU hot-unplugs the device and closes its fd
  g.close();
  assert.equal(k.unbindDriver('0000:01:00.0'), { done: true, requested: false });
  assert.is(
    errno(() => k.openGroup(k.groupOf('0000:01:00.0'))),
    'ENOENT',
    'no vfio driver: no /dev/vfio node',
  );
});

test('a second group joins an existing type1 container; existing mappings serve its device at once', () => {
  const j = hostJson('x86-acs-topology');
  j.kernel = '6.8';
  const host = hostFrom(j);
  const k = new VfioKernel(host);
  const { c } = useGroup(k, '0000:07:00.0');
  const ram = new RamBlock(0x10000);
  k.userMemory.map(0x7f0000000000n, ram);
  c.mapDma({ iova: 0x100000n, size: 0x10000n, vaddr: 0x7f0000000000n, flags: RW });
  const g2 = k.openGroup(k.groupOf('0000:06:03.0'));
  assert.is(
    errno(() => g2.setContainer(c)),
    'EPERM',
    'the PCIe-to-PCI group is not viable (snd_emu10k1 holds 06:01.0)',
  );
  host.functionAt('0000:06:01.0')!.spec.driver = null;
  g2.setContainer(c);
  assert.is(c.groups.length, 2);
  assert.is(c.iommu!.translate(0x100010n, false), 0x7f0000000010n, 'the same domain: no replay, pinned once');
});

test('a group whose device has an RMRR over an existing mapping cannot join (EINVAL): use a separate container', () => {
  const j = hostJson('x86-acs-topology');
  j.kernel = '6.8';
  const dev = j.pci.find((f: { address: string }) => f.address === '0000:00:1c.0').children[0].children[2];
  dev.reserved = [{ start: '0x100000', end: '0x1fffff', type: 'direct' }];
  j.pci.find((f: { address: string }) => f.address === '0000:00:1c.0').children[0].children[0].driver = null;
  const k = new VfioKernel(hostFrom(j));
  const { c } = useGroup(k, '0000:07:00.0');
  k.userMemory.map(0x7f0000000000n, new RamBlock(0x10000));
  c.mapDma({ iova: 0x100000n, size: 0x10000n, vaddr: 0x7f0000000000n, flags: RW });
  const g2 = k.openGroup(k.groupOf('0000:06:03.0'));
  assert.is(
    errno(() => g2.setContainer(c)),
    'EINVAL',
  );
  const c2 = k.openContainer();
  g2.setContainer(c2);
  c2.setIommu(U.VFIO_TYPE1v2_IOMMU);
  assert.is(
    errno(() => c2.mapDma({ iova: 0x100000n, size: 0x10000n, vaddr: 0x7f0000000000n, flags: RW })),
    'EINVAL',
    'the RMRR is excluded from its IOVA ranges',
  );
});

test('a second GET_DEVICE_FD names the same open device: both fds share its config and interrupts; closing ' +
  'one makes only it EBADF, and the last close turns interrupts off (group.c:vfio_df_open/vfio_df_close)', () => {
  const k = new VfioKernel(loadHost('x86-4k-ir'));
  const { g, dev: first } = useGroup(k, '0000:01:00.0');
  const second = g.getDeviceFd('0000:01:00.0');
  assert.ok(second !== first, 'a new fd');
  assert.ok(second.device === first.device, 'of the same open device (open_count 2)');
  // The config region's virtual state is the device's: a BAR sizing write through one fd reads
  // back through the other.
  first.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 0xffffffff, 4);
  assert.is(second.read(U.VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4), first.read(U.VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4));
  assert.is.not(second.read(U.VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4), 0x4, 'the sizing answer, not a fresh BAR');
  // MSI-X vector 0 set up through the first fd fires for the device, whoever set it up.
  const irq = triggerMsix(first, new EventFd('vector 0'));
  assert.is(second.irqType, U.VFIO_PCI_MSIX_IRQ_INDEX);
  first.close();
  assert.is(
    errno(() => first.read(U.VFIO_PCI_CONFIG_REGION_INDEX, 0, 4)),
    'EBADF',
    'the closed fd',
  );
  assert.ok(second.device.raise(0), 'the device still interrupts through the other fd');
  assert.is(irq.count, 1);
  assert.is(
    errno(() => g.unsetContainer()),
    'EBUSY',
    'an fd still holds the group',
  );
  second.close();
  assert.is(second.device.irqType, -1, 'the last close disabled interrupts (vfio_pci_core_close_device)');
  g.close();
  const again = useGroup(k, '0000:01:00.0').dev;
  assert.ok(again.device !== second.device, 'a later open opens the device afresh');
});

test('after the last fd closes, GET_DEVICE_FD on the same group fd opens the device afresh, not the closed one ' +
  '(vfio_df_device_last_close ends the open; open_count starts again at 1)', () => {
  const k = new VfioKernel(loadHost('x86-4k-ir'));
  const { g, dev: first } = useGroup(k, '0000:01:00.0');
  const closed = first.device;
  first.close();
  const again = g.getDeviceFd('0000:01:00.0');
  assert.ok(again.device !== closed, 'a new open of the device');
  assert.is(
    errno(() => again.read(U.VFIO_PCI_CONFIG_REGION_INDEX, 0, 4)),
    'OK',
    'the new fd works',
  );
  assert.ok(again.hw.irqSink !== null, "the new open has the hardware's interrupt sink");
  again.close();
  g.close();
});

test.run();
