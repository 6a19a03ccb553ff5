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
  /** The bus address the host kernel programs in a vector to reach the physical doorbell (null: unreachable). */
  msiAddress(doorbell: bigint): bigint | null;
}

/** "0x1000" for messages. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
