import { VfioError } from '../errors.ts';
import type { SimHost } from '../sim-host.ts';
import type { IommuGroup } from '../iommu-groups.ts';
import type { UserMemory } from '../user-memory.ts';
import {
  hex,
  RUN_BIGINT,
  RUN_FAULT,
  RUN_OK,
  type DmaRun,
  type IommuBackend,
  type TranslateResult,
} from './iommu-backend.ts';
import { belowNumberLimit } from '../range-index.ts';
import * as U from '../../common/vfio-uapi.ts';
import type { PamuIoctls } from '../../common/vfio-api.ts';
import type { MapDmaRequest, UnmapDmaRequest } from '../../common/vfio-uapi.ts';

/** What a subwindow maps: user memory for DMA, or an MPIC MSI bank's MSIIR page. */
type Subwindow =
  | {
      kind: 'dma';
      vaddr: bigint;
      /** vaddr as a number, or -1 where the block does not lie below 2^53 (translateRun defers to translate). */
      vaddrNumber: number;
      size: bigint;
      read: boolean;
      write: boolean;
    }
  | { kind: 'msi'; bank: number };

/** The MSIIR page of each MPIC MSI bank is this far from the previous one (P4080/T4240 CCSR map). */
const MSI_BANK_STRIDE = 0x1000n;

/**
 * The Freescale vendor tree's vfio_iommu_fsl_pamu (never upstream; drivers/vfio/vfio_iommu_fsl_pamu.c): a
 * windowed IOMMU with no page tables. One aperture (power of two, naturally aligned) is cut into
 * N subwindows; each maps one contiguous block, or an MSI bank placed there by MAP_MSI_BANK.
 * Geometry and window count can change only while nothing is mapped (the domain is disabled).
 */
export class PamuIommu implements IommuBackend, PamuIoctls {
  readonly type = U.VFIO_FSL_PAMU_IOMMU;
  readonly groups: IommuGroup[] = [];
  geometry: { start: bigint; end: bigint };
  windowCount = 1;
  stash: { cpu: number; cache: number } | null = null;
  readonly subwindows = new Map<number, Subwindow>();
  /** The aperture and subwindow size as numbers for translateRun (start -1: not below 2^53); null after a change. */
  private numbers: { start: number; end: number; subwindow: number } | null = null;

  constructor(
    private readonly host: SimHost,
    private readonly memory: UserMemory,
  ) {
    this.geometry = { start: 0n, end: host.spec.iommu.pamu!.apertureSize - 1n };
  }

  /** The domain is enabled after the first map and disabled when the last one goes. */
  get domainEnabled(): boolean {
    return this.subwindows.size > 0;
  }

  get subwindowSize(): bigint {
    return (this.geometry.end - this.geometry.start + 1n) / BigInt(this.windowCount);
  }

  attachGroup(group: IommuGroup): void {
    if (this.groups.includes(group))
      throw new VfioError('EBUSY', `group ${group.id} is already attached to this container`);
    this.groups.push(group);
  }

  detachGroup(group: IommuGroup): void {
    this.groups.splice(this.groups.indexOf(group), 1);
    if (!this.groups.length) this.subwindows.clear();
  }

  checkExtension(ext: number): number {
    return ext === U.VFIO_FSL_PAMU_IOMMU ? 1 : 0;
  }

  /** VFIO_IOMMU_PAMU_GET_ATTR(GEOMETRY): the aperture (the whole hardware aperture until SET_ATTR narrows it). */
  getGeometry(): { start: bigint; end: bigint } {
    return { ...this.geometry };
  }

  /** VFIO_IOMMU_PAMU_SET_ATTR(GEOMETRY): a power-of-two aperture of at least 4 KiB, naturally aligned. */
  setGeometry(start: bigint, size: bigint): void {
    if (this.domainEnabled)
      throw new VfioError('EBUSY', 'PAMU_SET_ATTR(GEOMETRY): the domain is enabled; unmap everything first');
    const max = this.host.spec.iommu.pamu!.apertureSize;
    if (size < 0x1000n || size & (size - 1n) || start & (size - 1n) || start + size > max) {
      throw new VfioError(
        'EINVAL',
        `PAMU_SET_ATTR(GEOMETRY): ${hex(start)}+${hex(size)} must be a power of two of at least 0x1000, ` +
          `aligned to its size, inside 0-${hex(max - 1n)}`,
      );
    }
    this.geometry = { start, end: start + size - 1n };
    this.numbers = null;
  }

