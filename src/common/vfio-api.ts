// The VFIO API as a VMM process sees it: the seam between the VMM (src/vfio, src/machine) and the
// host kernel (src/host/kernel). It mirrors what QEMU uses and nothing more: ioctls and
// read/write/mmap on the container, group and device fds (include/uapi/linux/vfio.h), eventfds,
// and what any process can ask the system (sysconf, sysfs, uname). The simulated kernel implements
// it; the VMM never sees a host object, so a fast path exists only where this API grants an mmap.

import type { RamBlock } from './ram-block.ts';
import type {
  DeviceMapping,
  IrqInfo,
  MapDmaRequest,
  RegionInfo,
  SetIrqsRequest,
  SpaprTceInfo,
  TceCreateRequest,
  Type1Info,
  UnmapDmaRequest,
} from './vfio-uapi.ts';

/** The host kernel as the VMM process reaches it. Errors are VfioError with the kernel's errno. */
export interface VfioApi {
  /** open("/dev/vfio/vfio"). */
  openContainer(): ContainerFd;
  /** open("/dev/vfio/N"). */
  openGroup(id: number): GroupFd;
  /** readlink /sys/bus/pci/devices/ADDR/iommu_group. */
  groupOf(address: string): number;
  /** What sysfs tells about a group's devices and their drivers, as advice when it is not viable. */
  viabilityAdvice(id: number): string;
  /** sysconf(_SC_PAGESIZE): the host's base page size in bytes. */
  pageSize(): number;
  /** The host IOMMU's kind, as its driver registers it under /sys/class/iommu ("intel-vtd", "spapr-tce", ...). */
  iommuKind(): string;
  /** uname(2): the host's name (-n) and machine architecture (-m). */
  uname(): { nodename: string; machine: string };
  /** mmap of a RAM block into the VMM process at `vaddr`: what MAP_DMA's and REGISTER_MEMORY's vaddrs point to. */
  mapProcessMemory(vaddr: bigint, block: RamBlock): void;
  /** Every VFIO call made so far, as strace would show it ("SET_IOMMU(TYPE1v2)"); for reports. */
  readonly log: readonly string[];
}

/** A container fd: IOMMU driver selection and DMA mapping (drivers/vfio/container.c and the IOMMU drivers). */
export interface ContainerFd {
  /** VFIO_GET_API_VERSION. */
  getApiVersion(): number;
  /** VFIO_CHECK_EXTENSION: 1 when supported. */
  checkExtension(ext: number): number;
  /** VFIO_SET_IOMMU. */
  setIommu(type: number): void;
  /** VFIO_IOMMU_GET_INFO on a type1 container. */
  iommuGetInfo(): Type1Info;
  /** VFIO_IOMMU_GET_INFO on an sPAPR container. */
  spaprTceGetInfo(): SpaprTceInfo;
  /** VFIO_IOMMU_ENABLE (sPAPR v1). */
  iommuEnable(): void;
  /** VFIO_IOMMU_DISABLE (sPAPR v1). */
  iommuDisable(): void;
  /** VFIO_IOMMU_SPAPR_REGISTER_MEMORY. */
  spaprRegisterMemory(vaddr: bigint, size: bigint): void;
  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY. */
  spaprUnregisterMemory(vaddr: bigint, size: bigint): void;
  /** VFIO_IOMMU_SPAPR_TCE_CREATE: returns start_addr. */
  spaprTceCreate(req: TceCreateRequest): bigint;
  /** VFIO_IOMMU_SPAPR_TCE_REMOVE. */
  spaprTceRemove(start: bigint): void;
  /** VFIO_EEH_PE_OP: the state for GET_STATE, else 0. */
  eehPeOp(op: number): number;
  /** The vendor PAMU driver's ioctls (ENOTTY on any other IOMMU driver). */
  pamu(): PamuIoctls;
  /** VFIO_IOMMU_MAP_DMA. */
  mapDma(req: MapDmaRequest): void;
  /** VFIO_IOMMU_UNMAP_DMA: returns the number of bytes unmapped. */
  unmapDma(req: UnmapDmaRequest): bigint;
}

/** The Freescale vendor driver's ioctls (vfio_iommu_fsl_pamu.c: PAMU_GET_ATTR/SET_ATTR, MSI banks). */
export interface PamuIoctls {
  /** VFIO_IOMMU_PAMU_GET_ATTR(GEOMETRY): the aperture, inclusive. */
  getGeometry(): { start: bigint; end: bigint };
  /** VFIO_IOMMU_PAMU_SET_ATTR(GEOMETRY). */
  setGeometry(start: bigint, size: bigint): void;
  /** VFIO_IOMMU_PAMU_SET_ATTR(WINDOWS). */
  setWindows(count: number): void;
  /** VFIO_IOMMU_PAMU_SET_ATTR(PAMU_STASH). */
  setStash(cpu: number, cache: number): void;
  /** VFIO_IOMMU_PAMU_GET_MSI_BANK_COUNT. */
  getMsiBankCount(): number;
  /** VFIO_IOMMU_PAMU_MAP_MSI_BANK. */
  mapMsiBank(bank: number, iova: bigint): void;
  /** VFIO_IOMMU_PAMU_UNMAP_MSI_BANK. */
  unmapMsiBank(bank: number, iova: bigint): void;
}

/** A group fd (drivers/vfio/group.c). */
export interface GroupFd {
  /** The N of /dev/vfio/N. */
  readonly id: number;
  /** VFIO_GROUP_GET_STATUS. */
  getStatus(): { flags: number };
  /** VFIO_GROUP_SET_CONTAINER. */
  setContainer(container: ContainerFd): void;
  /** VFIO_GROUP_UNSET_CONTAINER. */
  unsetContainer(): void;
  /** VFIO_GROUP_GET_DEVICE_FD("0000:01:00.0"). */
  getDeviceFd(name: string): DeviceFd;
  /** close(). */
  close(): void;
}

/** A vfio-pci device fd (drivers/vfio/pci/vfio_pci_core.c, vfio_pci_rdwr.c, vfio_pci_intrs.c). */
export interface DeviceFd {
  /** The device's name, its PCI address. */
  readonly name: string;
  /** VFIO_DEVICE_GET_INFO. */
  getInfo(): { flags: number; numRegions: number; numIrqs: number };
  /** VFIO_DEVICE_GET_REGION_INFO. */
  getRegionInfo(index: number): RegionInfo;
  /** VFIO_DEVICE_GET_IRQ_INFO. */
  getIrqInfo(index: number): IrqInfo;
  /** VFIO_DEVICE_SET_IRQS. */
  setIrqs(req: SetIrqsRequest): void;
  /** pread on a region. */
  read(index: number, offset: number, size: number): number;
  /** pwrite on a region. */
  write(index: number, offset: number, value: number, size: number): void;
  /** mmap() of a BAR range. */
  mmap(index: number, offset: bigint, size: bigint): DeviceMapping;
  /** VFIO_DEVICE_RESET. */
  reset(): void;
  /** close(). */
  close(): void;
}
