import { KernelBug, VfioError } from '../errors.ts';
import type { SimHost } from '../sim-host.ts';
import { driverManagedDma, isVfioDriver } from '../sim-host.ts';
import type { IommuGroup } from '../iommu-groups.ts';
import { Type1Iommu, type1CheckExtension } from './type1.ts';
import { SpaprTceIommu } from './spapr-tce.ts';
import { PamuIommu } from './pamu.ts';
import type { IommuBackend } from './iommu-backend.ts';
import { VfioDevice } from './device.ts';
import { VfioDeviceFile } from './device-file.ts';
import type { KernelIntx } from './intx.ts';
import * as U from '../../common/vfio-uapi.ts';
import type { ContainerFd, GroupFd, VfioApi } from '../../common/vfio-api.ts';
import type { RamBlock } from '../../common/ram-block.ts';
import type {
  MapDmaRequest,
  UnmapDmaRequest,
  Type1Info,
  SpaprTceInfo,
  TceCreateRequest,
} from '../../common/vfio-uapi.ts';
import { UserMemory } from '../user-memory.ts';

/** Per-group kernel state: one open at a time, its container, its open device fds. */
interface GroupState {
  group: IommuGroup;
  opened: VfioGroup | null;
}

/**
 * The host kernel's VFIO, as an object API with the kernel's rules and errno-style errors
 * (drivers/vfio/group.c, container.c; vfio_iommu_type1.c). Opening /dev/vfio/vfio gives a
 * container; /dev/vfio/<id> a group. A VMM gets it as a VfioApi and sees nothing else of the
 * host; the rest of this class is the host's own side (driver binding, what the kernel logs).
 */
export class VfioKernel implements VfioApi {
  private readonly states = new Map<number, GroupState>();
  /** Every call made, for reports: "SET_IOMMU(TYPE1v2)" and the like. */
  readonly log: string[] = [];
  /** The address space of the process using VFIO: where MAP_DMA's vaddrs point. */
  readonly userMemory = new UserMemory();

  /** `memlockLimit`: the process's RLIMIT_MEMLOCK in bytes (sPAPR accounts pinned memory against it). */
  constructor(
    private readonly host: SimHost,
    readonly memlockLimit: bigint = 1n << 62n,
  ) {
    for (const g of host.groups) this.states.set(g.id, { group: g, opened: null });
  }

  /** open("/dev/vfio/vfio"). */
  openContainer(): VfioContainer {
    return new VfioContainer(this, this.host);
  }

  /** open("/dev/vfio/N"): only groups with a device on a vfio driver exist; a second open is EBUSY. */
  openGroup(id: number): VfioGroup {
    const st = this.states.get(id);
    if (!st || !st.group.functions.some((f) => isVfioDriver(f.spec.driver))) {
      throw new VfioError(
        'ENOENT',
        `/dev/vfio/${id} does not exist: no device of IOMMU group ${id} is bound to vfio-pci`,
      );
    }
    if (st.opened)
      throw new VfioError(
        'EBUSY',
        `/dev/vfio/${id} is already open (a group can be opened once); close the other user first`,
      );
    st.opened = new VfioGroup(this, this.host, st.group);
    return st.opened;
  }

  /** The group of a PCI address, as sysfs iommu_group tells. */
  groupOf(address: string): number {
    const f = this.host.functionAt(address);
    if (!f) throw new VfioError('ENODEV', `no PCI device ${address} on host ${this.host.spec.name}`);
    return f.group!.id;
  }

