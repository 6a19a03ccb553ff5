import { VfioError } from '../errors.ts';
import type { SimHost } from '../sim-host.ts';
import type { HostFunction } from '../iommu-groups.ts';
import type { BarSpec } from '../host-file.ts';
import type { VfioContainer } from './kernel-vfio.ts';
import { hardwareOf, type FunctionHardware } from '../devices/function-hardware.ts';
import type { EventFd } from '../../common/eventfd.ts';
import * as U from '../../common/vfio-uapi.ts';
import type { DeviceFd } from '../../common/vfio-api.ts';
import type { DeviceMapping, SetIrqsRequest } from '../../common/vfio-uapi.ts';
import { VirtualConfig } from './virtual-config.ts';
import { SpaprTceIommu } from './spapr-tce.ts';
import { KernelIntx } from './intx.ts';
import { romImageSize } from '../devices/option-rom.ts';
import { RUN_FAULT } from './iommu-backend.ts';

/**
 * An open vfio-pci device (drivers/vfio/pci/vfio_pci_core.c, vfio_pci_rdwr.c, vfio_pci_intrs.c):
 * the state every fd of it shares (see VfioDeviceFile). `close` is its last close.
 */
export class VfioDevice implements DeviceFd {
  readonly hw: FunctionHardware;
  /** The config region as the kernel virtualizes it. */
  readonly config: VirtualConfig;
  /** Active interrupt type (only one of INTx, MSI, MSI-X at a time), or -1. */
  irqType = -1;
  /** Bound trigger eventfds of the active type, by vector. */
  readonly triggers: (EventFd | null)[] = [];
  /** The ERR and REQ eventfds, by IRQ index. */
  readonly notifiers: Record<number, EventFd | null> = {
    [U.VFIO_PCI_ERR_IRQ_INDEX]: null,
    [U.VFIO_PCI_REQ_IRQ_INDEX]: null,
  };
  /** Counters of what the user did, for reports. */
  readonly stats = {
    regionReads: 0,
    regionWrites: 0,
    tableDrops: 0,
    sigbus: 0,
    interrupts: 0,
    lostInterrupts: 0,
    msiFaults: 0,
    remapBlocked: 0,
  };
  /** The message the kernel wrote in each physical MSI-X entry (vfio_msi_set_vector_signal's cache). */
  private readonly programmed = new Map<number, { address: bigint; data: number }>();
  /** MSI-X vectors whose doorbell the IOMMU does not map (PAMU without an MSI bank window). */
  private readonly unreachableVectors = new Set<number>();
  private closed = false;
  /** The INTx context (vdev->ctx[0] while irq_type is INTx). */
  readonly intx: KernelIntx;

  constructor(
    private readonly host: SimHost,
    readonly fn: HostFunction,
    readonly container: VfioContainer,
  ) {
    this.hw = hardwareOf(fn);
    this.config = new VirtualConfig(
      fn.spec,
      this.hw.config,
      () => this.irqType === U.VFIO_PCI_MSI_IRQ_INDEX,
      (intxDisable) => this.intx.setVirqDisabled(intxDisable),
    );
    this.hw.irqSink = (v) => this.raise(v);
    this.intx = new KernelIntx(this.hw, fn.spec.address, host.irqLines);
    const kernel = container.kernel;
    this.hw.dma = {
      translate: (iova, w) => container.iommu?.translate(iova, w) ?? null,
      translateRun: (iova, w, run) => container.iommu?.translateRun(iova, w, run) ?? RUN_FAULT,
      memory: kernel.userMemory,
    };
  }

  get name(): string {
    return this.fn.spec.address;
  }

  private get page(): bigint {
    return BigInt(this.host.spec.pageSize);
  }

  /** VFIO_DEVICE_GET_INFO. */
  getInfo(): { flags: number; numRegions: number; numIrqs: number } {
    this.check();
    return {
      flags: U.VFIO_DEVICE_FLAGS_PCI | U.VFIO_DEVICE_FLAGS_RESET,
      numRegions: U.VFIO_PCI_NUM_REGIONS,
      numIrqs: U.VFIO_PCI_NUM_IRQS,
    };
  }

