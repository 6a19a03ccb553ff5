import { MemoryListener, type AddressSpace, type MemoryRegionSection } from '../memory/index.ts';
import { VfioError } from '../common/errno.ts';
import type { ContainerFd, GroupFd, VfioApi } from '../common/vfio-api.ts';
import * as U from '../common/vfio-uapi.ts';
import type { ProcessMemory } from './process-memory.ts';
import { VfioRealizeError } from './msix-layout.ts';

/** How the machine's guest DMA reaches the host IOMMU (from the machine file). */
export type DmaPolicy =
  | { kind: 'type1' }
  | { kind: 'spapr-tce'; dma32WindowSize: bigint; pageShift: number }
  | { kind: 'fsl-pamu'; windows: number; msiBankIova: bigint };

/** One DMA mapping the VMM made, for reports. */
export interface DmaMappingRecord {
  iova: bigint;
  size: bigint;
  region: string;
}

const SPAPR_TCE_LEVELS = 1;

/**
 * QEMU's VFIOContainer (hw/vfio/common.c, spapr.c): one container fd per address space that groups
 * share when the kernel accepts them, the IOMMU type chosen in QEMU's order, and the memory
 * listener that mirrors guest RAM into the IOMMU: type1 maps every RAM section (iova = GPA);
 * sPAPR pre-registers RAM and maps what the guest puts in its TCE window; PAMU maps RAM by
 * subwindows and gives the MSI bank a subwindow.
 */
export class VmmContainer {
  readonly groups: GroupFd[] = [];
  readonly mappings: DmaMappingRecord[] = [];
  /** Listener failures (QEMU reports them; before the machine starts they are fatal). */
  readonly errors: string[] = [];
  private readonly listener = new MemoryListener('vfio', 10);

  private constructor(
    private readonly kernel: VfioApi,
    private readonly process: ProcessMemory,
    readonly containerFd: ContainerFd,
    /** The IOMMU type SET_IOMMU accepted (QEMU's container->iommu_type). */
    readonly iommuType: number,
    readonly as: AddressSpace,
    readonly policy: DmaPolicy,
  ) {}

  /**
   * vfio_connect_container: try each container already serving `as`; otherwise open a new one,
   * pick the IOMMU type (TYPE1v2, TYPE1, SPAPR_TCE_v2, SPAPR_TCE, or the vendor PAMU), attach,
   * and start the listener (whose replay maps the current RAM).
   */
  static connect(
    kernel: VfioApi,
    process: ProcessMemory,
    group: GroupFd,
    as: AddressSpace,
    existing: VmmContainer[],
    policy: DmaPolicy,
  ): VmmContainer {
    for (const c of existing) {
      if (c.as !== as) continue;
      try {
        group.setContainer(c.containerFd);
        c.groups.push(group);
        return c;
      } catch (e) {
        if (!(e instanceof VfioError)) throw e;
      }
    }
    const fd = kernel.openContainer();
    if (fd.getApiVersion() !== U.VFIO_API_VERSION) throw new VfioRealizeError('vfio: supported vfio version: 0');
    group.setContainer(fd);
    const types = [
      U.VFIO_TYPE1v2_IOMMU,
      U.VFIO_TYPE1_IOMMU,
      U.VFIO_SPAPR_TCE_v2_IOMMU,
      U.VFIO_SPAPR_TCE_IOMMU,
      U.VFIO_FSL_PAMU_IOMMU,
    ];
    let chosen = -1;
    let lastError: unknown = null;
    for (const t of types) {
      if (fd.checkExtension(t) !== 1) continue;
      try {
        fd.setIommu(t);
        chosen = t;
        break;
      } catch (e) {
        lastError = e; // QEMU falls back from v2 to v1 when SET_IOMMU refuses
      }
    }
    if (chosen < 0) {
      group.unsetContainer();
      if (lastError) throw lastError;
      throw new VfioError('EINVAL', `vfio: No available IOMMU models on host ${kernel.uname().nodename}`);
    }
    const c = new VmmContainer(kernel, process, fd, chosen, as, policy);
    c.groups.push(group);
    c.prepare();
    existing.push(c);
    return c;
  }

  /** Backend set-up before the listener replays RAM. */
  private prepare(): void {
    const p = this.policy;
    const t = this.iommuType;
    if (p.kind === 'spapr-tce' && t === U.VFIO_SPAPR_TCE_v2_IOMMU) {
      // vfio_spapr_container_init: drop the kernel's default window, create the guest's own.
      this.containerFd.spaprTceRemove(0n);
      const start = this.containerFd.spaprTceCreate({
        pageShift: p.pageShift,
        windowSize: p.dma32WindowSize,
        levels: SPAPR_TCE_LEVELS,
      });
      if (start !== 0n) {
        this.containerFd.spaprTceRemove(start);
        throw new VfioRealizeError(`vfio: Host doesn't support DMA window at 0x0, must be 0x${start.toString(16)}`);
      }
    } else if (p.kind === 'spapr-tce' && t === U.VFIO_SPAPR_TCE_IOMMU) {
      this.containerFd.iommuEnable();
    } else if (p.kind === 'fsl-pamu') {
      const pamu = this.containerFd.pamu();
      const aperture = pamu.getGeometry(); // the hardware's whole aperture until SET_ATTR narrows it
      pamu.setGeometry(0n, aperture.end - aperture.start + 1n);
      pamu.setWindows(p.windows);
      pamu.mapMsiBank(0, p.msiBankIova);
    }
    this.listener.on('region-add', (s) => this.regionAdd(s));
    this.listener.on('region-del', (s) => this.regionDel(s));
    this.as.addListener(this.listener);
    if (this.errors.length)
      throw new VfioRealizeError(`vfio: DMA mapping of guest RAM failed: ${this.errors.join('; ')}`);
  }

