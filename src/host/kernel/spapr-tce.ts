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
import { belowNumberLimit, clippedEnd, NUMBER_LIMIT } from '../range-index.ts';
import * as U from '../../common/vfio-uapi.ts';
import type { MapDmaRequest, UnmapDmaRequest, SpaprTceInfo, TceCreateRequest } from '../../common/vfio-uapi.ts';

/** One TCE table: a window of bus addresses (absolute, not offset) cut into IOMMU pages. */
interface TceWindow {
  start: bigint;
  size: bigint;
  pageShift: number;
  levels: number;
  /** TCE index -> the user address it maps and its direction. */
  tces: Map<number, Tce>;
  /** start and end (clipped to 2^53) and the page size as numbers, for translateRun. */
  low: number;
  high: number;
  pageBytes: number;
}

interface Tce {
  ua: bigint;
  /** ua as a number, or -1 where the page does not lie below 2^53 (translateRun then defers to translate). */
  uaNumber: number;
  read: boolean;
  write: boolean;
}

/** A TceWindow with its number fields. */
function tceWindow(start: bigint, size: bigint, pageShift: number, levels: number): TceWindow {
  const low = start < BigInt(NUMBER_LIMIT) ? Number(start) : NUMBER_LIMIT;
  return {
    start,
    size,
    pageShift,
    levels,
    tces: new Map(),
    low,
    high: clippedEnd(start, size),
    pageBytes: 2 ** pageShift,
  };
}

/** A PE's EEH state: MMIO and DMA freeze separately; a reset is held until deactivated. */
interface PeState {
  mmioFrozen: boolean;
  dmaFrozen: boolean;
  inReset: boolean;
}

/** VFIO_EEH_PE_GET_STATE's answer for a PE. */
function peStateCode(p: PeState): number {
  if (p.inReset) return U.VFIO_EEH_PE_STATE_RESET;
  if (p.mmioFrozen) return U.VFIO_EEH_PE_STATE_STOPPED;
  if (p.dmaFrozen) return U.VFIO_EEH_PE_STATE_STOPPED_DMA;
  return U.VFIO_EEH_PE_STATE_NORMAL;
}

const V1_PAGE_SHIFT = 12;

/**
 * drivers/vfio/vfio_iommu_spapr_tce.c and vfio_spapr_eeh.c: each group is a PE; windows are TCE
 * tables (at most two: the 32-bit default at 0 and a 64-bit DDW the platform places); v1 owns
 * the platform's default window after IOMMU_ENABLE, v2 needs memory pre-registered and creates
 * its windows itself. Errors in the kernel's checking order.
 */
export class SpaprTceIommu implements IommuBackend {
  readonly groups: IommuGroup[] = [];
  readonly windows: (TceWindow | null)[];
  /** v1: after IOMMU_ENABLE; v2: after the first REGISTER_MEMORY. */
  enabled = false;
  /** v2: the default window waits for the first MAP/UNMAP/CREATE unless removed first. */
  defWindowPending = false;
  readonly registered: { vaddr: bigint; size: bigint }[] = [];
  /** Bytes charged to the process's locked_vm. */
  lockedBytes = 0n;
  private readonly pe = new Map<IommuGroup, PeState>();
  /** Some PE is DMA-frozen or held in reset: every DMA of the container faults (kept by refreshDmaStopped). */
  private dmaStopped = false;
  private readonly facts: NonNullable<SimHost['spec']['iommu']['spapr']>;

  constructor(
    private readonly host: SimHost,
    readonly v2: boolean,
    private readonly memory: UserMemory,
    private readonly memlockLimit: bigint,
  ) {
    this.facts = host.spec.iommu.spapr!;
    this.windows = new Array(this.facts.maxWindows).fill(null);
  }

  get type(): number {
    return this.v2 ? U.VFIO_SPAPR_TCE_v2_IOMMU : U.VFIO_SPAPR_TCE_IOMMU;
  }

  /** tce_iommu_attach_group: the type must match the PHB; v1 takes one group. */
  attachGroup(group: IommuGroup): void {
    if (this.groups.includes(group))
      throw new VfioError('EBUSY', `group ${group.id} is already attached to this container`);
    if (this.facts.ownershipOps && !this.v2)
      throw new VfioError(
        'EPERM',
        `group ${group.id}: this PHB has DDW ownership ops and only accepts SPAPR_TCE_v2 (QEMU tries v2 first)`,
      );
    if (!this.facts.ownershipOps && this.v2)
      throw new VfioError(
        'EPERM',
        `group ${group.id}: this PHB has no DDW ownership ops and only accepts SPAPR_TCE (v1)`,
      );
    if (!this.v2 && this.groups.length)
      throw new VfioError(
        'EBUSY',
        `group ${group.id}: a SPAPR_TCE (v1) container takes one group; open another container`,
      );
    if (this.v2 && this.groups.length === 0) this.defWindowPending = true;
    this.groups.push(group);
    this.pe.set(group, { mmioFrozen: false, dmaFrozen: false, inReset: false });
    this.refreshDmaStopped();
  }

