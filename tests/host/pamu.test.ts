// The Freescale vendor tree's windowed PAMU backend:
// vfio_iommu_fsl_pamu.c (never upstream) over drivers/iommu/fsl_pamu_domain.c
// (fsl_pamu_window_enable, check_size, DOMAIN_ATTR_WINDOWS, removed in 5.13).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventFd } from '../../src/common/index.ts';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, loadHost, open, triggerMsix } from './helpers.ts';

const VA = 0x70000000n;
const RW = U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE;
const M16 = 0x1000000n;

test('geometry [0,4G) with 256 windows gives 16M subwindows; MAP whole subwindows; MSI bank 0 in subwindow 255', () => {
  const { k, c, dev } = open(loadHost('e500-pamu'), '0000:01:00.0', U.VFIO_FSL_PAMU_IOMMU);
  const pamu = c.pamu();
  assert.equal(
    pamu.getGeometry(),
    { start: 0n, end: 0xffffffffn },
    'PAMU_GET_ATTR(GEOMETRY): the whole hardware aperture until SET_ATTR narrows it',
  );
  pamu.setGeometry(0n, 0x10000000n);
  assert.equal(pamu.getGeometry(), { start: 0n, end: 0xfffffffn });
  pamu.setGeometry(0n, 0x100000000n);
  pamu.setWindows(256);
  assert.is(pamu.subwindowSize, M16);
  assert.is(
    errno(() => pamu.setWindows(3)),
    'EINVAL',
    'not a power of two',
  );
  assert.is(
    errno(() => pamu.setWindows(512)),
    'EINVAL',
    'more than the hardware has',
  );
  assert.is(
    errno(() => pamu.setGeometry(0x1000n, 0x100000000n)),
    'EINVAL',
    'not aligned to its size',
  );
  k.userMemory.map(VA, new RamBlock(0x2000000));
  c.mapDma({ iova: M16, size: M16, vaddr: VA, flags: RW });
  assert.is(
    errno(() => c.mapDma({ iova: 2n * M16, size: 0x800000n, vaddr: VA, flags: RW })),
    'EINVAL',
    '8M is not a whole subwindow',
  );
  assert.is(
    errno(() => c.mapDma({ iova: M16, size: M16, vaddr: VA + M16, flags: RW })),
    'EBUSY',
    'the subwindow is already valid',
  );
  assert.is(
    errno(() => c.mapDma({ iova: 3n * M16, size: M16, vaddr: 0x1000n, flags: RW })),
    'EFAULT',
    'no process memory behind it',
  );
  assert.is(
    errno(() => pamu.setWindows(128)),
    'EBUSY',
    'the domain is enabled while something is mapped',
  );
  assert.is(c.iommu!.translate(M16 + 0x123n, true), VA + 0x123n);
  assert.is(c.iommu!.translate(2n * M16, false), null);
  assert.is(pamu.getMsiBankCount(), 3);
  assert.is(
    errno(() => pamu.mapMsiBank(3, 0xff000000n)),
    'EINVAL',
    'bank 3 does not exist',
  );
  // Before the bank is mapped the host vector has nowhere to write: the MSI faults.
  const fd = new EventFd();
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, 0x6, 2);
  triggerMsix(dev, fd);
  assert.is(dev.hw.signalMsix(0), false);
  assert.is(dev.stats.msiFaults, 1);
  pamu.mapMsiBank(0, 0xff000000n);
  assert.is(pamu.msiBankSubwindow(0), 255);
  triggerMsix(dev, fd);
  assert.is(dev.device.hostVectorAddress(0), 0xff000740n, "the subwindow base plus MSIIR's offset in its page");
  assert.is(dev.hw.signalMsix(0), true);
  assert.is(fd.count, 1);
  assert.is(c.unmapDma({ iova: M16, size: M16, flags: 0 }), M16);
  pamu.unmapMsiBank(0, 0xff000000n);
  pamu.setWindows(128);
});

test('from 5.13 mainline has no windowed PAMU: the extension is absent and SET_IOMMU says why', () => {
  const j = hostJson('e500-pamu');
  j.kernel = '5.15';
  let caught = '';
  try {
    open(hostFrom(j), '0000:01:00.0', U.VFIO_FSL_PAMU_IOMMU);
  } catch (e) {
    caught = String(e);
  }
  assert.match(caught, /ENODEV.*DOMAIN_ATTR_WINDOWS, removed in 5.13/);
});

test.run();