  /** VFIO_IOMMU_PAMU_SET_ATTR(WINDOWS): a power of two up to the hardware's subwindow count. */
  setWindows(count: number): void {
    if (this.host.kernel.pamuWindowsRemoved)
      throw new VfioError(
        'EINVAL',
        `PAMU_SET_ATTR(WINDOWS): kernel ${this.host.spec.kernel} removed DOMAIN_ATTR_WINDOWS (5.13); PAMU has ` +
          'one fixed window',
      );
    if (this.domainEnabled)
      throw new VfioError('EBUSY', 'PAMU_SET_ATTR(WINDOWS): the domain is enabled; unmap everything first');
    const max = this.host.spec.iommu.pamu!.maxSubwindows;
    if (count < 1 || count & (count - 1) || count > max)
      throw new VfioError('EINVAL', `PAMU_SET_ATTR(WINDOWS): ${count} must be a power of two from 1 to ${max}`);
    if ((this.subwindowSize / BigInt(count)) * BigInt(this.windowCount) < 0x1000n)
      throw new VfioError(
        'EINVAL',
        `PAMU_SET_ATTR(WINDOWS): ${count} subwindows of the aperture would be smaller than 4 KiB`,
      );
    this.windowCount = count;
    this.numbers = null;
  }

  /** VFIO_IOMMU_PAMU_SET_ATTR(PAMU_STASH): cache stashing target. */
  setStash(cpu: number, cache: number): void {
    this.stash = { cpu, cache };
  }

  getMsiBankCount(): number {
    return this.host.spec.msi.banks;
  }

  private subwindowOf(call: string, iova: bigint): number {
    if (iova < this.geometry.start || iova > this.geometry.end)
      throw new VfioError(
        'EINVAL',
        `${call}: ${hex(iova)} is outside the aperture ${hex(this.geometry.start)}-${hex(this.geometry.end)}`,
      );
    return Number((iova - this.geometry.start) / this.subwindowSize);
  }

  /** MAP_DMA: whole subwindows, each backed by one contiguous user block. */
  map(req: MapDmaRequest): void {
    const { iova, size, vaddr, flags } = req;
    if (flags & ~(U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE) || !(flags & 3))
      throw new VfioError('EINVAL', `MAP_DMA: PAMU takes READ and/or WRITE only (flags ${hex(flags)})`);
    const sw = this.subwindowSize;
    if (size === 0n || (iova - this.geometry.start) % sw !== 0n || size % sw !== 0n) {
      throw new VfioError(
        'EINVAL',
        `MAP_DMA: iova ${hex(iova)} and size ${hex(size)} must be whole ${hex(sw)} subwindows (aperture ` +
          `${hex(this.geometry.end - this.geometry.start + 1n)} / ${this.windowCount})`,
      );
    }
    const first = this.subwindowOf('MAP_DMA', iova);
    const last = this.subwindowOf('MAP_DMA', iova + size - 1n);
    for (let i = first; i <= last; i++)
      if (this.subwindows.has(i))
        throw new VfioError('EBUSY', `MAP_DMA: subwindow ${i} is already valid; unmap it first`);
    for (let i = first; i <= last; i++) {
      const va = vaddr + BigInt(i - first) * sw;
      if (this.memory.pageSizeAt(va) === null || this.memory.pageSizeAt(va + sw - 1n) === null)
        throw new VfioError('EFAULT', `MAP_DMA: ${hex(va)}+${hex(sw)} is not mapped in the process`);
    }
    for (let i = first; i <= last; i++) {
      const va = vaddr + BigInt(i - first) * sw;
      this.subwindows.set(i, {
        kind: 'dma',
        vaddr: va,
        vaddrNumber: belowNumberLimit(va, sw) ? Number(va) : -1,
        size: sw,
        read: (flags & 1) !== 0,
        write: (flags & 2) !== 0,
      });
    }
  }

