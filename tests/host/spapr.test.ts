// sPAPR TCE v1/v2 and EEH:
// drivers/vfio/vfio_iommu_spapr_tce.c (tce_iommu_attach_group, tce_iommu_create_window,
// tce_iommu_map_dma, tce_page_is_contained, tce_iommu_register_pages) and vfio_spapr_eeh.c.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VfioKernel } from '../../src/host/index.ts';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, loadHost, open } from './helpers.ts';

const VA = 0x7f0000000000n;
const RW = U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE;
const DDW = 1n << 59n;

test("v2 on PowerNV: GET_INFO, QEMU removes window 0 and creates its own, DDW at 1<<59, the kernel's errnos", () => {
  const { k, c } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  const info = c.spaprTceGetInfo();
  assert.equal(
    [info.dma32WindowStart, info.dma32WindowSize, info.flags],
    [0n, 0x80000000n, U.VFIO_IOMMU_SPAPR_INFO_DDW],
  );
  assert.equal(info.ddw, { pgsizes: 0x1000n | 0x10000n | 0x1000000n, maxDynamicWindowsSupported: 2, levels: 5 });
  c.spaprTceRemove(0n); // cancels the pending default window
  assert.is(
    c.spaprTceCreate({ pageShift: 12, windowSize: 0x40000000n, levels: 1 }),
    0n,
    'the guest default window, at 0',
  );
  assert.is(
    c.spaprTceCreate({ pageShift: 16, windowSize: 0x100000000n, levels: 2 }),
    DDW,
    'the platform places the DDW (QEMU dma64_win_addr)',
  );
  assert.is(
    errno(() => c.spaprTceCreate({ pageShift: 16, windowSize: 0x10000000n, levels: 1 })),
    'ENOSPC',
    'a third window',
  );
  const ram = new RamBlock(0x200000);
  k.userMemory.map(VA, ram);
  assert.is(
    errno(() => c.mapDma({ iova: DDW, size: 0x10000n, vaddr: VA, flags: RW })),
    'EPERM',
    'MAP before REGISTER_MEMORY',
  );
  c.spaprRegisterMemory(VA, 0x200000n);
  c.mapDma({ iova: DDW, size: 0x20000n, vaddr: VA, flags: RW });
  assert.is(
    errno(() => c.mapDma({ iova: 0x80000000n, size: 0x10000n, vaddr: VA, flags: RW })),
    'ENXIO',
    'between the windows',
  );
  assert.is(
    errno(() => c.mapDma({ iova: DDW + 0x40000n, size: 0x1000n, vaddr: VA, flags: RW })),
    'EINVAL',
    'not a multiple of the 64K TCE page',
  );
  assert.is(
    errno(() => c.mapDma({ iova: DDW, size: 0x10000n, vaddr: VA, flags: RW | U.VFIO_DMA_MAP_FLAG_VADDR })),
    'EINVAL',
    'only READ/WRITE',
  );
  c.mapDma({ iova: 0x1000n, size: 0x1000n, vaddr: VA + 0x1000n, flags: U.VFIO_DMA_MAP_FLAG_READ });
  ram.write(0x10010, 0xabcd, 2);
  const iommu = c.iommu!;
  assert.is(
    iommu.translate(DDW + 0x10010n, false),
    VA + 0x10010n,
    'bus addresses are absolute: the window filters, it does not offset',
  );
  assert.is(iommu.translate(0x1008n, true), null, 'a read-only TCE refuses a device write');
  assert.is(c.unmapDma({ iova: DDW, size: 0x20000n, flags: 0 }), 0x20000n);
  assert.is(iommu.translate(DDW + 0x10n, false), null);
  assert.is(
    errno(() => c.unmapDma({ iova: 0x1000n, size: 0x1000n, flags: U.VFIO_DMA_UNMAP_FLAG_ALL })),
    'EINVAL',
    'UNMAP takes no flags',
  );
  c.spaprTceRemove(DDW);
  assert.is(
    errno(() => c.spaprTceRemove(DDW)),
    'EINVAL',
    'no window starts there any more',
  );
  assert.is(
    errno(() => c.spaprTceCreate({ pageShift: 13, windowSize: 0x100000000n, levels: 1 })),
    'EINVAL',
    '8K is not a TCE size of this PHB',
  );
  assert.is(
    errno(() => c.spaprTceCreate({ pageShift: 16, windowSize: 0x100000000n, levels: 6 })),
    'EINVAL',
    'more levels than the PHB has',
  );
  assert.is(
    errno(() => c.iommuEnable()),
    'ENOTTY',
    'ENABLE is a v1 call',
  );
  assert.is(
    errno(() => c.iommuGetInfo()),
    'ENOTTY',
    'no type1 info on an sPAPR container',
  );
});

