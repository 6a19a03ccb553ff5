// The kernel's VFIO rules: drivers/vfio/group.c, container.c,
// vfio_iommu_type1.c (vfio_dma_do_map/unmap, attach_group), vfio_pci_core.c (region info, mmap),
// vfio_pci_rdwr.c and vfio_pci_intrs.c.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimHost, VfioKernel, type Type1Iommu } from '../../src/host/index.ts';
import { EventFd } from '../../src/common/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { HOSTS, hostJson, hostFrom, errno, open, triggerMsix } from './helpers.ts';

test("API misuse gives the kernel's errnos", () => {
  const host = SimHost.load(HOSTS + 'x86-4k-ir.json');
  const k = new VfioKernel(host);
  const id = k.groupOf('0000:01:00.0');
  const c = k.openContainer();
  assert.is(c.getApiVersion(), 0);
  assert.is(
    errno(() => c.setIommu(U.VFIO_TYPE1v2_IOMMU)),
    'EINVAL',
    'SET_IOMMU with no group',
  );
  const g = k.openGroup(id);
  assert.is(
    errno(() => k.openGroup(id)),
    'EBUSY',
    'second open of /dev/vfio/N',
  );
  assert.is(
    errno(() => g.getDeviceFd('0000:01:00.0')),
    'EINVAL',
    'GET_DEVICE_FD before SET_CONTAINER',
  );
  g.setContainer(c);
  assert.is(
    errno(() => g.setContainer(c)),
    'EINVAL',
    'SET_CONTAINER twice',
  );
  assert.is(
    errno(() => g.getDeviceFd('0000:01:00.0')),
    'EINVAL',
    'GET_DEVICE_FD before SET_IOMMU',
  );
  c.setIommu(U.VFIO_TYPE1v2_IOMMU);
  assert.is(
    errno(() => c.setIommu(U.VFIO_TYPE1v2_IOMMU)),
    'EINVAL',
    'no second SET_IOMMU',
  );
  assert.is(
    errno(() => g.getDeviceFd('0000:09:00.0')),
    'ENODEV',
    'unknown device name',
  );
  const dev = g.getDeviceFd('0000:01:00.0');
  assert.is(
    errno(() => g.unsetContainer()),
    'EBUSY',
    'UNSET_CONTAINER with a device fd open',
  );
  dev.close();
  g.unsetContainer();
  assert.is(
    errno(() => k.openGroup(k.groupOf('0000:00:02.0'))),
    'ENOENT',
    'no /dev/vfio node for a group on i915',
  );
  assert.is(c.checkExtension(U.VFIO_TYPE1v2_IOMMU), 1);
  assert.is(
    new VfioKernel(SimHost.load(HOSTS + 'power9-64k.json')).openContainer().checkExtension(U.VFIO_TYPE1v2_IOMMU),
    0,
  );
});

