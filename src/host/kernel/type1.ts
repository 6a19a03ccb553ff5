import { VfioError } from '../errors.ts';
import type { SimHost } from '../sim-host.ts';
import type { IommuGroup } from '../iommu-groups.ts';
import * as U from '../../common/vfio-uapi.ts';
import type { MapDmaRequest, UnmapDmaRequest, Type1Info } from '../../common/vfio-uapi.ts';
import {
  RUN_BIGINT,
  RUN_FAULT,
  RUN_OK,
  type DmaRun,
  type IommuBackend,
  type TranslateResult,
} from './iommu-backend.ts';
import { belowNumberLimit, clippedEnd, NUMBER_LIMIT, RangeIndex } from '../range-index.ts';

/** drivers/vfio/vfio_iommu_type1.c:vfio_iommu_type1_check_extension, before SET_IOMMU and after. */
export function type1CheckExtension(ext: number): number {
  return [
    U.VFIO_TYPE1_IOMMU,
    U.VFIO_TYPE1v2_IOMMU,
    U.VFIO_UNMAP_ALL,
    U.VFIO_UPDATE_VADDR,
    U.VFIO_DMA_CC_IOMMU,
  ].includes(ext)
    ? 1
    : 0;
}

/** One MAP_DMA (vfio_dma): never merged with neighbours in modern kernels. */
export interface DmaMapping {
  iova: bigint;
  size: bigint;
  vaddr: bigint;
  read: boolean;
  write: boolean;
  vaddrInvalid: boolean;
}

const U64 = (1n << 64n) - 1n;

/** RangeIndex tags of the mappings: the rights a DMA needs, and whether the vaddr is exact as a number. */
const TAG_READ = 1;
const TAG_WRITE = 2;
const TAG_BIGINT = 4;

/**
 * drivers/vfio/vfio_iommu_type1.c: MAP/UNMAP with the kernel's alignment, overlap, v1/v2 and
 * entry-limit rules; the valid IOVA list (aperture minus reserved regions); the MSI isolation
 * check at attach; and the SW_MSI cookie that maps MSI doorbells for the host's vectors.
 */
export class Type1Iommu implements IommuBackend {
  readonly mappings: DmaMapping[] = [];
  readonly groups: IommuGroup[] = [];
  dmaAvail: number;
  /** Valid IOVA ranges, inclusive ends, sorted. */
  iovaList: { start: bigint; end: bigint }[] = [];
  readonly pgsizeBitmap: bigint;
  /** Doorbell pages mapped by iommu_dma_prepare_msi: physical page -> IOVA. */
  readonly msiPages = new Map<bigint, bigint>();
  private msiNext = 0n;
  /** The mappings (and MSI pages) in numbers for translateRun; null after any change, rebuilt on the next DMA. */
  private index: RangeIndex | null = null;
  /** IOVAs [msiLow, msiHigh) hold the MSI pages, which translate before any mapping. */
  private msiLow = 0;
  private msiHigh = 0;

  constructor(
    private readonly host: SimHost,
    readonly v2: boolean,
  ) {
    this.dmaAvail = host.spec.iommu.dmaEntryLimit;
    this.pgsizeBitmap = pgsizeBitmap(host);
  }

  get type(): number {
    return this.v2 ? U.VFIO_TYPE1v2_IOMMU : U.VFIO_TYPE1_IOMMU;
  }

  /** Smallest mapping granule: 1 << __ffs(pgsize_bitmap). */
  get pgsize(): bigint {
    return this.pgsizeBitmap & -this.pgsizeBitmap;
  }