  /**
   * echo ADDR > /sys/bus/pci/drivers/DRIVER/bind. While the group is used through VFIO, a driver
   * that does its own DMA cannot take a device: from 5.19 its probe fails with EBUSY
   * (iommu_device_use_default_domain); before, vfio_iommu_group_notifier hit a BUG_ON.
   */
  bindDriver(address: string, driver: string): void {
    const f = this.host.functionAt(address);
    if (!f) throw new VfioError('ENODEV', `no PCI device ${address} on host ${this.host.spec.name}`);
    if (f.spec.driver) throw new VfioError('EBUSY', `${address} is already bound to ${f.spec.driver}; unbind it first`);
    const inUse = !!this.states.get(f.group!.id)?.opened?.container;
    if (inUse && !driverManagedDma(driver)) {
      if (this.host.kernel.dmaOwnership)
        throw new VfioError(
          'EBUSY',
          `probe of ${address} by ${driver} failed: IOMMU group ${f.group!.id} is owned by a VFIO user ` +
            '(iommu_device_use_default_domain); stop the VM first',
        );
      throw new KernelBug(
        `kernel BUG in vfio_iommu_group_notifier: ${address} was bound to ${driver} while IOMMU group ` +
          `${f.group!.id} is in use (kernel ${this.host.spec.kernel}; fixed by the 5.19 DMA-ownership model)`,
      );
    }
    f.spec.driver = driver;
  }

  /**
   * echo ADDR > .../unbind. A vfio-pci device still open is not released: the kernel signals the
   * user's REQ eventfd and waits (vfio_device_remove, again every 10 s); call again once closed.
   */
  unbindDriver(address: string): { done: boolean; requested: boolean } {
    const f = this.host.functionAt(address);
    if (!f) throw new VfioError('ENODEV', `no PCI device ${address} on host ${this.host.spec.name}`);
    const open = this.states.get(f.group!.id)?.opened?.devices.find((d) => d.name === address);
    if (open) {
      const req = open.notifiers[U.VFIO_PCI_REQ_IRQ_INDEX];
      req?.signal();
      return { done: false, requested: !!req };
    }
    f.spec.driver = null;
    return { done: true, requested: false };
  }

  /** What sysfs tells about a group's devices and their drivers, as advice when it is not viable. */
  viabilityAdvice(id: number): string {
    const st = this.states.get(id);
    if (!st) return `no IOMMU group ${id}`;
    return this.host.viability(st.group).advice;
  }

  pageSize(): number {
    return this.host.spec.pageSize;
  }

  iommuKind(): string {
    return this.host.spec.iommu.kind;
  }

  uname(): { nodename: string; machine: string } {
    return { nodename: this.host.spec.name, machine: this.host.spec.arch };
  }

  mapProcessMemory(vaddr: bigint, block: RamBlock): void {
    this.userMemory.map(vaddr, block);
  }

  /**
   * What the kernel knows of an open device for reports: its interrupt counts (/proc/interrupts'
   * vfio-msix lines), the IOMMU faults it logged (the DMAR/SMMU fault lines of dmesg), and DMA the
   * device dropped because bus mastering was off (no kernel sees that; the simulation counts it),
   * and its INTx line (/proc/interrupts' vfio-intx line).
   */
  deviceCounters(address: string): {
    interrupts: number;
    lostInterrupts: number;
    msiFaults: number;
    remapBlocked: number;
    dmaFaults: { iova: bigint; write: boolean }[];
    dmaBlocked: number;
    intx: KernelIntx;
  } {
    const f = this.host.functionAt(address);
    const open = f && this.states.get(f.group!.id)?.opened?.devices.find((d) => d.name === f.spec.address);
    if (!open) throw new VfioError('ENODEV', `${address} is not open through VFIO on host ${this.host.spec.name}`);
    const s = open.stats;
    const hw = open.hw;
    return {
      interrupts: s.interrupts,
      lostInterrupts: s.lostInterrupts,
      msiFaults: s.msiFaults,
      remapBlocked: s.remapBlocked,
      dmaFaults: hw.dmaFaults,
      dmaBlocked: hw.dmaBlocked,
      intx: open.intx,
    };
  }

  /** @internal */
  closed(group: VfioGroup): void {
    this.states.get(group.id)!.opened = null;
  }
}

/** A container fd: IOMMU backend selection and DMA mapping. */
export class VfioContainer implements ContainerFd {
  readonly groups: VfioGroup[] = [];
  iommu: IommuBackend | null = null;

  constructor(
    readonly kernel: VfioKernel,
    private readonly host: SimHost,
  ) {}

  getApiVersion(): number {
    return U.VFIO_API_VERSION;
  }

