import { VfioError } from '../errors.ts';
import type { DeviceFd } from '../../common/vfio-api.ts';
import type { DeviceMapping, IrqInfo, RegionInfo, SetIrqsRequest } from '../../common/vfio-uapi.ts';
import type { VfioDevice } from './device.ts';

/**
 * One device fd (VFIO_GROUP_GET_DEVICE_FD). Every fd of a device shares the one open device (its
 * virtual config, interrupts and counters), as drivers/vfio/group.c opens one struct vfio_device
 * however many fds name it (vfio_df_open counts them in open_count). Closing an fd makes that fd
 * EBADF; the device is torn down, interrupts off, only when its last fd closes
 * (vfio_df_close -> vfio_df_device_last_close -> vfio_pci_core_close_device).
 */
export class VfioDeviceFile implements DeviceFd {
  private closed = false;

  constructor(
    /** The open device this fd names. */
    readonly device: VfioDevice,
    private readonly onClose: (file: VfioDeviceFile) => void,
  ) {}

  get name(): string {
    return this.device.name;
  }

  // The device's state, for reports and tests (what /proc, sysfs and dmesg show of it).
  get hw(): VfioDevice['hw'] {
    return this.device.hw;
  }

  get fn(): VfioDevice['fn'] {
    return this.device.fn;
  }

  get config(): VfioDevice['config'] {
    return this.device.config;
  }

  get intx(): VfioDevice['intx'] {
    return this.device.intx;
  }

  get stats(): VfioDevice['stats'] {
    return this.device.stats;
  }

  get notifiers(): VfioDevice['notifiers'] {
    return this.device.notifiers;
  }

  get irqType(): number {
    return this.device.irqType;
  }

  getInfo(): { flags: number; numRegions: number; numIrqs: number } {
    return this.open().getInfo();
  }

  getRegionInfo(index: number): RegionInfo {
    return this.open().getRegionInfo(index);
  }

  getIrqInfo(index: number): IrqInfo {
    return this.open().getIrqInfo(index);
  }

  setIrqs(req: SetIrqsRequest): void {
    this.open().setIrqs(req);
  }

  read(index: number, offset: number, size: number): number {
    return this.open().read(index, offset, size);
  }

  write(index: number, offset: number, value: number, size: number): void {
    this.open().write(index, offset, value, size);
  }

  mmap(index: number, offset: bigint, size: bigint): DeviceMapping {
    return this.open().mmap(index, offset, size);
  }

  reset(): void {
    this.open().reset();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }

  private open(): VfioDevice {
    if (this.closed) throw new VfioError('EBADF', `${this.name}: the device fd is closed`);
    return this.device;
  }
}