  private bar(index: number): BarSpec | undefined {
    return this.fn.spec.bars.find((b) => b.index === index);
  }

  /**
   * bar_mmap_supported (vfio_pci_probe_mmaps): memory BARs of a page or more; sub-page ones alone in their
   * page from 4.8.
   */
  mmapSupported(index: number): boolean {
    const b = this.bar(index);
    if (!b || b.kind === 'io') return false;
    return b.size >= this.page || this.host.kernel.subPageMmap;
  }

  /** The MSI-X table's byte range, if it lives in this BAR (vdev->msix_offset/msix_size). */
  private tableRange(index: number): { offset: bigint; size: bigint } | null {
    const m = this.fn.spec.msix;
    if (!m || m.table.bar !== index) return null;
    return { offset: BigInt(m.table.offset), size: BigInt(m.entries * 16) };
  }

  /** VFIO_DEVICE_GET_REGION_INFO, with the capability chain of the host kernel's era. */
  getRegionInfo(index: number): U.RegionInfo {
    this.check();
    const offset = BigInt(index) << U.VFIO_PCI_OFFSET_SHIFT;
    if (index < U.VFIO_PCI_ROM_REGION_INDEX) {
      const b = this.bar(index);
      if (!b) return { index, flags: 0, size: 0n, offset, caps: [] };
      let flags = U.VFIO_REGION_INFO_FLAG_READ | U.VFIO_REGION_INFO_FLAG_WRITE;
      const caps: U.RegionCapability[] = [];
      if (this.mmapSupported(index)) {
        flags |= U.VFIO_REGION_INFO_FLAG_MMAP;
        const t = this.tableRange(index);
        if (t && this.host.kernel.msixMappable) caps.push({ id: U.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE });
        else if (t && this.host.kernel.capabilityChains)
          caps.push({ id: U.VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: this.sparseAreas(b.size, t) });
      }
      if (caps.length) flags |= U.VFIO_REGION_INFO_FLAG_CAPS;
      return { index, flags, size: b.size, offset, caps };
    }
    if (index === U.VFIO_PCI_ROM_REGION_INDEX) {
      // The BAR's size, READ only; size 0 when pci_map_rom finds no valid image (vfio_pci_ioctl_get_region_info).
      const ok = this.romImage() > 0;
      return {
        index,
        flags: ok ? U.VFIO_REGION_INFO_FLAG_READ : 0,
        size: ok ? this.fn.spec.romSize : 0n,
        offset,
        caps: [],
      };
    }
    if (index === U.VFIO_PCI_CONFIG_REGION_INDEX) {
      const size = BigInt(this.config.size);
      return { index, flags: U.VFIO_REGION_INFO_FLAG_READ | U.VFIO_REGION_INFO_FLAG_WRITE, size, offset, caps: [] };
    }
    if (index === U.VFIO_PCI_VGA_REGION_INDEX)
      throw new VfioError('EINVAL', `${this.name} is not a VGA device: no VGA region`);
    throw new VfioError(
      'EINVAL',
      `${this.name}: region index ${index} does not exist (0-${U.VFIO_PCI_NUM_REGIONS - 1})`,
    );
  }

  /** msix_sparse_mmap_cap (4.6-4.15): the pages around the table's pages. */
  private sparseAreas(len: bigint, t: { offset: bigint; size: bigint }): { offset: bigint; size: bigint }[] {
    const page = this.page;
    const s = t.offset & ~(page - 1n);
    const e = (t.offset + t.size + page - 1n) & ~(page - 1n);
    const areas: { offset: bigint; size: bigint }[] = [];
    if (s > 0n) areas.push({ offset: 0n, size: s });
    if (e < len) areas.push({ offset: e, size: len - e });
    return areas.length ? areas : [{ offset: 0n, size: 0n }];
  }