  /** Before SET_IOMMU every registered driver answers; afterwards only the chosen one. */
  checkExtension(ext: number): number {
    if (this.iommu) return this.iommu.checkExtension(ext);
    const kind = this.host.spec.iommu.kind;
    if (['intel-vtd', 'amd-vi', 'arm-smmu-v3', 'arm-smmu-v2'].includes(kind)) {
      return type1CheckExtension(ext);
    }
    if (kind === 'spapr-tce') {
      if (ext === U.VFIO_EEH) return this.host.spec.eeh ? 1 : 0;
      return ext === U.VFIO_SPAPR_TCE_IOMMU || ext === U.VFIO_SPAPR_TCE_v2_IOMMU ? 1 : 0;
    }
    if (kind === 'fsl-pamu') return ext === U.VFIO_FSL_PAMU_IOMMU && !this.host.kernel.pamuWindowsRemoved ? 1 : 0;
    return 0;
  }

  get iommuType(): number {
    return this.iommu?.type ?? 0;
  }

  /** VFIO_SET_IOMMU: needs a group and no driver yet; the backend attaches every group. */
  setIommu(type: number): void {
    this.kernel.log.push(`SET_IOMMU(${iommuTypeName(type)})`);
    if (this.groups.length === 0)
      throw new VfioError('EINVAL', 'SET_IOMMU on a container with no group: call GROUP_SET_CONTAINER first');
    if (this.iommu)
      throw new VfioError('EINVAL', 'SET_IOMMU: the container already has an IOMMU driver (there is no unset)');
    if (
      this.checkExtension(type) <= 0 ||
      type === U.VFIO_EEH ||
      type === U.VFIO_UNMAP_ALL ||
      type === U.VFIO_UPDATE_VADDR ||
      type === U.VFIO_DMA_CC_IOMMU
    ) {
      const why =
        this.host.kernel.pamuWindowsRemoved && type === U.VFIO_FSL_PAMU_IOMMU
          ? ' (the windowed PAMU driver needs DOMAIN_ATTR_WINDOWS, removed in 5.13)'
          : '';
      throw new VfioError(
        'ENODEV',
        `SET_IOMMU: no IOMMU driver on ${this.host.spec.name} (${this.host.spec.iommu.kind}) supports type ` +
          `${iommuTypeName(type)}${why}`,
      );
    }
    const iommu = this.newBackend(type);
    for (const g of this.groups) iommu.attachGroup(g.group);
    this.iommu = iommu;
  }

  private newBackend(type: number): IommuBackend {
    const { host } = this;
    const { userMemory, memlockLimit } = this.kernel;
    if (type === U.VFIO_SPAPR_TCE_IOMMU || type === U.VFIO_SPAPR_TCE_v2_IOMMU)
      return new SpaprTceIommu(host, type === U.VFIO_SPAPR_TCE_v2_IOMMU, userMemory, memlockLimit);
    if (type === U.VFIO_FSL_PAMU_IOMMU) return new PamuIommu(host, userMemory);
    return new Type1Iommu(host, type === U.VFIO_TYPE1v2_IOMMU);
  }

  /** VFIO_IOMMU_GET_INFO on a type1 container (struct vfio_iommu_type1_info). */
  iommuGetInfo(): Type1Info {
    return this.typed('IOMMU_GET_INFO', Type1Iommu).info();
  }

  /** VFIO_IOMMU_GET_INFO on an sPAPR container (struct vfio_iommu_spapr_tce_info). */
  spaprTceGetInfo(): SpaprTceInfo {
    return this.typed('IOMMU_GET_INFO', SpaprTceIommu).info();
  }

  /** VFIO_IOMMU_ENABLE / DISABLE (sPAPR v1). */
  iommuEnable(): void {
    this.kernel.log.push('IOMMU_ENABLE');
    this.typed('IOMMU_ENABLE', SpaprTceIommu).enable();
  }

  iommuDisable(): void {
    this.kernel.log.push('IOMMU_DISABLE');
    this.typed('IOMMU_DISABLE', SpaprTceIommu).disable();
  }