  private refreshDmaStopped(): void {
    this.dmaStopped = [...this.pe.values()].some((p) => p.dmaFrozen || p.inReset);
  }

  detachGroup(group: IommuGroup): void {
    this.groups.splice(this.groups.indexOf(group), 1);
    this.pe.delete(group);
    this.refreshDmaStopped();
    if (this.groups.length === 0) {
      this.windows.fill(null);
      this.enabled = this.v2 && this.registered.length > 0;
    }
  }

  checkExtension(ext: number): number {
    if (ext === U.VFIO_EEH) return this.host.spec.eeh ? 1 : 0;
    return ext === this.type ? 1 : 0;
  }

  /** VFIO_IOMMU_GET_INFO: the 32-bit window facts and, in v2, what DDW can do. */
  info(): SpaprTceInfo {
    const ddw = this.v2 && this.facts.maxWindows > 1;
    return {
      flags: ddw ? U.VFIO_IOMMU_SPAPR_INFO_DDW : 0,
      dma32WindowStart: 0n,
      dma32WindowSize: this.facts.dma32WindowSize,
      ddw: ddw
        ? { pgsizes: this.pgsizes(), maxDynamicWindowsSupported: this.facts.maxWindows, levels: this.facts.levels }
        : { pgsizes: 0n, maxDynamicWindowsSupported: 0, levels: 0 },
    };
  }

  private pgsizes(): bigint {
    return this.facts.pageSizes.reduce((a, s) => a | s, 0n);
  }

  /** VFIO_IOMMU_ENABLE (v1): accounts the whole 32-bit window as locked memory at once. */
  enable(): void {
    if (this.v2) throw new VfioError('ENOTTY', 'IOMMU_ENABLE is a SPAPR_TCE (v1) call; v2 enables on REGISTER_MEMORY');
    if (!this.groups.length) throw new VfioError('ENODEV', 'IOMMU_ENABLE: no group is attached');
    if (this.enabled) throw new VfioError('EBUSY', 'IOMMU_ENABLE: already enabled');
    const size = this.facts.dma32WindowSize;
    if (size === 0n) throw new VfioError('EPERM', 'IOMMU_ENABLE: the platform has no 32-bit DMA window');
    this.charge(size, 'IOMMU_ENABLE (the 32-bit window)');
    this.windows[0] = tceWindow(0n, size, V1_PAGE_SHIFT, 1);
    this.enabled = true;
  }

  /** VFIO_IOMMU_DISABLE (v1): clears the window and gives the locked memory back. */
  disable(): void {
    if (this.v2) throw new VfioError('ENOTTY', 'IOMMU_DISABLE is a SPAPR_TCE (v1) call');
    if (!this.enabled) return;
    this.lockedBytes -= this.facts.dma32WindowSize;
    this.windows[0] = null;
    this.enabled = false;
  }

  private charge(bytes: bigint, what: string): void {
    if (this.lockedBytes + bytes > this.memlockLimit) {
      throw new VfioError(
        'ENOMEM',
        `${what} needs ${hex(bytes)} bytes of locked memory; RLIMIT_MEMLOCK is ${hex(this.memlockLimit)} ` +
          `(${hex(this.lockedBytes)} in use); raise the limit (ulimit -l)`,
      );
    }
    this.lockedBytes += bytes;
  }