test('a non-viable group: EPERM at SET_CONTAINER from 5.19, EINVAL at GET_DEVICE_FD before', () => {
  const old = SimHost.load(HOSTS + 'x86-acs-topology.json');
  const k = new VfioKernel(old);
  const g = k.openGroup(k.groupOf('0000:00:1f.1'));
  assert.is(g.getStatus().flags, 0, 'GET_STATUS: not viable');
  const c = k.openContainer();
  g.setContainer(c);
  c.setIommu(U.VFIO_TYPE1v2_IOMMU);
  let msg = '';
  try {
    g.getDeviceFd('0000:00:1f.1');
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(
    msg,
    /^EINVAL: group \d+ is not viable: 0000:00:1f\.0 is bound to e1000e; bind it to vfio-pci or pci-stub/,
  );
  const j = hostJson('x86-acs-topology');
  j.kernel = '6.8';
  const modern = new VfioKernel(hostFrom(j));
  const g2 = modern.openGroup(modern.groupOf('0000:00:1f.1'));
  assert.is(
    errno(() => g2.setContainer(modern.openContainer())),
    'EPERM',
  );
});

test('type1 MAP/UNMAP rules, v2 and v1 (4K)', () => {
  const host = SimHost.load(HOSTS + 'x86-4k-ir.json');
  const v2 = open(host).c;
  const map = (c: typeof v2, iova: number, size: number) =>
    errno(() => c.mapDma({ iova: BigInt(iova), size: BigInt(size), vaddr: 0x7f0000000000n + BigInt(iova), flags: 3 }));
  assert.is(map(v2, 0x1000, 0x3000), 'OK');
  assert.is(map(v2, 0x2000, 0x1000), 'EEXIST');
  assert.is(map(v2, 0x1800, 0x1000), 'EINVAL');
  assert.is(
    errno(() => v2.unmapDma({ iova: 0x2000n, size: 0x1000n, flags: 0 })),
    'EINVAL',
    'v2 refuses to bisect',
  );
  assert.is(v2.unmapDma({ iova: 0n, size: 0x10000n, flags: 0 }), 0x3000n);
  assert.is(v2.unmapDma({ iova: 0x100000n, size: 0x1000n, flags: 0 }), 0n, 'an empty range unmaps 0 bytes');
  const host2 = SimHost.load(HOSTS + 'x86-4k-ir.json');
  const v1 = open(host2, '0000:01:00.0', U.VFIO_TYPE1_IOMMU).c;
  assert.is(map(v1, 0x1000, 0x3000), 'OK');
  assert.is(
    v1.unmapDma({ iova: 0x2000n, size: 0x1000n, flags: 0 }),
    0n,
    'v1: a mapping starting before iova stops the loop',
  );
  assert.is(
    v1.unmapDma({ iova: 0x1000n, size: 0x1000n, flags: 0 }),
    0x3000n,
    'v1: touching the first iova removes the whole mapping',
  );
  assert.is(
    errno(() => v1.mapDma({ iova: 0xfee00000n, size: 0x1000n, vaddr: 0x1000n, flags: 3 })),
    'EINVAL',
    'the MSI window is not a valid IOVA',
  );
});

test('dma_entry_limit: the 4th MAP is ENOSPC; DMA_AVAIL follows', () => {
  const j = hostJson('x86-4k-ir');
  j.iommu.dmaEntryLimit = 3;
  const { c } = open(hostFrom(j));
  for (let i = 0; i < 3; i++) c.mapDma({ iova: BigInt(i * 0x10000), size: 0x1000n, vaddr: 0x1000n, flags: 3 });
  assert.is(
    errno(() => c.mapDma({ iova: 0x100000n, size: 0x1000n, vaddr: 0x1000n, flags: 3 })),
    'ENOSPC',
  );
  assert.is(c.iommuGetInfo().dmaAvail, 0);
  c.unmapDma({ iova: 0n, size: 0x1000n, flags: 0 });
  assert.is(c.iommuGetInfo().dmaAvail, 1);
});

test('64K arm64 with SMMUv3 and ITS: pgsizes, IOVA ranges, the MSI doorbell IOVA', () => {
  const { c, dev } = open(SimHost.load(HOSTS + 'arm64-64k-its.json'));
  const info = c.iommuGetInfo();
  assert.is(info.iovaPgsizes, 0x10000n | 0x200000n | 0x20000000n, '4K hidden below the 64K PAGE_SIZE');
  assert.is(
    errno(() => c.mapDma({ iova: 0x1000n, size: 0x10000n, vaddr: 0n, flags: 3 })),
    'EINVAL',
  );
  assert.equal(info.iovaRanges, [
    { start: 0n, end: 0x7ffffffn },
    { start: 0x8100000n, end: 0xffffffffffffn },
  ]);
  assert.is(
    errno(() => c.mapDma({ iova: 0x8000000n, size: 0x10000n, vaddr: 0n, flags: 3 })),
    'EINVAL',
  );
  triggerMsix(dev);
  assert.is(dev.device.hostVectorAddress(0), 0x8000040n, 'IOVA 0x8000000 plus GITS_TRANSLATER offset 0x40');
});

test("a second group joins the container's domain and its MSI cookie: doorbell IOVAs carry on, never reused " +
  '(vfio_iommu_type1.c:vfio_iommu_type1_attach_group, dma-iommu.c:iommu_dma_get_msi_page)', () => {
  const host = SimHost.load(HOSTS + 'arm64-64k-its.json');
  const { k, c, dev } = open(host);
  triggerMsix(dev);
  const t = c.iommu as Type1Iommu;
  const page = BigInt(host.spec.pageSize);
  const g2 = k.openGroup(k.groupOf('0000:08:00.0'));
  g2.setContainer(c);
  assert.is(t.msiAddress(host.spec.msi.doorbell), 0x8000040n, 'the same doorbell page: its IOVA is found by address');
  // A doorbell on another page (a second ITS frame) gets the cookie's next IOVA: msi_iova only grows
  // for the domain's life, and attaching a group to an existing domain does not reset it.
  assert.is(t.msiAddress(host.spec.msi.doorbell + page), 0x8010040n);
  assert.is(t.translate(0x8000040n, true), host.spec.msi.doorbell, 'the first page still reaches its own doorbell');
  g2.unsetContainer();
  assert.is(
    t.msiAddress(host.spec.msi.doorbell + 2n * page),
    0x8020040n,
    'the domain and its cookie stay with group 1',
  );
});

test('hosts that do not isolate MSIs refuse type1 (EPERM) unless allow_unsafe_interrupts', () => {
  const v2m = SimHost.load(HOSTS + 'arm64-gicv2m.json');
  const k = new VfioKernel(v2m);
  const g = k.openGroup(k.groupOf('0000:01:00.0'));
  const c = k.openContainer();
  g.setContainer(c);
  let msg = '';
  try {
    c.setIommu(U.VFIO_TYPE1v2_IOMMU);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(
    msg,
    /^EPERM: group \d+: No interrupt remapping support\. Use the module param "allow_unsafe_interrupts"/,
  );
  const j = hostJson('arm64-gicv2m');
  j.allowUnsafeInterrupts = true;
  const { c: ok } = open(hostFrom(j));
  assert.equal(ok.iommuGetInfo().iovaRanges[0], { start: 0n, end: 0x7ffffffn }, 'the SW_MSI window stays excluded');
  const x = hostJson('x86-4k-ir');
  x.msi.controller = 'x86-noir';
  assert.is(
    errno(() => open(hostFrom(x))),
    'EPERM',
  );
});

test('region info for an MSI-X BAR on 4.6-4.15 (sparse) and 4.16+ (MSIX_MAPPABLE)', () => {
  const j = hostJson('x86-4k-ir');
  j.kernel = '4.15';
  const old = open(hostFrom(j)).dev.getRegionInfo(0);
  assert.is(
    old.flags,
    U.VFIO_REGION_INFO_FLAG_READ |
      U.VFIO_REGION_INFO_FLAG_WRITE |
      U.VFIO_REGION_INFO_FLAG_MMAP |
      U.VFIO_REGION_INFO_FLAG_CAPS,
  );
  assert.equal(old.caps, [
    {
      id: U.VFIO_REGION_INFO_CAP_SPARSE_MMAP,
      areas: [
        { offset: 0n, size: 0x2000n },
        { offset: 0x3000n, size: 0x1000n },
      ],
    },
  ]);
  const now = open(SimHost.load(HOSTS + 'x86-4k-ir.json')).dev;
  assert.equal(now.getRegionInfo(0).caps, [{ id: U.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }]);
  assert.is(now.getRegionInfo(1).flags, 0, 'the upper half of a 64-bit BAR is not implemented');
  assert.is(now.getRegionInfo(7).size, 4096n);
  assert.is(now.getRegionInfo(7).offset, 7n << 40n);
  assert.is(
    errno(() => now.getRegionInfo(8)),
    'EINVAL',
  );
});

test('64K pages on 4.6-4.15: the table page is the whole BAR, one empty area, mmap refused', () => {
  const j = hostJson('arm64-64k-its');
  j.kernel = '4.14';
  const { dev } = open(hostFrom(j));
  assert.equal(dev.getRegionInfo(0).caps, [
    { id: U.VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: [{ offset: 0n, size: 0n }] },
  ]);
  assert.is(
    errno(() => dev.mmap(0, 0n, 0x10000n)),
    'EINVAL',
  );
});

test('read() and write() of the MSI-X table return 0xff and drop; the PBA passes through', () => {
  const { dev } = open(SimHost.load(HOSTS + 'x86-4k-ir.json'));
  dev.write(0, 0x2000, 0x12345678, 4);
  assert.is(dev.read(0, 0x2000, 4), 0xffffffff);
  assert.is(dev.stats.tableDrops, 2);
  dev.write(0, 0x40, 7, 4);
  assert.is(dev.read(0, 0x40, 4), 7);
  const map = dev.mmap(0, 0n, 0x4000n);
  assert.is(map.read(0x40, 4), 7, 'the mmap sees the same hardware');
  map.write(0x2000, 0xdead, 4);
  assert.is(dev.hw.bars.get(0)!.read(0x2000, 4), 0xdead, 'from 4.16 the table itself can be written through the mmap');
});

test('memory decode off: mmap accesses fault (SIGBUS, counted) and read() gives EIO', () => {
  const { dev } = open(SimHost.load(HOSTS + 'x86-4k-ir.json'));
  const map = dev.mmap(0, 0n, 0x1000n);
  dev.write(7, 4, 0, 2);
  assert.is(
    errno(() => dev.read(0, 0x40, 4)),
    'EIO',
  );
  map.read(0, 4);
  assert.is(dev.stats.sigbus, 1);
  dev.write(7, 4, 2, 2);
  assert.is(dev.read(0, 0x40, 4), 0);
});

test('IRQs: counts and flags by kernel; one type at a time; NORESIZE; MSI-X mask is ENOTTY; eventfds fire', () => {
  const { dev } = open(SimHost.load(HOSTS + 'x86-4k-ir.json'));
  assert.equal(
    dev.getIrqInfo(U.VFIO_PCI_MSIX_IRQ_INDEX),
    { index: 2, count: 128, flags: U.VFIO_IRQ_INFO_EVENTFD },
    '6.5+: dynamic MSI-X, no NORESIZE',
  );
  const fd = new EventFd();
  dev.setIrqs({
    index: U.VFIO_PCI_MSIX_IRQ_INDEX,
    start: 0,
    count: 4,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [null, null, null, fd],
  });
  assert.ok(dev.device.raise(3));
  assert.is(fd.count, 1);
  assert.not.ok(dev.device.raise(0), 'no eventfd bound: lost');
  assert.is(
    errno(() =>
      dev.setIrqs({
        index: U.VFIO_PCI_MSI_IRQ_INDEX,
        start: 0,
        count: 1,
        flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
        data: [fd],
      }),
    ),
    'EINVAL',
  );
  assert.is(
    errno(() =>
      dev.setIrqs({
        index: U.VFIO_PCI_MSIX_IRQ_INDEX,
        start: 0,
        count: 1,
        flags: U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_MASK,
      }),
    ),
    'ENOTTY',
  );
  assert.is(
    errno(() =>
      dev.setIrqs({
        index: U.VFIO_PCI_MSIX_IRQ_INDEX,
        start: 120,
        count: 9,
        flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
        data: [],
      }),
    ),
    'EINVAL',
  );
  triggerMsix(dev, fd, 5);
  assert.ok(dev.device.raise(5), 'dynamic MSI-X grows the index');
  dev.setIrqs({
    index: U.VFIO_PCI_MSIX_IRQ_INDEX,
    start: 0,
    count: 0,
    flags: U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER,
  });
  assert.is(dev.irqType, -1);
  const j = hostJson('x86-4k-ir');
  j.kernel = '6.1';
  const old = open(hostFrom(j)).dev;
  old.setIrqs({
    index: 2,
    start: 0,
    count: 1,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [null],
  });
  assert.is(
    errno(() =>
      old.setIrqs({
        index: 2,
        start: 5,
        count: 1,
        flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
        data: [fd],
      }),
    ),
    'EINVAL',
    'NORESIZE: disable and re-enable to grow',
  );
});

test('a user rewrites a table entry through the mmap (4.16+, x86 IR): delivery is refused until SET_IRQS ' +
  'rewrites it', () => {
  const { dev } = open(SimHost.load(HOSTS + 'x86-4k-ir.json'));
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, 0x6, 2);
  const fd = new EventFd();
  const set = () => triggerMsix(dev, fd);
  set();
  const map = dev.mmap(0, 0n, 0x4000n);
  map.write(0x2000, 0xdead0000, 4); // the hardware entry changes
  assert.is(dev.hw.signalMsix(0), false);
  assert.is(dev.stats.remapBlocked, 1, 'the IRTE no longer matches: blocked');
  assert.is(dev.read(0, 0x2000, 4), 0xffffffff, 'read() of the table still returns 0xff');
  set(); // vfio_msi_set_vector_signal re-writes the cached message
  assert.is(dev.hw.signalMsix(0), true);
  assert.is(fd.count, 1);
});

test.run();