  /** mmap() of a BAR range (vfio_pci_core_mmap). */
  mmap(index: number, offset: bigint, size: bigint): DeviceMapping {
    this.check();
    const b = this.bar(index);
    if (index >= U.VFIO_PCI_ROM_REGION_INDEX || !b)
      throw new VfioError('EINVAL', `mmap: region ${index} of ${this.name} is not a BAR that can be mapped`);
    if (!this.mmapSupported(index))
      throw new VfioError(
        'EINVAL',
        `mmap: BAR ${index} of ${this.name} is not mmappable (${b.kind === 'io' ? 'I/O BAR' : 'smaller than a page'})`,
      );
    const page = this.page;
    const limit = (b.size + page - 1n) & ~(page - 1n);
    if ((offset & (page - 1n)) !== 0n || size === 0n || offset + size > limit) {
      throw new VfioError(
        'EINVAL',
        `mmap: 0x${offset.toString(16)}+0x${size.toString(16)} must be page aligned (0x${page.toString(16)}) ` +
          `and inside BAR ${index} (0x${limit.toString(16)})`,
      );
    }
    const t = this.tableRange(index);
    if (t && !this.host.kernel.msixMappable) {
      const ts = t.offset & ~(page - 1n);
      const te = (t.offset + t.size + page - 1n) & ~(page - 1n);
      if (offset < te && ts < offset + size) {
        throw new VfioError(
          'EINVAL',
          `mmap: 0x${offset.toString(16)}+0x${size.toString(16)} covers the MSI-X table pages of BAR ` +
            `${index}; kernel ${this.host.spec.kernel} allows it only from 4.16`,
        );
      }
    }
    const hw = this.hw;
    const barSize = Number(b.size);
    const base = Number(offset);
    const n = Number(size);
    const dev = this;
    return {
      size: n,
      read(off, sz) {
        if (dev.eehFrozen()) return allOnes(sz);
        if (!dev.hw.memoryDecode && dev.host.kernel.memoryDecodeChecks) {
          dev.stats.sigbus++;
          return allOnes(sz);
        }
        return base + off + sz <= barSize ? hw.read(index, base + off, sz) : 0;
      },
      write(off, v, sz) {
        if (dev.eehFrozen()) return;
        if (!dev.hw.memoryDecode && dev.host.kernel.memoryDecodeChecks) {
          dev.stats.sigbus++;
          return;
        }
        if (base + off + sz <= barSize) hw.write(index, base + off, v, sz);
      },
    };
  }

  /**
   * pci_map_rom's size check (drivers/pci/rom.c:pci_get_rom_size): the bytes the ROM's images
   * cover, 0 for an invalid ROM (the kernel's message goes to the host's log once).
   */
  private romImage(): number {
    const rom = this.hw.rom;
    if (!rom) return 0;
    const r = romImageSize(rom);
    if (r.message && !this.host.dmesg.includes(`${this.name}: ${r.message}`))
      this.host.dmesg.push(`${this.name}: ${r.message}`);
    return r.size;
  }

  /** pread on the ROM region: the images, then 0xff to the end of the BAR; ENOMEM when pci_map_rom fails. */
  private romRead(offset: number, size: number): number {
    const image = this.romImage();
    if (!image) throw new VfioError('ENOMEM', `${this.name}: the ROM has no valid image (pci_map_rom failed)`);
    if (offset < 0 || size < 1 || size > 4 || BigInt(offset + size) > this.fn.spec.romSize)
      throw new VfioError('EINVAL', `${this.name}: 0x${offset.toString(16)}+${size} is outside the ROM`);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (offset + i < image ? this.hw.rom![offset + i]! : 0xff);
    return v;
  }