  unmap(req: UnmapDmaRequest): bigint {
    const { iova, size } = req;
    const sw = this.subwindowSize;
    if ((iova - this.geometry.start) % sw !== 0n || size % sw !== 0n || size === 0n)
      throw new VfioError(
        'EINVAL',
        `UNMAP_DMA: iova ${hex(iova)} and size ${hex(size)} must be whole ${hex(sw)} subwindows`,
      );
    let done = 0n;
    for (let i = this.subwindowOf('UNMAP_DMA', iova); i <= this.subwindowOf('UNMAP_DMA', iova + size - 1n); i++) {
      if (this.subwindows.get(i)?.kind === 'dma') {
        this.subwindows.delete(i);
        done += sw;
      }
    }
    return done;
  }

  /** VFIO_IOMMU_PAMU_MAP_MSI_BANK {bank, iova}: the bank's MSIIR page goes in the subwindow holding iova. */
  mapMsiBank(bank: number, iova: bigint): void {
    if (bank < 0 || bank >= this.host.spec.msi.banks)
      throw new VfioError(
        'EINVAL',
        `PAMU_MAP_MSI_BANK: bank ${bank} does not exist (the host has ${this.host.spec.msi.banks})`,
      );
    const i = this.subwindowOf('PAMU_MAP_MSI_BANK', iova);
    if (this.subwindows.has(i)) throw new VfioError('EBUSY', `PAMU_MAP_MSI_BANK: subwindow ${i} is already valid`);
    this.subwindows.set(i, { kind: 'msi', bank });
  }

  unmapMsiBank(bank: number, iova: bigint): void {
    const i = this.subwindowOf('PAMU_UNMAP_MSI_BANK', iova);
    const w = this.subwindows.get(i);
    if (w?.kind !== 'msi' || w.bank !== bank)
      throw new VfioError('EINVAL', `PAMU_UNMAP_MSI_BANK: bank ${bank} is not mapped at ${hex(iova)}`);
    this.subwindows.delete(i);
  }

  /** The subwindow index that holds MSI bank `bank`, if mapped. */
  msiBankSubwindow(bank: number): number | null {
    for (const [i, w] of this.subwindows) if (w.kind === 'msi' && w.bank === bank) return i;
    return null;
  }

  translate(iova: bigint, isWrite: boolean): bigint | null {
    if (iova < this.geometry.start || iova > this.geometry.end) return null;
    const sw = this.subwindowSize;
    const w = this.subwindows.get(Number((iova - this.geometry.start) / sw));
    if (!w || w.kind !== 'dma' || (isWrite ? !w.write : !w.read)) return null;
    return w.vaddr + ((iova - this.geometry.start) % sw);
  }

  /** translate in numbers: the subwindow by index, to its end. */
  translateRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult {
    const g = this.numbers ?? this.numberGeometry();
    if (g.start < 0) return RUN_BIGINT;
    if (iova < g.start || iova > g.end) return RUN_FAULT;
    const offset = iova - g.start;
    const w = this.subwindows.get(Math.floor(offset / g.subwindow));
    if (w === undefined || w.kind !== 'dma' || (isWrite ? !w.write : !w.read)) return RUN_FAULT;
    if (w.vaddrNumber < 0) return RUN_BIGINT;
    const inWindow = offset % g.subwindow;
    run.vaddr = w.vaddrNumber + inWindow;
    run.length = g.subwindow - inWindow;
    return RUN_OK;
  }

  private numberGeometry(): { start: number; end: number; subwindow: number } {
    const { start, end } = this.geometry;
    this.numbers = belowNumberLimit(start, end - start + 1n)
      ? { start: Number(start), end: Number(end), subwindow: Number(this.subwindowSize) }
      : { start: -1, end: -1, subwindow: 0 };
    return this.numbers;
  }

  /**
   * A vector reaches MSI bank k only through the subwindow userspace gave it; without one, the
   * device's MSI write would fault, so there is no address to program (null).
   */
  msiAddress(doorbell: bigint): bigint | null {
    const bank = Number((doorbell - this.host.spec.msi.doorbell) / MSI_BANK_STRIDE);
    const i = this.msiBankSubwindow(bank);
    if (i === null) return null;
    return this.geometry.start + BigInt(i) * this.subwindowSize + (doorbell & (MSI_BANK_STRIDE - 1n));
  }
}