test('without REMOVE(0), the first MAP creates the default 4K window over the 32-bit range', () => {
  const { k, c } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  k.userMemory.map(VA, new RamBlock(0x100000));
  c.spaprRegisterMemory(VA, 0x100000n);
  c.mapDma({ iova: 0x7fff0000n, size: 0x1000n, vaddr: VA, flags: RW });
  assert.is(c.iommu!.translate(0x7fff0000n, false), VA);
  assert.is(
    c.spaprTceCreate({ pageShift: 16, windowSize: 0x40000000n, levels: 1 }),
    DDW,
    'slot 0 is taken by the default window',
  );
});

test('v2: REGISTER_MEMORY rules, unregistered vaddr is EINVAL, a 16M TCE over 64K pages is EPERM, hugepages ' +
  'work', () => {
  const { k, c } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  k.userMemory.map(VA, new RamBlock(0x2000000));
  k.userMemory.map(VA * 2n, new RamBlock(0x2000000), 0, 0x2000000n, 0x1000000n);
  assert.is(
    errno(() => c.spaprRegisterMemory(VA + 0x1000n, 0x10000n)),
    'EINVAL',
    'not 64K aligned',
  );
  assert.is(
    errno(() => c.spaprRegisterMemory(0x1000000n, 0x10000n)),
    'EFAULT',
    'nothing mapped to pin',
  );
  c.spaprRegisterMemory(VA, 0x1000000n);
  assert.is(
    errno(() => c.spaprRegisterMemory(VA, 0x1000000n)),
    'EBUSY',
    'registered twice',
  );
  c.spaprRegisterMemory(VA * 2n, 0x2000000n);
  c.spaprTceRemove(0n);
  assert.is(c.spaprTceCreate({ pageShift: 16, windowSize: 0x40000000n, levels: 1 }), 0n);
  const start = c.spaprTceCreate({ pageShift: 24, windowSize: 0x100000000n, levels: 1 });
  assert.is(
    errno(() => c.mapDma({ iova: start, size: 0x1000000n, vaddr: VA, flags: RW })),
    'EPERM',
    '16M TCE over 64K-backed memory',
  );
  c.mapDma({ iova: start, size: 0x1000000n, vaddr: VA * 2n, flags: RW });
  assert.is(
    errno(() => c.mapDma({ iova: 0n, size: 0x10000n, vaddr: VA + 0x1000000n, flags: RW })),
    'EINVAL',
    'vaddr outside registered memory',
  );
  assert.is(
    errno(() => c.spaprUnregisterMemory(VA * 2n, 0x2000000n)),
    'EBUSY',
    'still mapped',
  );
  c.unmapDma({ iova: start, size: 0x1000000n, flags: 0 });
  c.spaprUnregisterMemory(VA * 2n, 0x2000000n);
});