  /** vfio_iommu_type1_attach_group. */
  attachGroup(group: IommuGroup): void {
    if (this.groups.includes(group))
      throw new VfioError('EINVAL', `group ${group.id} is already attached to this container`);
    const ap = this.host.spec.iommu.aperture;
    const current = this.groups.length ? this.iovaList : [{ start: 0n, end: U64 }];
    if (
      !current.some((r) => r.start <= ap.end && ap.start <= r.end) ||
      this.mappings.some((m) => m.iova < ap.start || m.iova + m.size - 1n > ap.end)
    ) {
      throw new VfioError(
        'EINVAL',
        `group ${group.id}: the IOMMU aperture 0x${ap.start.toString(16)}-0x${ap.end.toString(16)} conflicts ` +
          'with existing mappings',
      );
    }
    // The IOMMU's regions plus the group's devices' own (RMRR/RMR), as iommu_get_group_resv_regions.
    const resv = [...this.host.reserved, ...group.functions.flatMap((f) => f.spec.reserved)].filter(
      (r) => r.type !== 'direct-relaxable',
    );
    const clash = resv.find((r) => this.mappings.some((m) => m.iova <= r.end && r.start <= m.iova + m.size - 1n));
    if (clash)
      throw new VfioError(
        'EINVAL',
        `group ${group.id}: reserved region 0x${clash.start.toString(16)}-0x${clash.end.toString(16)} ` +
          `(${clash.type}) overlaps an existing DMA mapping; use a separate container`,
      );
    let list = current
      .map((r) => ({ start: r.start > ap.start ? r.start : ap.start, end: r.end < ap.end ? r.end : ap.end }))
      .filter((r) => r.start <= r.end);
    for (const r of resv) list = exclude(list, r.start, r.end);
    if (list.length === 0) throw new VfioError('EINVAL', `group ${group.id}: no valid IOVA range is left`);
    const policy = this.host.interruptPolicy();
    if (!policy.allowed) {
      throw new VfioError(
        'EPERM',
        `group ${group.id}: No interrupt remapping support. Use the module param "allow_unsafe_interrupts" to ` +
          `enable VFIO IOMMU support on this platform (${this.host.spec.msi.controller} does not isolate MSIs)`,
      );
    }
    this.iovaList = list;
    // iommu_get_msi_cookie only for a new domain: a later group joins the existing domain and its
    // cookie, whose MSI IOVAs keep growing (the domain, cookie included, goes with its last group).
    const swMsi = this.groups.length === 0 && this.host.reserved.find((r) => r.type === 'sw-msi');
    if (swMsi && !this.host.reserved.some((r) => r.type === 'msi')) this.msiNext = swMsi.start;
    this.groups.push(group);
  }

  /** Removing the last group unmaps everything (the last IOMMU-backed domain goes, its MSI cookie too). */
  detachGroup(group: IommuGroup): void {
    this.groups.splice(this.groups.indexOf(group), 1);
    if (this.groups.length === 0) {
      this.dmaAvail += this.mappings.length;
      this.mappings.length = 0;
      this.msiPages.clear();
      this.msiNext = 0n;
      this.index = null;
    }
  }

  /** CHECK_EXTENSION once this backend is chosen. */
  checkExtension(ext: number): number {
    return type1CheckExtension(ext);
  }

  info(): Type1Info {
    return {
      flags: 3,
      iovaPgsizes: this.pgsizeBitmap,
      iovaRanges: this.iovaList.map((r) => ({ ...r })),
      dmaAvail: this.dmaAvail,
    };
  }

  /** vfio_dma_do_map, checks in the kernel's order. */
  map(req: MapDmaRequest): void {
    const { iova, size, vaddr, flags } = req;
    if (flags & ~(U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE | U.VFIO_DMA_MAP_FLAG_VADDR))
      throw new VfioError('EINVAL', `MAP_DMA: unknown flags 0x${flags.toString(16)}`);
    const prot = flags & (U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE);
    const pg = this.pgsize;
    if (flags & U.VFIO_DMA_MAP_FLAG_VADDR) {
      if (prot) throw new VfioError('EINVAL', 'MAP_DMA: VADDR cannot be combined with READ/WRITE');
      const m = this.mappings.find((x) => x.iova === iova && x.size === size);
      if (!this.mappings.some((x) => x.vaddrInvalid))
        throw new VfioError('ENOENT', 'MAP_DMA VADDR: no mapping has an invalidated vaddr');
      if (!m || !m.vaddrInvalid)
        throw new VfioError(
          'EINVAL',
          `MAP_DMA VADDR: 0x${iova.toString(16)}+0x${size.toString(16)} does not match an invalidated mapping exactly`,
        );
      m.vaddr = vaddr;
      m.vaddrInvalid = false;
      this.index = null;
      return;
    }
    if (!prot || size === 0n || ((size | iova | vaddr) & (pg - 1n)) !== 0n) {
      throw new VfioError(
        'EINVAL',
        `MAP_DMA: iova 0x${iova.toString(16)}, size 0x${size.toString(16)} and vaddr must be non-zero ` +
          `multiples of the IOMMU page 0x${pg.toString(16)}, with READ and/or WRITE`,
      );
    }
    if (iova + size - 1n > U64 || vaddr + size - 1n > U64)
      throw new VfioError('EINVAL', 'MAP_DMA: the range wraps around the 64-bit space');
    // The list is sorted and its mappings disjoint, so only the neighbours of the insertion point can overlap.
    const at = this.insertionPoint(iova);
    const before = this.mappings[at - 1];
    const after = this.mappings[at];
    const overlap =
      before && iova < before.iova + before.size ? before : after && after.iova < iova + size ? after : undefined;
    if (overlap)
      throw new VfioError(
        'EEXIST',
        `MAP_DMA: 0x${iova.toString(16)}+0x${size.toString(16)} overlaps the mapping at ` +
          `0x${overlap.iova.toString(16)}+0x${overlap.size.toString(16)}; unmap it first`,
      );
    if (this.dmaAvail === 0)
      throw new VfioError(
        'ENOSPC',
        `MAP_DMA: the container already holds ${this.host.spec.iommu.dmaEntryLimit} mappings ` +
          '(vfio_iommu_type1.dma_entry_limit)',
      );
    if (this.iovaList.length && !this.iovaList.some((r) => r.start <= iova && iova + size - 1n <= r.end)) {
      throw new VfioError(
        'EINVAL',
        `MAP_DMA: 0x${iova.toString(16)}-0x${(iova + size - 1n).toString(16)} is outside the valid IOVA ` +
          `ranges (${this.iovaList.map((r) => `0x${r.start.toString(16)}-0x${r.end.toString(16)}`).join(', ')})`,
      );
    }
    this.mappings.splice(at, 0, {
      iova,
      size,
      vaddr,
      read: (flags & 1) !== 0,
      write: (flags & 2) !== 0,
      vaddrInvalid: false,
    });
    this.dmaAvail--;
    this.index = null;
  }