  spaprRegisterMemory(vaddr: bigint, size: bigint): void {
    this.kernel.log.push(`SPAPR_REGISTER_MEMORY(vaddr=0x${vaddr.toString(16)}, size=0x${size.toString(16)})`);
    this.typed('SPAPR_REGISTER_MEMORY', SpaprTceIommu).registerMemory(vaddr, size);
  }

  spaprUnregisterMemory(vaddr: bigint, size: bigint): void {
    this.kernel.log.push(`SPAPR_UNREGISTER_MEMORY(vaddr=0x${vaddr.toString(16)}, size=0x${size.toString(16)})`);
    this.typed('SPAPR_UNREGISTER_MEMORY', SpaprTceIommu).unregisterMemory(vaddr, size);
  }

  /** VFIO_IOMMU_SPAPR_TCE_CREATE: returns start_addr. */
  spaprTceCreate(req: TceCreateRequest): bigint {
    this.kernel.log.push(
      `SPAPR_TCE_CREATE(page_shift=${req.pageShift}, window_size=0x${req.windowSize.toString(16)}, ` +
        `levels=${req.levels})`,
    );
    return this.typed('SPAPR_TCE_CREATE', SpaprTceIommu).createWindow(req);
  }

  spaprTceRemove(start: bigint): void {
    this.kernel.log.push(`SPAPR_TCE_REMOVE(start_addr=0x${start.toString(16)})`);
    this.typed('SPAPR_TCE_REMOVE', SpaprTceIommu).removeWindow(start);
  }

  /** VFIO_EEH_PE_OP: returns the state for GET_STATE, else 0. */
  eehPeOp(op: number): number {
    this.kernel.log.push(`EEH_PE_OP(${op})`);
    return this.typed('EEH_PE_OP', SpaprTceIommu).eehPeOp(op);
  }

  /** The PAMU backend, for its vendor ioctls (PAMU_SET_ATTR, MAP_MSI_BANK, ...). */
  pamu(): PamuIommu {
    return this.typed('PAMU ioctl', PamuIommu);
  }

  /** A backend-specific ioctl: ENOTTY unless the container's driver is of that kind. */
  private typed<T extends IommuBackend>(call: string, kind: abstract new (...args: never[]) => T): T {
    const b = this.backend(call);
    if (!(b instanceof kind))
      throw new VfioError('ENOTTY', `${call} is not an ioctl of the ${iommuTypeName(b.type)} IOMMU driver`);
    return b;
  }

  mapDma(req: MapDmaRequest): void {
    this.kernel.log.push(`MAP_DMA(iova=0x${req.iova.toString(16)}, size=0x${req.size.toString(16)})`);
    this.backend('MAP_DMA').map(req);
  }

  /** Returns the number of bytes unmapped. */
  unmapDma(req: UnmapDmaRequest): bigint {
    this.kernel.log.push(`UNMAP_DMA(iova=0x${req.iova.toString(16)}, size=0x${req.size.toString(16)})`);
    return this.backend('UNMAP_DMA').unmap(req);
  }

  private backend(call: string): IommuBackend {
    if (!this.iommu) throw new VfioError('EINVAL', `${call}: the container has no IOMMU driver yet (call SET_IOMMU)`);
    return this.iommu;
  }

  /** @internal group attach/detach bookkeeping */
  attach(g: VfioGroup): void {
    if (this.iommu) this.iommu.attachGroup(g.group);
    this.groups.push(g);
  }

  detach(g: VfioGroup): void {
    this.groups.splice(this.groups.indexOf(g), 1);
    if (this.iommu) this.iommu.detachGroup(g.group);
    if (this.groups.length === 0) this.iommu = null; // back to the empty state
  }
}

/** A group fd. */
export class VfioGroup implements GroupFd {
  container: VfioContainer | null = null;
  /** The open device fds. */
  readonly devices: VfioDeviceFile[] = [];
  /** The devices they name, each opened once however many fds it has. */
  private readonly openDevices = new Map<string, VfioDevice>();
  private closedFlag = false;

  constructor(
    private readonly kernel: VfioKernel,
    private readonly host: SimHost,
    readonly group: IommuGroup,
  ) {}

  get id(): number {
    return this.group.id;
  }