  /** pread on a region (vfio_pci_bar_rw / config): the MSI-X table reads as 0xff bytes. */
  read(index: number, offset: number, size: number): number {
    this.check();
    this.stats.regionReads++;
    if (index === U.VFIO_PCI_CONFIG_REGION_INDEX) {
      this.checkConfigAccess(offset, size);
      return this.config.read(offset, size);
    }
    if (index === U.VFIO_PCI_ROM_REGION_INDEX) return this.romRead(offset, size);
    this.barAccess(index, offset, size);
    if (this.inTable(index, offset, size)) {
      this.stats.tableDrops++;
      return allOnes(size);
    }
    if (this.eehFrozen()) return allOnes(size);
    return this.hw.read(index, offset, size);
  }

  /** pwrite on a region: writes into the MSI-X table are dropped. */
  write(index: number, offset: number, value: number, size: number): void {
    this.check();
    this.stats.regionWrites++;
    if (index === U.VFIO_PCI_CONFIG_REGION_INDEX) {
      this.checkConfigAccess(offset, size);
      this.config.write(offset, value, size);
      return;
    }
    if (index === U.VFIO_PCI_ROM_REGION_INDEX)
      throw new VfioError('EINVAL', `${this.name}: the ROM region is read-only`);
    this.barAccess(index, offset, size);
    if (this.inTable(index, offset, size)) {
      this.stats.tableDrops++;
      return;
    }
    if (this.eehFrozen()) return;
    this.hw.write(index, offset, value, size);
  }

  private barAccess(index: number, offset: number, size: number): void {
    const b = this.bar(index);
    if (index >= U.VFIO_PCI_ROM_REGION_INDEX || !b)
      throw new VfioError('EINVAL', `${this.name}: region ${index} has no read/write path here`);
    if (offset < 0 || size < 1 || BigInt(offset + size) > b.size)
      throw new VfioError('EINVAL', `${this.name}: 0x${offset.toString(16)}+${size} is outside BAR ${index}`);
    if (b.kind !== 'io' && !this.hw.memoryDecode && this.host.kernel.memoryDecodeChecks)
      throw new VfioError('EIO', `${this.name}: BAR ${index} access with memory decode disabled`);
  }

  /** An EEH-frozen PE: MMIO loads return all ones and stores are dropped until UNFREEZE_IO. */
  eehFrozen(): boolean {
    const iommu = this.container.iommu;
    return iommu instanceof SpaprTceIommu && iommu.mmioFrozen(this.fn.group!);
  }

  private checkConfigAccess(offset: number, size: number): void {
    if (offset < 0 || size < 1 || size > 4 || offset + size > this.config.size) {
      throw new VfioError(
        'EINVAL',
        `${this.name}: config access 0x${offset.toString(16)}+${size} is outside the ` +
          `0x${this.config.size.toString(16)}-byte config region`,
      );
    }
  }

  private inTable(index: number, offset: number, size: number): boolean {
    const t = this.tableRange(index);
    return !!t && BigInt(offset) < t.offset + t.size && t.offset < BigInt(offset + size);
  }

  /** VFIO_DEVICE_GET_IRQ_INFO (vfio_pci_intrs.c counts and flags). */
  getIrqInfo(index: number): U.IrqInfo {
    this.check();
    const s = this.fn.spec;
    switch (index) {
      case U.VFIO_PCI_INTX_IRQ_INDEX:
        return {
          index,
          count: s.intxPin ? 1 : 0,
          flags: U.VFIO_IRQ_INFO_EVENTFD | U.VFIO_IRQ_INFO_MASKABLE | U.VFIO_IRQ_INFO_AUTOMASKED,
        };
      case U.VFIO_PCI_MSI_IRQ_INDEX:
        return { index, count: s.msi?.vectors ?? 0, flags: U.VFIO_IRQ_INFO_EVENTFD | U.VFIO_IRQ_INFO_NORESIZE };
      case U.VFIO_PCI_MSIX_IRQ_INDEX:
        return {
          index,
          count: s.msix?.entries ?? 0,
          flags: U.VFIO_IRQ_INFO_EVENTFD | (this.host.kernel.dynamicMsix ? 0 : U.VFIO_IRQ_INFO_NORESIZE),
        };
      case U.VFIO_PCI_ERR_IRQ_INDEX:
        return { index, count: s.type === 'legacy-endpoint' ? 0 : 1, flags: U.VFIO_IRQ_INFO_EVENTFD };
      case U.VFIO_PCI_REQ_IRQ_INDEX:
        return { index, count: 1, flags: U.VFIO_IRQ_INFO_EVENTFD };
      default:
        throw new VfioError('EINVAL', `${this.name}: IRQ index ${index} does not exist (0-${U.VFIO_PCI_NUM_IRQS - 1})`);
    }
  }