  /** The index of the first mapping starting above `iova` (where a mapping at `iova` goes in the sorted list). */
  private insertionPoint(iova: bigint): number {
    let lo = 0;
    let hi = this.mappings.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.mappings[mid]!.iova <= iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** vfio_dma_do_unmap; returns the bytes unmapped (the kernel's updated unmap.size). */
  unmap(req: UnmapDmaRequest): bigint {
    let { iova, size } = req;
    const { flags } = req;
    const pg = this.pgsize;
    if (flags & ~(U.VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | U.VFIO_DMA_UNMAP_FLAG_ALL | U.VFIO_DMA_UNMAP_FLAG_VADDR))
      throw new VfioError('EINVAL', `UNMAP_DMA: unknown flags 0x${flags.toString(16)}`);
    if ((iova & (pg - 1n)) !== 0n)
      throw new VfioError(
        'EINVAL',
        `UNMAP_DMA: iova 0x${iova.toString(16)} is not aligned to the IOMMU page 0x${pg.toString(16)}`,
      );
    if (flags & U.VFIO_DMA_UNMAP_FLAG_ALL) {
      if (iova !== 0n || size !== 0n) throw new VfioError('EINVAL', 'UNMAP_DMA ALL needs iova 0 and size 0');
      size = U64 + 1n;
    } else if (size === 0n || (size & (pg - 1n)) !== 0n || iova + size - 1n > U64) {
      throw new VfioError(
        'EINVAL',
        `UNMAP_DMA: size 0x${size.toString(16)} must be a non-zero multiple of 0x${pg.toString(16)} that does not wrap`,
      );
    }
    if (
      flags & U.VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP &&
      flags & (U.VFIO_DMA_UNMAP_FLAG_ALL | U.VFIO_DMA_UNMAP_FLAG_VADDR)
    )
      throw new VfioError('EINVAL', 'UNMAP_DMA: GET_DIRTY_BITMAP cannot be combined with ALL or VADDR');
    const end = iova + size;
    if (this.v2) {
      const first = this.mappings.find((m) => m.iova <= iova && iova < m.iova + m.size);
      if (first && first.iova !== iova)
        throw new VfioError(
          'EINVAL',
          `UNMAP_DMA: 0x${iova.toString(16)} bisects the mapping at ` +
            `0x${first.iova.toString(16)}+0x${first.size.toString(16)} (type1v2 unmaps whole mappings only)`,
        );
      const last = this.mappings.find((m) => m.iova <= end - 1n && end - 1n < m.iova + m.size);
      if (last && last.iova + last.size !== end)
        throw new VfioError(
          'EINVAL',
          `UNMAP_DMA: the range end bisects the mapping at 0x${last.iova.toString(16)}+0x${last.size.toString(16)}`,
        );
    }
    let unmapped = 0n;
    const hit = this.mappings.filter((m) => m.iova < end && iova < m.iova + m.size);
    for (const m of hit) {
      if (!this.v2 && iova > m.iova) break; // v1: a mapping starting before the request stops the loop
      if (flags & U.VFIO_DMA_UNMAP_FLAG_VADDR) {
        m.vaddrInvalid = true;
      } else {
        this.mappings.splice(this.mappings.indexOf(m), 1);
        this.dmaAvail++;
      }
      unmapped += m.size;
      this.index = null;
    }
    return unmapped;
  }

  /** What a device's DMA to `iova` reaches: the process address, or null (an IOMMU fault). */
  translate(iova: bigint, isWrite: boolean): bigint | null {
    for (const [pa, io] of this.msiPages)
      if (iova >= io && iova < io + BigInt(this.host.spec.pageSize)) return pa + (iova - io);
    const m = this.mappings.find((x) => x.iova <= iova && iova < x.iova + x.size);
    if (!m || m.vaddrInvalid || (isWrite ? !m.write : !m.read)) return null;
    return m.vaddr + (iova - m.iova);
  }

  /**
   * translate in numbers: the same answer from a binary search (with a last-hit check) over the
   * mappings kept sorted by IOVA, as vfio_find_dma walks the kernel's rb-tree of vfio_dma.
   */
  translateRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult {
    const index = this.index ?? this.buildIndex();
    if (iova < this.msiHigh && iova >= this.msiLow) return this.msiRun(iova, isWrite, run);
    const i = index.find(iova);
    if (i < 0) return RUN_FAULT;
    const tag = index.tag[i]!;
    if ((tag & (isWrite ? TAG_WRITE : TAG_READ)) === 0) return RUN_FAULT;
    if (tag & TAG_BIGINT) return RUN_BIGINT;
    const start = index.start[i]!;
    run.vaddr = index.base[i]! + (iova - start);
    // No mapping runs from below the MSI window into it: the window starts in the reserved SW_MSI
    // range, which vfio_iommu_resv_exclude keeps out of the valid IOVA list.
    run.length = index.end[i]! - iova;
    return RUN_OK;
  }

  /** An IOVA in the MSI window: translate's answer, to the end of its page. */
  private msiRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult {
    const va = this.translate(BigInt(iova), isWrite);
    if (va === null) return RUN_FAULT;
    const page = this.host.spec.pageSize;
    run.length = page - (iova % page);
    if (!belowNumberLimit(va, BigInt(run.length))) return RUN_BIGINT;
    run.vaddr = Number(va);
    return RUN_OK;
  }

  private buildIndex(): RangeIndex {
    const ranges = this.mappings
      .filter((m) => m.iova < BigInt(NUMBER_LIMIT))
      .map((m) => ({
        start: Number(m.iova),
        end: clippedEnd(m.iova, m.size),
        base: belowNumberLimit(m.vaddr, m.size) ? Number(m.vaddr) : 0,
        tag:
          (m.vaddrInvalid ? 0 : (m.read ? TAG_READ : 0) | (m.write ? TAG_WRITE : 0)) |
          (belowNumberLimit(m.vaddr, m.size) ? 0 : TAG_BIGINT),
      }));
    // The MSI pages as one window; pages inside it that are not MSI pages are answered by translate too.
    const ios = [...this.msiPages.values()];
    const page = BigInt(this.host.spec.pageSize);
    const low = ios.reduce((a, b) => (b < a ? b : a), U64);
    const high = ios.reduce((a, b) => (b + page > a ? b + page : a), 0n);
    this.msiLow = ios.length ? Number(low < BigInt(NUMBER_LIMIT) ? low : BigInt(NUMBER_LIMIT)) : 0;
    this.msiHigh = ios.length ? clippedEnd(high, 0n) : 0;
    this.index = new RangeIndex(ranges);
    return this.index;
  }

  /**
   * iommu_dma_prepare_msi: with a SW_MSI window, a doorbell page gets the next IOVA of the window
   * and the composed message address is that IOVA plus the doorbell's offset in its page.
   */
  msiAddress(doorbell: bigint): bigint {
    if (this.msiNext === 0n) return doorbell; // a hardware MSI window (x86) is not translated
    const granule = BigInt(this.host.spec.pageSize);
    const page = doorbell & ~(granule - 1n);
    let io = this.msiPages.get(page);
    if (io === undefined) {
      io = this.msiNext;
      this.msiNext += granule;
      this.msiPages.set(page, io);
      this.index = null;
    }
    return io | (doorbell & (granule - 1n));
  }
}

/** vfio_update_pgsize_bitmap: the IOMMU's sizes, never below the host PAGE_SIZE. */
function pgsizeBitmap(host: SimHost): bigint {
  let bits = host.spec.iommu.pageSizes.reduce((a, s) => a | s, 0n);
  const page = BigInt(host.spec.pageSize);
  if (bits & (page - 1n)) bits = (bits & ~(page - 1n)) | page;
  return bits;
}

/** vfio_iommu_resv_exclude: cut [start, end] out of the list, splitting nodes. */
function exclude(list: { start: bigint; end: bigint }[], start: bigint, end: bigint) {
  const out: { start: bigint; end: bigint }[] = [];
  for (const r of list) {
    if (r.end < start || r.start > end) {
      out.push(r);
      continue;
    }
    if (r.start < start) out.push({ start: r.start, end: start - 1n });
    if (r.end > end) out.push({ start: end + 1n, end: r.end });
  }
  return out;
}