  /** VFIO_GROUP_GET_STATUS. */
  getStatus(): { flags: number } {
    if (this.container) return { flags: U.VFIO_GROUP_FLAGS_VIABLE | U.VFIO_GROUP_FLAGS_CONTAINER_SET };
    return { flags: this.host.viability(this.group).viable ? U.VFIO_GROUP_FLAGS_VIABLE : 0 };
  }

  /** VFIO_GROUP_SET_CONTAINER: from 5.19 claiming DMA ownership fails (EPERM) while a host driver holds a device. */
  setContainer(fd: ContainerFd): void {
    this.kernel.log.push(`GROUP_SET_CONTAINER(group ${this.id})`);
    if (!(fd instanceof VfioContainer) || fd.kernel !== this.kernel)
      throw new VfioError('EBADF', `GROUP_SET_CONTAINER(group ${this.id}): the fd is not a container of this kernel`);
    const c = fd;
    if (this.container) throw new VfioError('EINVAL', `group ${this.id} already has a container`);
    const v = this.host.viability(this.group);
    if (this.host.kernel.dmaOwnership && !v.viable) throw new VfioError('EPERM', v.advice);
    c.attach(this);
    this.container = c;
  }

  /** VFIO_GROUP_UNSET_CONTAINER: refused while device fds are open. */
  unsetContainer(): void {
    if (!this.container) throw new VfioError('EINVAL', `group ${this.id} has no container`);
    if (this.devices.length)
      throw new VfioError('EBUSY', `group ${this.id}: close its ${this.devices.length} open device fd(s) first`);
    this.container.detach(this);
    this.container = null;
  }

  /** VFIO_GROUP_GET_DEVICE_FD("0000:01:00.0"). */
  getDeviceFd(name: string): VfioDeviceFile {
    this.kernel.log.push(`GROUP_GET_DEVICE_FD(${name})`);
    const f = this.group.functions.find((x) => x.spec.address === name.toLowerCase().split(' ')[0]);
    if (!f || !isVfioDriver(f.spec.driver))
      throw new VfioError('ENODEV', `group ${this.id} has no device "${name}" bound to vfio-pci`);
    if (!this.container)
      throw new VfioError('EINVAL', `group ${this.id} has no container: call GROUP_SET_CONTAINER, then SET_IOMMU`);
    if (!this.container.iommu)
      throw new VfioError('EINVAL', `group ${this.id}: the container has no IOMMU driver yet (call SET_IOMMU first)`);
    const v = this.host.viability(this.group);
    if (!v.viable)
      throw new VfioError(
        'EINVAL',
        `${v.advice} (verify all devices in group ${this.id} are bound to vfio-pci or pci-stub and not already in use)`,
      );
    // group.c:vfio_df_open: the first fd opens the device, later ones share it (open_count).
    const address = f.spec.address;
    let dev = this.openDevices.get(address);
    if (!dev) {
      dev = new VfioDevice(this.host, f, this.container);
      this.openDevices.set(address, dev);
    }
    const device = dev;
    const file = new VfioDeviceFile(device, (closed) => {
      this.devices.splice(this.devices.indexOf(closed), 1);
      if (this.devices.some((d) => d.device === device)) return;
      this.openDevices.delete(address); // vfio_df_device_last_close
      device.close();
    });
    this.devices.push(file);
    return file;
  }

  /** close(): detaches from the container; only possible once every device fd is closed. */
  close(): void {
    if (this.closedFlag) return;
    if (this.devices.length) throw new VfioError('EBUSY', `group ${this.id}: device fds still hold the group open`);
    if (this.container) this.unsetContainer();
    this.closedFlag = true;
    this.kernel.closed(this);
  }
}

export function iommuTypeName(type: number): string {
  const names: Record<number, string> = {
    1: 'TYPE1',
    2: 'SPAPR_TCE',
    3: 'TYPE1v2',
    7: 'SPAPR_TCE_v2',
    8: 'NOIOMMU',
    [U.VFIO_FSL_PAMU_IOMMU]: 'FSL_PAMU',
  };
  return names[type] ?? String(type);
}