  private ramSection(s: MemoryRegionSection): { iova: bigint; size: bigint; vaddr: bigint } | null {
    if (!s.mr.isRam || s.mr.isRamDevice || !s.mr.ramBlock) return null;
    const page = BigInt(this.kernel.pageSize());
    const iova = (s.offsetWithinAddressSpace + page - 1n) & ~(page - 1n);
    const end = (s.offsetWithinAddressSpace + s.size) & ~(page - 1n);
    if (end <= iova) return null;
    return {
      iova,
      size: end - iova,
      vaddr: this.process.vaddrOf(s.mr.ramBlock) + s.offsetWithinRegion + (iova - s.offsetWithinAddressSpace),
    };
  }

  private regionAdd(s: MemoryRegionSection): void {
    const r = this.ramSection(s);
    if (!r) return;
    try {
      if (this.policy.kind === 'spapr-tce') {
        if (this.iommuType === U.VFIO_SPAPR_TCE_v2_IOMMU) this.containerFd.spaprRegisterMemory(r.vaddr, r.size);
        return; // DMA is mapped when the guest fills its TCE window (H_PUT_TCE)
      }
      const flags = U.VFIO_DMA_MAP_FLAG_READ | (s.readonly ? 0 : U.VFIO_DMA_MAP_FLAG_WRITE);
      this.containerFd.mapDma({ iova: r.iova, size: r.size, vaddr: r.vaddr, flags });
      this.mappings.push({ iova: r.iova, size: r.size, region: s.mr.name });
    } catch (e) {
      if (!(e instanceof VfioError)) throw e;
      this.errors.push(`vfio_dma_map(0x${r.iova.toString(16)}, 0x${r.size.toString(16)}) = -${e.errno} (${e.message})`);
    }
  }

  private regionDel(s: MemoryRegionSection): void {
    const r = this.ramSection(s);
    if (!r || this.policy.kind === 'spapr-tce') return;
    this.containerFd.unmapDma({ iova: r.iova, size: r.size, flags: 0 });
    const i = this.mappings.findIndex((m) => m.iova === r.iova);
    if (i >= 0) this.mappings.splice(i, 1);
  }

  /**
   * H_PUT_TCE from a pseries guest (hw/ppc/spapr_iommu.c → vfio_iommu_map_notify): map or unmap one
   * TCE page of the guest's window. `gpa` null clears the entry. Returns the hypercall status.
   */
  putTce(ioba: bigint, gpa: bigint | null, write: boolean): 'H_SUCCESS' | 'H_PARAMETER' {
    if (this.policy.kind !== 'spapr-tce') return 'H_PARAMETER';
    const page = 1n << BigInt(this.policy.pageShift);
    if (ioba & (page - 1n) || ioba + page > this.policy.dma32WindowSize) return 'H_PARAMETER';
    this.containerFd.unmapDma({ iova: ioba, size: page, flags: 0 });
    const i = this.mappings.findIndex((m) => m.iova === ioba);
    if (i >= 0) this.mappings.splice(i, 1);
    if (gpa === null) return 'H_SUCCESS';
    const vaddr = this.gpaToVaddr(gpa & ~(page - 1n));
    if (vaddr === null) return 'H_PARAMETER';
    try {
      this.containerFd.mapDma({
        iova: ioba,
        size: page,
        vaddr,
        flags: U.VFIO_DMA_MAP_FLAG_READ | (write ? U.VFIO_DMA_MAP_FLAG_WRITE : 0),
      });
    } catch (e) {
      if (!(e instanceof VfioError)) throw e;
      this.errors.push(`H_PUT_TCE(0x${ioba.toString(16)}): ${e.message}`);
      return 'H_PARAMETER';
    }
    this.mappings.push({ iova: ioba, size: page, region: `tce -> 0x${gpa.toString(16)}` });
    return 'H_SUCCESS';
  }

  /** The VMM address of guest-physical `gpa`, through the address space's RAM. */
  private gpaToVaddr(gpa: bigint): bigint | null {
    const fr = this.as.lookup(gpa);
    if (!fr || gpa < fr.start || gpa >= fr.start + fr.size || !fr.mr.isRam || fr.mr.isRamDevice || !fr.mr.ramBlock)
      return null;
    return this.process.vaddrOf(fr.mr.ramBlock) + fr.offsetInRegion + (gpa - fr.start);
  }
}
