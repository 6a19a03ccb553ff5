import { VfioError } from '../errors.ts';
import type { SimHost } from '../sim-host.ts';
import { isVfioDriver } from '../sim-host.ts';
import type { IommuGroup } from '../iommu-groups.ts';
import { Type1Iommu, type MapDmaRequest, type UnmapDmaRequest, type Type1Info } from './type1.ts';
import { VfioDevice } from './device.ts';
import * as U from './uapi.ts';
import { UserMemory } from '../user-memory.ts';

/** Per-group kernel state: one open at a time, its container, its open device fds. */
interface GroupState {
  group: IommuGroup;
  opened: VfioGroup | null;
}

/**
 * The host kernel's VFIO, as an object API with the kernel's rules and errno-style errors
 * (drivers/vfio/group.c, container.c; vfio_iommu_type1.c). Opening /dev/vfio/vfio gives a
 * container; /dev/vfio/<id> a group.
 */
export class VfioKernel {
  private readonly states = new Map<number, GroupState>();
  /** Every call made, for reports: "SET_IOMMU(TYPE1v2)" and the like. */
  readonly log: string[] = [];
  /** The address space of the process using VFIO: where MAP_DMA's vaddrs point. */
  readonly userMemory = new UserMemory();

  constructor(readonly host: SimHost) {
    for (const g of host.groups) this.states.set(g.id, { group: g, opened: null });
  }

  /** open("/dev/vfio/vfio"). */
  openContainer(): VfioContainer {
    return new VfioContainer(this);
  }

  /** open("/dev/vfio/N"): only groups with a device on a vfio driver exist; a second open is EBUSY. */
  openGroup(id: number): VfioGroup {
    const st = this.states.get(id);
    if (!st || !st.group.functions.some((f) => isVfioDriver(f.spec.driver))) {
      throw new VfioError('ENOENT', `/dev/vfio/${id} does not exist: no device of IOMMU group ${id} is bound to vfio-pci`);
    }
    if (st.opened) throw new VfioError('EBUSY', `/dev/vfio/${id} is already open (a group can be opened once); close the other user first`);
    st.opened = new VfioGroup(this, st.group);
    return st.opened;
  }

  /** The group of a PCI address, as sysfs iommu_group tells. */
  groupOf(address: string): number {
    const f = this.host.function(address);
    if (!f) throw new VfioError('ENODEV', `no PCI device ${address} on host ${this.host.spec.name}`);
    return f.group!.id;
  }

  /** @internal */
  closed(group: VfioGroup): void {
    this.states.get(group.id)!.opened = null;
  }
}

/** A container fd: IOMMU backend selection and DMA mapping. */
export class VfioContainer {
  readonly groups: VfioGroup[] = [];
  iommu: Type1Iommu | null = null;
  iommuType = 0;

  constructor(readonly kernel: VfioKernel) {}

  getApiVersion(): number {
    return U.VFIO_API_VERSION;
  }

  /** Before SET_IOMMU every registered driver answers; afterwards only the chosen one. */
  checkExtension(ext: number): number {
    if (this.iommu) return this.iommu.checkExtension(ext);
    const kind = this.kernel.host.spec.iommu.kind;
    if (['intel-vtd', 'amd-vi', 'arm-smmu-v3', 'arm-smmu-v2'].includes(kind)) {
      return [U.VFIO_TYPE1_IOMMU, U.VFIO_TYPE1v2_IOMMU, U.VFIO_UNMAP_ALL, U.VFIO_UPDATE_VADDR, U.VFIO_DMA_CC_IOMMU].includes(ext) ? 1 : 0;
    }
    if (kind === 'spapr-tce') {
      if (ext === U.VFIO_EEH) return this.kernel.host.spec.eeh ? 1 : 0;
      return ext === U.VFIO_SPAPR_TCE_IOMMU || ext === U.VFIO_SPAPR_TCE_v2_IOMMU ? 1 : 0;
    }
    if (kind === 'fsl-pamu') return ext === U.VFIO_FSL_PAMU_IOMMU ? 1 : 0;
    return 0;
  }