  /** VFIO_IOMMU_SPAPR_REGISTER_MEMORY (v2): pins and accounts once; enables the container. */
  registerMemory(vaddr: bigint, size: bigint): void {
    if (!this.v2) throw new VfioError('ENOTTY', 'SPAPR_REGISTER_MEMORY is a SPAPR_TCE_v2 call');
    const page = BigInt(this.host.spec.pageSize);
    if (size === 0n || (vaddr | size) & (page - 1n))
      throw new VfioError(
        'EINVAL',
        `SPAPR_REGISTER_MEMORY: vaddr ${hex(vaddr)} and size ${hex(size)} must be non-zero multiples of the ` +
          `${hex(page)} page`,
      );
    if (this.registered.some((r) => r.vaddr === vaddr && r.size === size))
      throw new VfioError('EBUSY', `SPAPR_REGISTER_MEMORY: ${hex(vaddr)}+${hex(size)} is already registered`);
    if (this.registered.some((r) => r.vaddr < vaddr + size && vaddr < r.vaddr + r.size))
      throw new VfioError(
        'EINVAL',
        `SPAPR_REGISTER_MEMORY: ${hex(vaddr)}+${hex(size)} partly overlaps registered memory`,
      );
    for (let a = vaddr; a < vaddr + size; a += page) {
      if (this.memory.pageSizeAt(a) === null)
        throw new VfioError('EFAULT', `SPAPR_REGISTER_MEMORY: ${hex(a)} is not mapped in the process; nothing to pin`);
    }
    this.charge(size, 'SPAPR_REGISTER_MEMORY');
    this.registered.push({ vaddr, size });
    this.enabled = true;
  }

  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY: exact match; EBUSY while a TCE still uses it. */
  unregisterMemory(vaddr: bigint, size: bigint): void {
    if (!this.v2) throw new VfioError('ENOTTY', 'SPAPR_UNREGISTER_MEMORY is a SPAPR_TCE_v2 call');
    const i = this.registered.findIndex((r) => r.vaddr === vaddr && r.size === size);
    if (i < 0) throw new VfioError('ENOENT', `SPAPR_UNREGISTER_MEMORY: ${hex(vaddr)}+${hex(size)} was not registered`);
    const used = this.windows.some((w) => w && [...w.tces.values()].some((t) => t.ua >= vaddr && t.ua < vaddr + size));
    if (used)
      throw new VfioError(
        'EBUSY',
        `SPAPR_UNREGISTER_MEMORY: ${hex(vaddr)}+${hex(size)} is still mapped by TCEs; unmap it first`,
      );
    this.registered.splice(i, 1);
    this.lockedBytes -= size;
  }

  /** VFIO_IOMMU_SPAPR_TCE_CREATE: returns the bus address the platform chose. */
  createWindow(req: TceCreateRequest): bigint {
    if (!this.v2) throw new VfioError('ENOTTY', 'SPAPR_TCE_CREATE is a SPAPR_TCE_v2 call');
    if (!this.groups.length) throw new VfioError('ENXIO', 'SPAPR_TCE_CREATE: no group is attached');
    this.createPendingDefault();
    return this.create(req);
  }