  /** VFIO_DEVICE_SET_IRQS (vfio_set_irqs_validate_and_prepare, vfio_pci_set_irqs_ioctl). */
  setIrqs(req: SetIrqsRequest): void {
    this.check();
    const { index, start, count, flags } = req;
    const info = this.getIrqInfo(index);
    const dataFlags = flags & (U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_DATA_BOOL | U.VFIO_IRQ_SET_DATA_EVENTFD);
    const action = flags & (U.VFIO_IRQ_SET_ACTION_MASK | U.VFIO_IRQ_SET_ACTION_UNMASK | U.VFIO_IRQ_SET_ACTION_TRIGGER);
    const label =
      `SET_IRQS(${['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'][index]}, ` +
      `${dataFlags === 1 ? 'NONE' : dataFlags === 2 ? 'BOOL' : 'EVENTFD'}|${action === 8 ? 'MASK' : action === 16 ? 'UNMASK' : 'TRIGGER'}, ${start}, ${count})`;
    this.container.kernel.log.push(label);
    const one = (x: number) => x !== 0 && (x & (x - 1)) === 0;
    if (!one(dataFlags) || !one(action) || flags & ~0x3f)
      throw new VfioError('EINVAL', `${label}: exactly one DATA_* and one ACTION_* flag are required`);
    if (
      start < 0 ||
      count < 0 ||
      (count > 0 && start + count > info.count) ||
      (count === 0 && !(dataFlags === U.VFIO_IRQ_SET_DATA_NONE && action === U.VFIO_IRQ_SET_ACTION_TRIGGER))
    ) {
      throw new VfioError(
        'EINVAL',
        `${label}: vectors ${start}..${start + count - 1} are outside the ${info.count} this index has`,
      );
    }
    if (dataFlags !== U.VFIO_IRQ_SET_DATA_NONE && (req.data?.length ?? 0) < count)
      throw new VfioError('EINVAL', `${label}: ${count} data elements expected`);
    if (index === U.VFIO_PCI_INTX_IRQ_INDEX) {
      this.setIntxIrqs(label, action, dataFlags, start, count, req.data);
      return;
    }
    if (action !== U.VFIO_IRQ_SET_ACTION_TRIGGER)
      throw new VfioError('ENOTTY', `${label}: not implemented by vfio-pci`);
    if (index === U.VFIO_PCI_ERR_IRQ_INDEX || index === U.VFIO_PCI_REQ_IRQ_INDEX) {
      // One eventfd context each, independent of the active interrupt type (vfio_pci_set_ctx_trigger_single).
      const fd =
        dataFlags === U.VFIO_IRQ_SET_DATA_EVENTFD && count === 1 ? ((req.data as (EventFd | null)[])[0] ?? null) : null;
      if (dataFlags === U.VFIO_IRQ_SET_DATA_EVENTFD || count === 0) this.notifiers[index] = fd;
      else this.notifiers[index]?.signal();
      return;
    }
    if (dataFlags === U.VFIO_IRQ_SET_DATA_NONE && count === 0) {
      if (this.irqType === index) this.disableIrqs();
      return;
    }
    if (dataFlags !== U.VFIO_IRQ_SET_DATA_EVENTFD) {
      // Loopback: the kernel signals the bound eventfds itself.
      for (let v = start; v < start + count; v++)
        if (dataFlags === U.VFIO_IRQ_SET_DATA_NONE || (req.data as boolean[])[v - start]) this.triggers[v]?.signal();
      return;
    }
    if (this.irqType !== -1 && this.irqType !== index)
      throw new VfioError(
        'EINVAL',
        `${label}: ${['INTx', 'MSI', 'MSI-X'][this.irqType]} is active; disable it first (only one interrupt ` +
          'type at a time)',
      );
    const msi = index === U.VFIO_PCI_MSI_IRQ_INDEX || index === U.VFIO_PCI_MSIX_IRQ_INDEX;
    if (
      this.irqType === index &&
      msi &&
      start + count > this.triggers.length &&
      info.flags & U.VFIO_IRQ_INFO_NORESIZE
    ) {
      throw new VfioError(
        'EINVAL',
        `${label}: ${this.triggers.length} vectors are allocated and the index cannot grow (NORESIZE); ` +
          `disable and re-enable with ${start + count}`,
      );
    }
    if (this.irqType !== index) {
      this.irqType = index;
      this.hw.setIrqMode(index === U.VFIO_PCI_MSIX_IRQ_INDEX ? 'msix' : 'msi');
      this.triggers.length = 0;
      for (let v = 0; v < start + count; v++) this.triggers.push(null);
    }
    while (this.triggers.length < start + count) this.triggers.push(null);
    const fds = req.data as (EventFd | null)[];
    for (let v = start; v < start + count; v++) {
      this.triggers[v] = fds[v - start] ?? null;
      if (index === U.VFIO_PCI_MSIX_IRQ_INDEX && fds[v - start]) this.programHostVector(v);
    }
  }