  /** VFIO_SET_IOMMU: needs a group and no driver yet; the backend attaches every group. */
  setIommu(type: number): void {
    this.kernel.log.push(`SET_IOMMU(${iommuTypeName(type)})`);
    if (this.groups.length === 0) throw new VfioError('EINVAL', 'SET_IOMMU on a container with no group: call GROUP_SET_CONTAINER first');
    if (this.iommu) throw new VfioError('EINVAL', 'SET_IOMMU: the container already has an IOMMU driver (there is no unset)');
    if (this.checkExtension(type) <= 0 || (type !== U.VFIO_TYPE1_IOMMU && type !== U.VFIO_TYPE1v2_IOMMU)) {
      throw new VfioError('ENODEV', `SET_IOMMU: no IOMMU driver on ${this.kernel.host.spec.name} (${this.kernel.host.spec.iommu.kind}) supports type ${iommuTypeName(type)}`);
    }
    const iommu = new Type1Iommu(this.kernel.host, type === U.VFIO_TYPE1v2_IOMMU);
    for (const g of this.groups) iommu.attachGroup(g.group);
    this.iommu = iommu;
    this.iommuType = type;
  }

  iommuGetInfo(): Type1Info {
    return this.backend('IOMMU_GET_INFO').info();
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

  private backend(call: string): Type1Iommu {
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
export class VfioGroup {
  container: VfioContainer | null = null;
  readonly devices: VfioDevice[] = [];
  private closedFlag = false;

  constructor(
    private readonly kernel: VfioKernel,
    readonly group: IommuGroup,
  ) {}

  get id(): number {
    return this.group.id;
  }

  /** VFIO_GROUP_GET_STATUS. */
  getStatus(): { flags: number } {
    if (this.container) return { flags: U.VFIO_GROUP_FLAGS_VIABLE | U.VFIO_GROUP_FLAGS_CONTAINER_SET };
    return { flags: this.kernel.host.viability(this.group).viable ? U.VFIO_GROUP_FLAGS_VIABLE : 0 };
  }

  /** VFIO_GROUP_SET_CONTAINER: from 5.19 claiming DMA ownership fails (EPERM) while a host driver holds a device. */
  setContainer(c: VfioContainer): void {
    this.kernel.log.push(`GROUP_SET_CONTAINER(group ${this.id})`);
    if (this.container) throw new VfioError('EINVAL', `group ${this.id} already has a container`);
    const v = this.kernel.host.viability(this.group);
    if (this.kernel.host.kernel.dmaOwnership && !v.viable) throw new VfioError('EPERM', v.advice);
    c.attach(this);
    this.container = c;
  }

  /** VFIO_GROUP_UNSET_CONTAINER: refused while device fds are open. */
  unsetContainer(): void {
    if (!this.container) throw new VfioError('EINVAL', `group ${this.id} has no container`);
    if (this.devices.length) throw new VfioError('EBUSY', `group ${this.id}: close its ${this.devices.length} open device fd(s) first`);
    this.container.detach(this);
    this.container = null;
  }

  /** VFIO_GROUP_GET_DEVICE_FD("0000:01:00.0"). */
  getDeviceFd(name: string): VfioDevice {
    this.kernel.log.push(`GROUP_GET_DEVICE_FD(${name})`);
    const f = this.group.functions.find((x) => x.spec.address === name.toLowerCase().split(' ')[0]);
    if (!f || !isVfioDriver(f.spec.driver)) throw new VfioError('ENODEV', `group ${this.id} has no device "${name}" bound to vfio-pci`);
    if (!this.container) throw new VfioError('EINVAL', `group ${this.id} has no container: call GROUP_SET_CONTAINER, then SET_IOMMU`);
    if (!this.container.iommu) throw new VfioError('EINVAL', `group ${this.id}: the container has no IOMMU driver yet (call SET_IOMMU first)`);
    const v = this.kernel.host.viability(this.group);
    if (!v.viable) throw new VfioError('EINVAL', `${v.advice} (verify all devices in group ${this.id} are bound to vfio-pci or pci-stub and not already in use)`);
    const dev = new VfioDevice(this.kernel.host, f, this.container, () => this.devices.splice(this.devices.indexOf(dev), 1));
    this.devices.push(dev);
    return dev;
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
  const names: Record<number, string> = { 1: 'TYPE1', 2: 'SPAPR_TCE', 3: 'TYPE1v2', 7: 'SPAPR_TCE_v2', 8: 'NOIOMMU', [U.VFIO_FSL_PAMU_IOMMU]: 'FSL_PAMU' };
  return names[type] ?? String(type);
}
