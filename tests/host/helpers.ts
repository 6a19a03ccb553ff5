// Shared by the host tests: host files, errno capture, and QEMU's open order.
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { SimHost, parseHostFile, VfioKernel, VfioError } from '../../src/host/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { EventFd } from '../../src/common/index.ts';

export const HOSTS = fileURLToPath(new URL('../../machines/hosts/', import.meta.url));
export const hostJson = (name: string) => JSON.parse(readFileSync(`${HOSTS}${name}.json`, 'utf8'));
export const hostFrom = (j: object) => new SimHost(parseHostFile(JSON.stringify(j), 'variant.json'));
export const loadHost = (name: string) => SimHost.load(`${HOSTS}${name}.json`);

/** The errno name a call fails with, or 'OK'. */
export function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof VfioError) return e.code;
    throw e;
  }
  return 'OK';
}

/** The QEMU order: open container, open group, SET_CONTAINER, SET_IOMMU, GET_DEVICE_FD. */
export function open(host: SimHost, address = '0000:01:00.0', type: number = U.VFIO_TYPE1v2_IOMMU, memlock?: bigint) {
  const k = new VfioKernel(host, memlock);
  const c = k.openContainer();
  const g = k.openGroup(k.groupOf(address));
  g.setContainer(c);
  c.setIommu(type);
  return { k, c, g, dev: g.getDeviceFd(address) };
}

/** SET_IRQS: `fd` triggers MSI-X vector `start` (the one-vector set-up the host tests share). */
export function triggerMsix(dev: ReturnType<typeof open>['dev'], fd: EventFd = new EventFd(), start = 0): EventFd {
  dev.setIrqs({
    index: U.VFIO_PCI_MSIX_IRQ_INDEX,
    start,
    count: 1,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [fd],
  });
  return fd;
}