  /**
   * SET_IRQS on the INTx index (vfio_pci_set_intx_trigger / _unmask / _mask): TRIGGER enables
   * INTx with an eventfd (only while no other type is active; the line is requested here, so a
   * line held exclusively fails with EBUSY), loops back with NONE/BOOL, or disables with count 0;
   * UNMASK and MASK need INTx enabled; MASK by eventfd is not implemented (ENOTTY).
   */
  private setIntxIrqs(
    label: string,
    action: number,
    dataFlags: number,
    start: number,
    count: number,
    data: SetIrqsRequest['data'],
  ): void {
    const isIntx = this.irqType === U.VFIO_PCI_INTX_IRQ_INDEX;
    const fd = () => (data as (EventFd | null)[])[0] ?? null;
    const yes = () => dataFlags === U.VFIO_IRQ_SET_DATA_NONE || (data as boolean[])[0] === true;
    if (action === U.VFIO_IRQ_SET_ACTION_TRIGGER) {
      if (isIntx && count === 0 && dataFlags === U.VFIO_IRQ_SET_DATA_NONE) {
        this.disableIrqs();
        return;
      }
      if (!(isIntx || this.irqType === -1) || start !== 0 || count !== 1) {
        throw new VfioError(
          'EINVAL',
          `${label}: ${this.irqType >= 0 && !isIntx ? `${['INTx', 'MSI', 'MSI-X'][this.irqType]} is active; disable it first (only one interrupt type at a time)` : 'INTx takes exactly vector 0'}`,
        );
      }
      if (dataFlags === U.VFIO_IRQ_SET_DATA_EVENTFD) {
        if (isIntx) this.intx.setSignal(fd());
        else {
          this.intx.enable(fd());
          this.irqType = U.VFIO_PCI_INTX_IRQ_INDEX;
          this.hw.setIrqMode('intx');
        }
        return;
      }
      if (!isIntx) throw new VfioError('EINVAL', `${label}: INTx is not enabled`);
      if (yes()) this.intx.send(); // loopback through vfio_send_intx_eventfd: silent while INTX_DISABLE is set
      return;
    }
    if (!isIntx)
      throw new VfioError(
        'EINVAL',
        `${label}: INTx is not enabled (irq_type is ` +
          `${this.irqType < 0 ? 'none' : ['INTx', 'MSI', 'MSI-X'][this.irqType]})`,
      );
    if (action === U.VFIO_IRQ_SET_ACTION_UNMASK) {
      if (dataFlags === U.VFIO_IRQ_SET_DATA_EVENTFD) this.intx.setUnmaskFd(fd());
      else if (yes()) this.intx.unmask();
      return;
    }
    if (dataFlags === U.VFIO_IRQ_SET_DATA_EVENTFD)
      throw new VfioError('ENOTTY', `${label}: masking by eventfd is not implemented by vfio-pci`);
    if (yes()) this.intx.mask();
  }