  private create(req: TceCreateRequest): bigint {
    const { pageShift, windowSize, levels } = req;
    if (pageShift >= 64 || !(this.pgsizes() & (1n << BigInt(pageShift)))) {
      throw new VfioError(
        'EINVAL',
        `SPAPR_TCE_CREATE: page shift ${pageShift} is not in the host's TCE sizes ` +
          `(${this.facts.pageSizes.map(hex).join(', ')})`,
      );
    }
    const page = 1n << BigInt(pageShift);
    if (windowSize === 0n || windowSize & (windowSize - 1n) || windowSize < page)
      throw new VfioError(
        'EINVAL',
        `SPAPR_TCE_CREATE: window size ${hex(windowSize)} must be a power of two of at least one ${hex(page)} page`,
      );
    if (levels < 1 || levels > this.facts.levels)
      throw new VfioError('EINVAL', `SPAPR_TCE_CREATE: ${levels} levels; the PHB supports 1-${this.facts.levels}`);
    const slot = this.windows.indexOf(null);
    if (slot < 0)
      throw new VfioError(
        'ENOSPC',
        `SPAPR_TCE_CREATE: all ${this.windows.length} windows are in use; remove one first`,
      );
    this.charge((windowSize >> BigInt(pageShift)) * 8n, 'SPAPR_TCE_CREATE (the TCE table)');
    const start = slot === 0 ? 0n : this.facts.ddwStart;
    this.windows[slot] = tceWindow(start, windowSize, pageShift, levels);
    return start;
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE; removing 0 before first use cancels the pending default window. */
  removeWindow(start: bigint): void {
    if (!this.v2) throw new VfioError('ENOTTY', 'SPAPR_TCE_REMOVE is a SPAPR_TCE_v2 call');
    if (!this.groups.length) throw new VfioError('ENXIO', 'SPAPR_TCE_REMOVE: no group is attached');
    if (this.defWindowPending && start === 0n) {
      this.defWindowPending = false;
      return;
    }
    const slot = this.windows.findIndex((w) => w?.start === start);
    if (slot < 0) throw new VfioError('EINVAL', `SPAPR_TCE_REMOVE: no window starts at ${hex(start)}`);
    const w = this.windows[slot]!;
    this.lockedBytes -= (w.size >> BigInt(w.pageShift)) * 8n;
    this.windows[slot] = null;
  }

  /** tce_iommu_create_default_window: 4K pages over the 32-bit window, on first use. */
  private createPendingDefault(): void {
    if (!this.defWindowPending) return;
    this.defWindowPending = false;
    this.create({ pageShift: 12, windowSize: this.facts.dma32WindowSize, levels: 1 });
  }

  private windowOf(call: string, iova: bigint): TceWindow {
    const w = this.windows.find((x) => x && iova >= x.start && iova < x.start + x.size);
    if (!w)
      throw new VfioError('ENXIO', `${call}: bus address ${hex(iova)} is in no DMA window (${this.windowList()})`);
    return w;
  }

  private windowList(): string {
    const ws = this.windows.filter((w): w is TceWindow => !!w).map((w) => `${hex(w.start)}+${hex(w.size)}`);
    return ws.length ? ws.join(', ') : 'none';
  }

  /** MAP_DMA through TCEs: READ/WRITE only; aligned to the window's page; backing page large enough. */
  map(req: MapDmaRequest): void {
    const { iova, size, vaddr, flags } = req;
    if (!this.enabled)
      throw new VfioError(
        'EPERM',
        this.v2 ? 'MAP_DMA: register the memory first (SPAPR_REGISTER_MEMORY)' : 'MAP_DMA: call IOMMU_ENABLE first',
      );
    if (flags & ~(U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE))
      throw new VfioError('EINVAL', `MAP_DMA: sPAPR accepts only READ and WRITE (flags ${hex(flags)})`);
    this.createPendingDefault();
    const w = this.windowOf('MAP_DMA', iova);
    const page = 1n << BigInt(w.pageShift);
    if (size === 0n || (size | vaddr | iova) & (page - 1n))
      throw new VfioError(
        'EINVAL',
        `MAP_DMA: iova ${hex(iova)}, size ${hex(size)} and vaddr ${hex(vaddr)} must be multiples of the ` +
          `window's ${hex(page)} TCE page`,
      );
    if (!(flags & (U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE)))
      throw new VfioError('EINVAL', 'MAP_DMA: READ and/or WRITE is needed');
    if (iova + size > w.start + w.size)
      throw new VfioError(
        'EINVAL',
        `MAP_DMA: ${hex(iova)}+${hex(size)} runs past the window ${hex(w.start)}+${hex(w.size)}`,
      );
    if (this.v2 && !this.registered.some((r) => r.vaddr <= vaddr && vaddr + size <= r.vaddr + r.size)) {
      throw new VfioError('EINVAL', `MAP_DMA: vaddr ${hex(vaddr)}+${hex(size)} is not in pre-registered memory`);
    }
    const base = BigInt(this.host.spec.pageSize);
    for (let off = 0n; off < size; off += page) {
      const backing = this.memory.pageSizeAt(vaddr + off);
      if (backing === null)
        throw new VfioError('EFAULT', `MAP_DMA: vaddr ${hex(vaddr + off)} is not mapped in the process`);
      const host = backing === 0n ? base : backing;
      if (host < page)
        throw new VfioError(
          'EPERM',
          `MAP_DMA: a ${hex(page)} TCE cannot map ${hex(host)}-page memory at ${hex(vaddr + off)} ` +
            '(tce_page_is_contained); back guest RAM with larger pages or use a smaller TCE',
        );
    }
    const read = (flags & U.VFIO_DMA_MAP_FLAG_READ) !== 0;
    const write = (flags & U.VFIO_DMA_MAP_FLAG_WRITE) !== 0;
    for (let off = 0n; off < size; off += page) {
      const ua = vaddr + off;
      const uaNumber = belowNumberLimit(ua, page) ? Number(ua) : -1;
      w.tces.set(Number((iova + off - w.start) >> BigInt(w.pageShift)), { ua, uaNumber, read, write });
    }
  }

  /** UNMAP_DMA: clears the TCEs in the range; no flags. Returns the bytes that were mapped. */
  unmap(req: UnmapDmaRequest): bigint {
    const { iova, size, flags } = req;
    if (!this.enabled)
      throw new VfioError(
        'EPERM',
        this.v2 ? 'UNMAP_DMA: register the memory first (SPAPR_REGISTER_MEMORY)' : 'UNMAP_DMA: call IOMMU_ENABLE first',
      );
    if (flags) throw new VfioError('EINVAL', `UNMAP_DMA: sPAPR takes no flags (${hex(flags)})`);
    this.createPendingDefault();
    const w = this.windowOf('UNMAP_DMA', iova);
    const page = 1n << BigInt(w.pageShift);
    if ((size | iova) & (page - 1n))
      throw new VfioError(
        'EINVAL',
        `UNMAP_DMA: iova ${hex(iova)} and size ${hex(size)} must be multiples of the window's ${hex(page)} TCE page`,
      );
    if (iova + size > w.start + w.size)
      throw new VfioError('EINVAL', `UNMAP_DMA: ${hex(iova)}+${hex(size)} runs past the window`);
    let cleared = 0n;
    for (let off = 0n; off < size; off += page)
      if (w.tces.delete(Number((iova + off - w.start) >> BigInt(w.pageShift)))) cleared += page;
    return cleared;
  }

  translate(iova: bigint, isWrite: boolean): bigint | null {
    for (const p of this.pe.values()) if (p.dmaFrozen || p.inReset) return null; // a frozen PE blocks DMA
    const w = this.windows.find((x) => x && iova >= x.start && iova < x.start + x.size);
    if (!w) return null;
    const t = w.tces.get(Number((iova - w.start) >> BigInt(w.pageShift)));
    if (!t || (isWrite ? !t.write : !t.read)) return null;
    return t.ua + ((iova - w.start) & ((1n << BigInt(w.pageShift)) - 1n));
  }

  /** translate in numbers: the window, then its TCE by index (iommu_tce_xchg_no_kill's entry), to the page end. */
  translateRun(iova: number, isWrite: boolean, run: DmaRun): TranslateResult {
    if (this.dmaStopped) return RUN_FAULT;
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (w === null || w === undefined || iova < w.low || iova >= w.high) continue;
      const offset = iova - w.low;
      const t = w.tces.get(Math.floor(offset / w.pageBytes));
      if (t === undefined || (isWrite ? !t.write : !t.read)) return RUN_FAULT;
      if (t.uaNumber < 0) return RUN_BIGINT;
      const inPage = offset % w.pageBytes;
      run.vaddr = t.uaNumber + inPage;
      run.length = w.pageBytes - inPage;
      return RUN_OK;
    }
    return RUN_FAULT;
  }

