// include/uapi/linux/vfio.h: the numbers and structures both sides of the VFIO API use (the VMM in
// src/vfio and src/machine, the simulated kernel in src/host/kernel).

import type { EventFd } from './eventfd.ts';

export const VFIO_API_VERSION = 0;

/** Extensions; also the IOMMU types for SET_IOMMU. */
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;
/** The Freescale vendor tree's windowed backend (vfio_iommu_fsl_pamu, never upstream). */
export const VFIO_FSL_PAMU_IOMMU = 0x1000;

export const VFIO_GROUP_FLAGS_VIABLE = 1;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 2;

export const VFIO_DEVICE_FLAGS_RESET = 1;
export const VFIO_DEVICE_FLAGS_PCI = 2;

export const VFIO_REGION_INFO_FLAG_READ = 1;
export const VFIO_REGION_INFO_FLAG_WRITE = 2;
export const VFIO_REGION_INFO_FLAG_MMAP = 4;
export const VFIO_REGION_INFO_FLAG_CAPS = 8;

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;

/** vfio-pci region indexes (fixed ABI). */
export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
export const VFIO_PCI_NUM_REGIONS = 9;
/** Region file offsets: index << 40 (VFIO_PCI_OFFSET_SHIFT). */
export const VFIO_PCI_OFFSET_SHIFT = 40n;

/** vfio-pci IRQ indexes. */
export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

export const VFIO_IRQ_INFO_EVENTFD = 1;
export const VFIO_IRQ_INFO_MASKABLE = 2;
export const VFIO_IRQ_INFO_AUTOMASKED = 4;
export const VFIO_IRQ_INFO_NORESIZE = 8;

export const VFIO_IRQ_SET_DATA_NONE = 1;
export const VFIO_IRQ_SET_DATA_BOOL = 2;
export const VFIO_IRQ_SET_DATA_EVENTFD = 4;
export const VFIO_IRQ_SET_ACTION_MASK = 8;
export const VFIO_IRQ_SET_ACTION_UNMASK = 0x10;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 0x20;

export const VFIO_DMA_MAP_FLAG_READ = 1;
export const VFIO_DMA_MAP_FLAG_WRITE = 2;
export const VFIO_DMA_MAP_FLAG_VADDR = 4;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1;
export const VFIO_DMA_UNMAP_FLAG_ALL = 2;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 4;

/** A capability in an INFO reply's chain. */
export type RegionCapability =
  | { id: typeof VFIO_REGION_INFO_CAP_SPARSE_MMAP; areas: { offset: bigint; size: bigint }[] }
  | { id: typeof VFIO_REGION_INFO_CAP_TYPE; type: number; subtype: number }
  | { id: typeof VFIO_REGION_INFO_CAP_MSIX_MAPPABLE };

/** VFIO_DEVICE_GET_REGION_INFO's reply. */
export interface RegionInfo {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
  caps: RegionCapability[];
}

/** VFIO_DEVICE_GET_IRQ_INFO's reply. */
export interface IrqInfo {
  index: number;
  flags: number;
  count: number;
}

/** sPAPR TCE (struct vfio_iommu_spapr_tce_info flags). */
export const VFIO_IOMMU_SPAPR_INFO_DDW = 1;

/** VFIO_EEH_PE_OP operations and GET_STATE results. */
export const VFIO_EEH_PE_DISABLE = 0;
export const VFIO_EEH_PE_ENABLE = 1;
export const VFIO_EEH_PE_UNFREEZE_IO = 2;
export const VFIO_EEH_PE_UNFREEZE_DMA = 3;
export const VFIO_EEH_PE_GET_STATE = 4;
export const VFIO_EEH_PE_STATE_NORMAL = 0;
export const VFIO_EEH_PE_STATE_RESET = 1;
export const VFIO_EEH_PE_STATE_STOPPED = 2;
export const VFIO_EEH_PE_STATE_STOPPED_DMA = 4;
export const VFIO_EEH_PE_STATE_UNAVAIL = 5;
export const VFIO_EEH_PE_RESET_DEACTIVATE = 5;
export const VFIO_EEH_PE_RESET_HOT = 6;
export const VFIO_EEH_PE_RESET_FUNDAMENTAL = 7;
export const VFIO_EEH_PE_CONFIGURE = 8;
export const VFIO_EEH_PE_INJECT_ERR = 9;

// The structures of the ioctls, as TypeScript objects.

/** struct vfio_iommu_type1_dma_map. */
export interface MapDmaRequest {
  iova: bigint;
  size: bigint;
  vaddr: bigint;
  flags: number;
}

/** struct vfio_iommu_type1_dma_unmap. */
export interface UnmapDmaRequest {
  iova: bigint;
  size: bigint;
  flags: number;
}

/** VFIO_IOMMU_GET_INFO for type1: page sizes and the capability chain. */
export interface Type1Info {
  flags: number;
  iovaPgsizes: bigint;
  iovaRanges: { start: bigint; end: bigint }[];
  dmaAvail: number;
}

/** VFIO_IOMMU_GET_INFO for sPAPR (struct vfio_iommu_spapr_tce_info). */
export interface SpaprTceInfo {
  flags: number;
  dma32WindowStart: bigint;
  dma32WindowSize: bigint;
  ddw: { pgsizes: bigint; maxDynamicWindowsSupported: number; levels: number };
}

/** VFIO_IOMMU_SPAPR_TCE_CREATE's input. */
export interface TceCreateRequest {
  pageShift: number;
  windowSize: bigint;
  levels: number;
}

/** What a user mmap of a BAR range gives: direct access to the hardware (a RAM-device backing). */
export interface DeviceMapping {
  read(offset: number, size: number): number;
  write(offset: number, value: number, size: number): void;
  readonly size: number;
}

/** struct vfio_irq_set. */
export interface SetIrqsRequest {
  index: number;
  start: number;
  count: number;
  flags: number;
  /** Eventfds (null = -1, unbind) for DATA_EVENTFD, booleans for DATA_BOOL. */
  data?: (EventFd | null)[] | boolean[];
}