test('v1 on a PHB without ownership ops: ENABLE accounts the 32-bit window against RLIMIT_MEMLOCK', () => {
  const j = hostJson('power9-64k');
  j.iommu.spapr.ownershipOps = false;
  const host = hostFrom(j);
  const k = new VfioKernel(host, 0x10000000n);
  const c = k.openContainer();
  const g = k.openGroup(k.groupOf('0000:01:00.0'));
  g.setContainer(c);
  assert.is(
    errno(() => c.setIommu(U.VFIO_SPAPR_TCE_v2_IOMMU)),
    'EPERM',
    'v2 needs a PHB with ownership ops',
  );
  g.close();
  const v1 = open(hostFrom(j), '0000:01:00.0', U.VFIO_SPAPR_TCE_IOMMU, 0x10000000n);
  v1.k.userMemory.map(VA, new RamBlock(0x10000));
  assert.is(
    errno(() => v1.c.mapDma({ iova: 0x1000n, size: 0x1000n, vaddr: VA, flags: RW })),
    'EPERM',
    'MAP before IOMMU_ENABLE',
  );
  assert.is(
    errno(() => v1.c.iommuEnable()),
    'ENOMEM',
    'a 2G window over a 256M memlock limit',
  );
  const ok = open(hostFrom(j), '0000:01:00.0', U.VFIO_SPAPR_TCE_IOMMU);
  ok.k.userMemory.map(VA, new RamBlock(0x10000));
  ok.c.iommuEnable();
  assert.is(
    errno(() => ok.c.iommuEnable()),
    'EBUSY',
  );
  ok.c.mapDma({ iova: 0x1000n, size: 0x1000n, vaddr: VA, flags: RW });
  assert.is(ok.c.spaprTceGetInfo().flags, 0, 'v1 reports no DDW');
  assert.is(
    errno(() => ok.c.spaprTceCreate({ pageShift: 12, windowSize: 0x1000000n, levels: 1 })),
    'ENOTTY',
  );
  ok.c.iommuDisable();
  assert.is(
    errno(() => ok.c.mapDma({ iova: 0x1000n, size: 0x1000n, vaddr: VA, flags: RW })),
    'EPERM',
    'disabled again',
  );
});

test('EEH: CHECK_EXTENSION, an injected freeze stops MMIO and DMA, thawing IO then DMA restores NORMAL', () => {
  const { k, c, dev } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  assert.is(c.checkExtension(U.VFIO_EEH), 1);
  assert.is(new VfioKernel(loadHost('x86-4k-ir')).openContainer().checkExtension(U.VFIO_EEH), 0);
  k.userMemory.map(VA, new RamBlock(0x100000));
  c.spaprRegisterMemory(VA, 0x100000n);
  c.mapDma({ iova: 0n, size: 0x10000n, vaddr: VA, flags: RW });
  dev.write(0, 0x2000, 0x1234, 4);
  c.eehPeOp(U.VFIO_EEH_PE_ENABLE);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_NORMAL);
  c.eehPeOp(U.VFIO_EEH_PE_INJECT_ERR);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_STOPPED);
  assert.is(dev.read(0, 0x2000, 4), 0xffffffff, 'a frozen PE reads all ones');
  dev.write(0, 0x2000, 0x5678, 4);
  assert.is(c.iommu!.translate(0x10n, false), null, 'and its DMA is blocked');
  c.eehPeOp(U.VFIO_EEH_PE_UNFREEZE_IO);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_STOPPED_DMA);
  assert.is(dev.read(0, 0x2000, 4), 0x1234, 'MMIO is back; the frozen write was dropped');
  c.eehPeOp(U.VFIO_EEH_PE_UNFREEZE_DMA);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_NORMAL);
  assert.is(c.iommu!.translate(0x10n, false), VA + 0x10n);
  c.eehPeOp(U.VFIO_EEH_PE_RESET_HOT);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_RESET);
  c.eehPeOp(U.VFIO_EEH_PE_RESET_DEACTIVATE);
  c.eehPeOp(U.VFIO_EEH_PE_CONFIGURE);
  assert.is(c.eehPeOp(U.VFIO_EEH_PE_GET_STATE), U.VFIO_EEH_PE_STATE_NORMAL);
  assert.is(
    errno(() => c.eehPeOp(42)),
    'EINVAL',
  );
  const t1 = open(loadHost('x86-4k-ir'));
  assert.is(
    errno(() => t1.c.eehPeOp(U.VFIO_EEH_PE_GET_STATE)),
    'ENOTTY',
    'no EEH on a type1 container',
  );
});

test.run();