  /** PHB MSIs are decoded before the TCE lookup: the doorbell is used as is. */
  msiAddress(doorbell: bigint): bigint {
    return doorbell;
  }

  /** True while the PE of `group` has MMIO frozen: loads return all ones, stores are dropped. */
  mmioFrozen(group: IommuGroup): boolean {
    const p = this.pe.get(group);
    return !!p && (p.mmioFrozen || p.inReset);
  }

  /**
   * VFIO_EEH_PE_OP, run on every group of the container (vfio_spapr_iommu_eeh_ioctl). Returns GET_STATE's
   * state, else 0.
   */
  eehPeOp(op: number): number {
    if (!this.host.spec.eeh) throw new VfioError('ENODEV', 'EEH_PE_OP: EEH is not enabled on this host');
    if (!this.groups.length) throw new VfioError('ENODEV', 'EEH_PE_OP: no group is attached');
    let state = 0;
    for (const p of this.pe.values()) {
      switch (op) {
        case U.VFIO_EEH_PE_DISABLE:
        case U.VFIO_EEH_PE_ENABLE:
          break; // EEH is always on for a PE vfio owns; the options only matter to the host's own driver
        case U.VFIO_EEH_PE_UNFREEZE_IO:
          p.mmioFrozen = false;
          break;
        case U.VFIO_EEH_PE_UNFREEZE_DMA:
          p.dmaFrozen = false;
          break;
        case U.VFIO_EEH_PE_GET_STATE:
          state = Math.max(state, peStateCode(p));
          break;
        case U.VFIO_EEH_PE_RESET_HOT:
        case U.VFIO_EEH_PE_RESET_FUNDAMENTAL:
          p.inReset = true;
          break;
        case U.VFIO_EEH_PE_RESET_DEACTIVATE:
          p.inReset = false;
          break;
        case U.VFIO_EEH_PE_CONFIGURE:
          // After a reset the bridges are reconfigured and the PE thaws.
          if (!p.inReset) p.mmioFrozen = p.dmaFrozen = false;
          break;
        case U.VFIO_EEH_PE_INJECT_ERR:
          p.mmioFrozen = p.dmaFrozen = true;
          break;
        default:
          throw new VfioError('EINVAL', `EEH_PE_OP: unknown operation ${op}`);
      }
    }
    this.refreshDmaStopped();
    return state;
  }
}
