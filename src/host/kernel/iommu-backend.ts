import type { IommuGroup } from '../iommu-groups.ts';
import type { MapDmaRequest, UnmapDmaRequest } from '../../common/vfio-uapi.ts';

/**
 * What a container needs of its IOMMU driver (vfio_iommu_driver_ops): attach and detach groups,
 * answer CHECK_EXTENSION, MAP/UNMAP, and, for the device side, translate DMA and place MSI
 * doorbells. Type1, sPAPR TCE and FSL PAMU implement it; their own ioctls live on each class.
 */
export interface IommuBackend {
  /** The SET_IOMMU type this driver was chosen with. */
  readonly type: number;
  attachGroup(group: IommuGroup): void;
  detachGroup(group: IommuGroup): void;
  checkExtension(ext: number): number;
  map(req: MapDmaRequest): void;
  /** Returns the bytes unmapped. */
  unmap(req: UnmapDmaRequest): bigint;
  /** What a device's DMA to `iova` reaches: the process address, or null (an IOMMU fault). */
  translate(iova: bigint, isWrite: boolean): bigint | null;
  /**
   * The device DMA path's translate, in numbers and allocating nothing, for `iova` below 2^53:
   * RUN_OK with `run` set to the process address and how many bytes from `iova` translate
   * contiguously with the same rights (to the end of the mapping, TCE or subwindow), RUN_FAULT
   * where `translate` returns null, or RUN_BIGINT where the answer is not exact as a number (a
   * process address at or above 2^53): ask `translate`.
   */
  translateRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult;
  /** The bus address the host kernel programs in a vector to reach the physical doorbell (null: unreachable). */
  msiAddress(doorbell: bigint): bigint | null;
}

/** translateRun's out-parameter: one per caller, reused, so the DMA path allocates nothing. */
export interface DmaRun {
  vaddr: number;
  length: number;
}

export const RUN_FAULT = 0;
export const RUN_OK = 1;
export const RUN_BIGINT = 2;
export type TranslateResult = typeof RUN_FAULT | typeof RUN_OK | typeof RUN_BIGINT;

/** "0x1000" for messages. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