  /** The host kernel writes the physical MSI-X entry: doorbell (through the SW_MSI window) and its event id. */
  private programHostVector(v: number): void {
    const m = this.fn.spec.msix!;
    const block = this.hw.bars.get(m.table.bar)!;
    const address = this.container.iommu
      ? this.container.iommu.msiAddress(this.host.spec.msi.doorbell)
      : this.host.spec.msi.doorbell;
    if (address === null) this.unreachableVectors.add(v);
    else this.unreachableVectors.delete(v);
    const base = m.table.offset + v * 16;
    block.write(base, Number((address ?? 0n) & 0xffffffffn), 4);
    block.write(base + 4, Number((address ?? 0n) >> 32n), 4);
    block.write(base + 8, 0x4000 + v, 4);
    block.write(base + 12, 0, 4);
    this.programmed.set(v, { address: address ?? 0n, data: 0x4000 + v });
  }

  /** Whether the physical table entry still holds the message the kernel programmed. */
  private entryMatches(v: number): boolean {
    const want = this.programmed.get(v);
    if (!want) return true;
    return (
      this.hostVectorAddress(v) === want.address &&
      this.hw.bars.get(this.fn.spec.msix!.table.bar)!.read(this.fn.spec.msix!.table.offset + v * 16 + 8, 4) ===
        want.data
    );
  }

  /** The physical address a host vector's message targets, as programmed (for reports and tests). */
  hostVectorAddress(v: number): bigint {
    const m = this.fn.spec.msix!;
    const block = this.hw.bars.get(m.table.bar)!;
    return (BigInt(block.read(m.table.offset + v * 16 + 4, 4)) << 32n) | BigInt(block.read(m.table.offset + v * 16, 4));
  }

  /** The hardware raises `vector` of the active type: its eventfd is signalled, or the interrupt is lost. */
  raise(vector: number): boolean {
    if (this.irqType === U.VFIO_PCI_MSIX_IRQ_INDEX && this.unreachableVectors.has(vector)) {
      this.stats.msiFaults++; // the doorbell has no IOVA: the device's MSI write faults in the IOMMU
      return false;
    }
    if (this.irqType === U.VFIO_PCI_MSIX_IRQ_INDEX && !this.entryMatches(vector) && this.host.msiIsolated()) {
      this.stats.remapBlocked++; // a user rewrote the entry through an mmap: the IRTE/ITS check refuses it
      return false;
    }
    const fd = this.triggers[vector];
    if (!fd) {
      this.stats.lostInterrupts++;
      return false;
    }
    this.stats.interrupts++;
    fd.signal();
    return true;
  }

  private disableIrqs(): void {
    if (this.irqType === U.VFIO_PCI_INTX_IRQ_INDEX) this.intx.disable();
    this.irqType = -1;
    this.triggers.length = 0;
    this.hw.setIrqMode('intx');
  }

  /** VFIO_DEVICE_RESET (pci_try_reset_function): registers back to zero, interrupts off. */
  reset(): void {
    this.check();
    for (const b of this.hw.bars.values()) b.clear();
    this.disableIrqs();
  }

  /** The last fd closed (vfio_pci_core_close_device): interrupts off, the device released. */
  close(): void {
    if (this.closed) return;
    this.disableIrqs();
    this.hw.irqSink = null;
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new VfioError('EBADF', `${this.name}: the device fd is closed`);
  }
}

function allOnes(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
