import type { AddressSpace, MemoryRegion, MemorySystem } from '../memory/index.ts';
import { addOptionRom, Msi, Msix, MsiSetupError, PciDevice, type MsiMessage } from '../pci/index.ts';
import * as R from '../common/pci-regs.ts';
import { EventFd } from '../common/eventfd.ts';
import { VfioError } from '../common/errno.ts';
import type { DeviceFd, GroupFd, VfioApi } from '../common/vfio-api.ts';
import * as U from '../common/vfio-uapi.ts';
import { VmmContainer, type DmaPolicy } from './container.ts';
import type { ProcessMemory } from './process-memory.ts';
import { INTX_MMAP_TIMEOUT_MS, VfioIntx, type IntxMachine } from './intx.ts';
import { VfioRom } from './rom.ts';
import { setUpBarQuirks } from './quirks.ts';
import {
  fixPbaOffset,
  fixupMsixMmaps,
  relocateMsix,
  VfioRealizeError,
  type BarInfo,
  type MsixLayout,
  type Relocation,
} from './msix-layout.ts';

/** vfio-pci device options, named as QEMU names them. */
export interface VfioPciOptions {
  /** host=0000:01:00.0 */
  host: string;
  /** id= (the qdev id); defaults to hostdevN. */
  id?: string;
  /** x-msix-relocation=off|auto|bar0..bar5 */
  msixRelocation?: Relocation;
  /** x-no-mmap=on: every BAR access traps. */
  noMmap?: boolean;
  /** addr=SLOT[.FN] on the machine's root bus (hex, as QEMU takes it); the first free slot when absent. */
  addr?: string;
  /** multifunction=on: function 0 of a slot whose other functions are populated. */
  multifunction?: boolean;
  /** rombar=0: no ROM BAR at all. */
  romBar?: boolean;
  /** romfile=FILE: the ROM BAR serves this file instead of the device's ROM (pci_add_option_rom). */
  romFile?: string;
  /** x-no-kvm-intx=on: INTx always through QEMU (the VMM path), never a KVM resample irqfd. */
  noKvmIntx?: boolean;
  /** x-intx-mmap-timeout-ms: how long after an INTx the BAR mmaps stay off (0: until INTx is disabled). */
  intxMmapTimeoutMs?: number;
}

/** What the machine gives vfio-pci: the VFIO API, the DMA address space and the machine's policies. */
export interface VfioPciContext {
  mem: MemorySystem;
  kernel: VfioApi;
  /** The VMM process's memory map (where guest RAM's vaddrs are). */
  process: ProcessMemory;
  dmaAs: AddressSpace;
  containers: VmmContainer[];
  groups: Map<number, GroupFd>;
  policy: DmaPolicy;
  /** QEMU's vfio-no-msix-emulation machine property (pseries). */
  noMsixEmulation: boolean;
  msiSupported: boolean;
  express: boolean;
  /** KVM's irqfd: an MSI injected into the interrupt controller without going through the VMM. */
  injectMsi(msg: MsiMessage): void;
  /** The machine's clock and KVM's resampling irqfd, for INTx. */
  intx: IntxMachine;
  warn(message: string): void;
}

/** A BAR as vfio_bar_register builds it. */
export interface VfioBar {
  index: number;
  info: BarInfo;
  /** "<host> base BAR n": the container registered as the PCI BAR. */
  base: MemoryRegion;
  /** "<host> BAR n": the trapped region (pread/pwrite on the device fd), absent for a relocation-only BAR. */
  trapped: MemoryRegion | null;
  mmaps: { offset: bigint; size: bigint; region: MemoryRegion; mapping: U.DeviceMapping }[];
  /** Device quirk regions laid over the trapped region (pci-quirks.c:vfio_bar_quirk_setup). */
  quirks: MemoryRegion[];
  /** Size of the host's region (the guest BAR may be larger after relocation). */
  regionSize: bigint;
}

/** How guest BAR accesses were served. */
export interface BarPathCounts {
  /** Through a KVM memslot over an mmap: no exit. */
  mmap: number;
  /** Through an mmap, but its host page is shared with an overlay: a VMM exit served by pointer. */
  mmapExit: number;
  /** Trapped to the VMM and forwarded to the kernel with pread/pwrite. */
  trapped: number;
}

/**
 * QEMU's vfio-pci (hw/vfio/pci.c) on vdm's VFIO API: realize in QEMU's order, the BAR tree of
 * mmapped, trapped and overlay regions, config-space virtualization on top of the kernel's, MSI and
 * MSI-X enable and vector use/release as SET_IRQS, and host interrupts delivered to the guest.
 */
export class VfioPciDevice extends PciDevice {
  readonly hostName: string;
  readonly vbar: (VfioBar | null)[] = new Array(6).fill(null);
  msixLayout: MsixLayout | null = null;
  readonly counts: BarPathCounts = { mmap: 0, mmapExit: 0, trapped: 0 };
  /** The same counts per BAR (the boot report shows which BAR's pages are slow). */
  readonly barCounts: BarPathCounts[] = Array.from({ length: 6 }, () => ({ mmap: 0, mmapExit: 0, trapped: 0 }));
  /** The device's own ROM behind BAR6 (null with rombar=0, romfile= or no ROM). */
  rom: VfioRom | null = null;
  /** INTx (hw/vfio/pci.c vfio_intx_*), for a device with an interrupt pin. */
  readonly intx: VfioIntx;
  readonly interrupts = { kvm: 0, vmm: 0, pended: 0 };
  /** VFIO calls this device made, in order (from the kernel's log). */
  readonly calls: string[] = [];
  /** MSI-X vectors QEMU asked the kernel for (vdev->nr_vectors). */
  nrVectors = 0;
  private readonly kvmFds: EventFd[] = [];
  private readonly vmmFds: EventFd[] = [];
  /** KVM MSI routes by vector, built from the message at use time. */
  private readonly routes: MsiMessage[] = [];
  private readonly vectorUsed: boolean[] = [];
  private batching = false;
  private msiFds: EventFd[] = [];
  private readonly physCaps: { id: number; pos: number; len: number }[];
  /**
   * vdev->emulated_config_bits: per config bit, 1 where the guest reads vdm's copy, 0 where it
   * reads the kernel's config region (COMMAND, STATUS, ids, capability bodies...).
   */
  private readonly emulatedBits: Uint8Array;
  /** Per BAR, one byte per host page: 1 where KVM cannot make a memslot (shared with an enabled overlay). */
  private readonly exitPages: Uint8Array[] = [];
  private readonly pageShift: number;

  private constructor(
    private readonly ctx: VfioPciContext,
    readonly options: VfioPciOptions & { id: string },
    readonly deviceFd: DeviceFd,
    readonly group: GroupFd,
    readonly container: VmmContainer,
    phys: Uint8Array,
  ) {
    const word = (o: number) => phys[o]! | (phys[o + 1]! << 8);
    super({
      mem: ctx.mem,
      name: options.id,
      vendorId: word(R.PCI_VENDOR_ID),
      deviceId: word(R.PCI_DEVICE_ID),
      classCode: phys[9]! | (word(10) << 8),
      revision: phys[8]!,
      subsystemVendorId: word(R.PCI_SUBSYSTEM_VENDOR_ID),
      subsystemId: word(R.PCI_SUBSYSTEM_ID),
      express: ctx.express && phys.length > 256,
      interruptPin: phys[R.PCI_INTERRUPT_PIN]!,
      msiSupported: ctx.msiSupported,
      // QEMU owns the multifunction bit whatever the host function says (vfio_realize).
      multifunction: options.multifunction ?? false,
    });
    this.hostName = options.host;
    this.pageShift = Math.log2(ctx.kernel.pageSize());
    this.physCaps = capabilityList(phys);
    this.emulatedBits = new Uint8Array(this.cfg.size);
    // vfio_pci_config_setup: QEMU chooses whether to expose the ROM and can add or extend BARs, and
    // it owns the multifunction bit; the rest of the header is the kernel's.
    this.emulatedBits.fill(0xff, R.PCI_ROM_ADDRESS, R.PCI_ROM_ADDRESS + 4);
    this.emulatedBits.fill(0xff, R.PCI_BASE_ADDRESS_0, R.PCI_BASE_ADDRESS_0 + 24);
    this.emulatedBits[R.PCI_HEADER_TYPE] = R.PCI_HEADER_TYPE_MULTI_FUNCTION;
    const self = this;
    this.intx = new VfioIntx(
      {
        name: this.name,
        pin: () => this.cfg.byte(R.PCI_INTERRUPT_PIN),
        route: (pin) => this.routeIntx(pin),
        setIrq: (level) => this.setIrq(level),
        setMmapsEnabled: (on) => this.setMmapsEnabled(on),
        setIrqs(index, start, count, flags, data) {
          // The UNMASK after every EOI is not worth a line in the call list; set-up calls are.
          self.irqSet(
            { index, start, count, flags, data },
            flags !== (U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_UNMASK),
          );
        },
      },
      ctx.intx,
      { noKvm: options.noKvmIntx ?? false, mmapTimeoutMs: options.intxMmapTimeoutMs ?? INTX_MMAP_TIMEOUT_MS },
    );
    this.intxRoutingNotifier = () => this.intx.routingChanged();
  }

  /** Plugged: INTx can be routed now (vfio_realize ends with vfio_intx_enable when the pin is set). */
  override attached(bus: Parameters<PciDevice['attached']>[0], devfn: number): void {
    super.attached(bus, devfn);
    this.intx.enable();
  }

  /** vfio_mmap_set_enabled: every BAR's mmap subregions on or off (INTx on the VMM path). */
  private setMmapsEnabled(on: boolean): void {
    this.mem.transaction(() => {
      for (const vb of this.vbar) for (const m of vb?.mmaps ?? []) m.region.setEnabled(on);
    });
  }

  /** vfio_realize: group, container, device fd, config, BARs, MSI-X placement, capabilities. */
  /** `options.id` is the qdev id; the machine names devices without id= hostdevN (see checkedDevices). */
  static realize(ctx: VfioPciContext, options: VfioPciOptions & { id: string }): VfioPciDevice {
    const { kernel } = ctx;
    const mark = kernel.log.length;
    const host = options.host;
    let gid: number;
    try {
      gid = kernel.groupOf(host);
    } catch (e) {
      throw new VfioRealizeError(`vfio ${host}: no such host device (${(e as Error).message})`);
    }
    let group = ctx.groups.get(gid);
    if (!group) {
      group = kernel.openGroup(gid);
      ctx.groups.set(gid, group);
    }
    if (!(group.getStatus().flags & U.VFIO_GROUP_FLAGS_VIABLE)) {
      throw new VfioRealizeError(
        `vfio ${host}: error group ${gid} is not viable. Please ensure all devices within the iommu_group are bound to their vfio bus driver. (${kernel.viabilityAdvice(gid)})`,
      );
    }
    const container =
      ctx.containers.find((c) => c.groups.includes(group)) ??
      VmmContainer.connect(kernel, ctx.process, group, ctx.dmaAs, ctx.containers, ctx.policy);
    const vdev = group.getDeviceFd(host);
    vdev.getInfo();
    const cfgInfo = vdev.getRegionInfo(U.VFIO_PCI_CONFIG_REGION_INDEX);
    const phys = new Uint8Array(Number(cfgInfo.size));
    for (let o = 0; o < phys.length; o += 4) {
      const v = vdev.read(U.VFIO_PCI_CONFIG_REGION_INDEX, o, 4);
      for (let i = 0; i < 4; i++) phys[o + i] = (v >>> (8 * i)) & 0xff;
    }
    const dev = new VfioPciDevice(ctx, options, vdev, group, container, phys);
    ctx.mem.transaction(() => dev.setUp(phys));
    dev.calls.push(...kernel.log.slice(mark));
    return dev;
  }

  /** vfio_bars_prepare, vfio_msix_early_setup, fixup, relocation, vfio_bars_register, capabilities. */
  private setUp(phys: Uint8Array): void {
    const infos: (BarInfo | null)[] = [];
    const regions = [0, 1, 2, 3, 4, 5].map((i) => this.deviceFd.getRegionInfo(i));
    for (let i = 0; i < 6; i++) {
      const r = regions[i]!;
      if (r.size === 0n) {
        infos.push(null);
        continue;
      }
      const low = this.deviceFd.read(U.VFIO_PCI_CONFIG_REGION_INDEX, R.PCI_BASE_ADDRESS_0 + 4 * i, 4);
      const ioport = (low & R.PCI_BASE_ADDRESS_SPACE_IO) !== 0;
      infos.push({
        index: i,
        size: r.size,
        ioport,
        mem64: !ioport && (low & R.PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0,
        prefetch: !ioport && (low & R.PCI_BASE_ADDRESS_MEM_PREFETCH) !== 0,
      });
    }
    const relocation = this.options.msixRelocation ?? 'off';
    const msixCap = this.physCaps.find((c) => c.id === R.PCI_CAP_ID_MSIX);
    const areas = regions.map((r) => this.mmapAreas(r));
    let bars = infos;
    if (msixCap) {
      const rd = (o: number) => (phys[o]! | (phys[o + 1]! << 8) | (phys[o + 2]! << 16) | (phys[o + 3]! << 24)) >>> 0;
      const table = rd(msixCap.pos + R.PCI_MSIX_TABLE);
      const pba = rd(msixCap.pos + R.PCI_MSIX_PBA);
      let layout: MsixLayout = {
        entries: ((phys[msixCap.pos + 2]! | (phys[msixCap.pos + 3]! << 8)) & R.PCI_MSIX_FLAGS_QSIZE) + 1,
        tableBar: table & 7,
        tableOffset: table & ~7,
        pbaBar: pba & 7,
        pbaOffset: pba & ~7,
        noresize: (this.deviceFd.getIrqInfo(U.VFIO_PCI_MSIX_IRQ_INDEX).flags & U.VFIO_IRQ_INFO_NORESIZE) !== 0,
      };
      layout = fixPbaOffset(layout, regions[layout.pbaBar]!.size, this.vendorId, this.deviceId, relocation);
      const t = regions[layout.tableBar]!;
      if (!t.caps.some((c) => c.id === U.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)) {
        areas[layout.tableBar] = fixupMsixMmaps(
          areas[layout.tableBar]!,
          t.size,
          layout,
          BigInt(this.ctx.kernel.pageSize()),
        );
      }
      const moved = relocateMsix(
        layout,
        infos,
        relocation,
        BigInt(this.ctx.kernel.pageSize()),
        this.vendorId,
        this.deviceId,
      );
      layout = moved.layout;
      bars = moved.bars;
      this.msixLayout = layout;
    }
    bars.forEach((b, i) => {
      if (b) this.registerVfioBar(b, regions[i]!.size, areas[i]!);
    });
    this.setUpRom();
    this.addCapabilities(phys);
    this.updateExitPages();
  }

  /** The mmappable areas QEMU sets up for a region (vfio_setup_region_sparse_mmaps or one whole mmap). */
  private mmapAreas(r: U.RegionInfo): { offset: bigint; size: bigint }[] {
    if (!(r.flags & U.VFIO_REGION_INFO_FLAG_MMAP) || this.options.noMmap) return [];
    const sparse = r.caps.find((c) => c.id === U.VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    if (sparse && sparse.id === U.VFIO_REGION_INFO_CAP_SPARSE_MMAP) return sparse.areas.filter((a) => a.size > 0n);
    return [{ offset: 0n, size: r.size }];
  }

  /** vfio_bar_register: base container, trapped region, mmaps laid on it at priority 0. */
  private registerVfioBar(info: BarInfo, regionSize: bigint, areas: { offset: bigint; size: bigint }[]): void {
    const n = info.index;
    const mem = this.ctx.mem;
    const base = mem.container(`${this.hostName} base BAR ${n}`, info.size);
    let trapped: MemoryRegion | null = null;
    const mmaps: VfioBar['mmaps'] = [];
    let quirks: MemoryRegion[] = [];
    if (regionSize > 0n) {
      const vdev = this.deviceFd;
      const counts = this.counts;
      const own = this.barCounts[n]!;
      const intx = this.intx;
      // vfio_region_read/write, then vbasedev->ops->vfio_eoi: a trapped access is INTx's EOI.
      trapped = mem.io(`${this.hostName} BAR ${n}`, regionSize, {
        valid: { minAccessSize: 1, maxAccessSize: 4 },
        impl: { minAccessSize: 1, maxAccessSize: 4 },
        endianness: 'little',
        read: (off, size) => {
          counts.trapped++;
          own.trapped++;
          const v = vdev.read(n, off, size);
          intx.eoi();
          return v;
        },
        write: (off, v, size) => {
          counts.trapped++;
          own.trapped++;
          vdev.write(n, off, Number(v), size);
          intx.eoi();
        },
      });
      base.addSubregion(0, trapped);
      const page = BigInt(this.ctx.kernel.pageSize());
      areas.forEach((a, i) => {
        let mapping: U.DeviceMapping;
        try {
          // A sub-page BAR is mapped as a whole host page; the region starts at the BAR's size.
          mapping = vdev.mmap(n, a.offset, a.size < page ? page : a.size);
        } catch (e) {
          if (!(e instanceof VfioError)) throw e;
          this.ctx.warn(`Failed to mmap ${this.hostName} BAR ${n}. Performance may be slow`);
          return;
        }
        this.exitPages[n] ??= new Uint8Array(Number((regionSize + page - 1n) / page));
        const at = Number(a.offset);
        // Each access through the mmap counts as a memslot hit or, on a page KVM cannot map, an exit.
        const count = (off: number) => {
          if (this.mmapExits(n, at + off)) {
            counts.mmapExit++;
            own.mmapExit++;
          } else {
            counts.mmap++;
            own.mmap++;
          }
        };
        const region = mem.ramDevice(`${this.hostName} BAR ${n} mmaps[${i}]`, a.size, {
          read: (off, size) => {
            count(off);
            return mapping.read(off, size);
          },
          write: (off, v, size) => {
            count(off);
            mapping.write(off, v, size);
          },
        });
        trapped!.addSubregion(a.offset, region);
        mmaps.push({ offset: a.offset, size: a.size, region, mapping });
      });
      quirks = setUpBarQuirks(this, n, trapped);
    }
    this.vbar[n] = { index: n, info, base, trapped, mmaps, quirks, regionSize };
    const type = info.ioport
      ? R.PCI_BASE_ADDRESS_SPACE_IO
      : (info.mem64 ? R.PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (info.prefetch ? R.PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    this.registerBar(n, type, base);
  }

  /** vfio_pci_size_rom, or pci_add_option_rom for romfile= (QEMU leaves the file to the PCI core). */
  private setUpRom(): void {
    const romBar = this.options.romBar ?? true;
    if (this.options.romFile) {
      addOptionRom(this, 'vfio-pci', this.options.romFile, romBar);
      return;
    }
    if (!romBar) return;
    this.rom = VfioRom.size(
      this.mem,
      this.hostName,
      this.deviceFd,
      { vendor: this.vendorId, device: this.deviceId },
      (m) => this.ctx.warn(m),
    );
    if (this.rom) this.registerBar(R.PCI_ROM_SLOT, R.PCI_BASE_ADDRESS_SPACE_MEMORY, this.rom.region);
  }

  /**
   * vfio_add_capabilities: the physical chain rebuilt in vdm's copy, its list pointers emulated (so
   * a capability vdm drops is skipped); MSI and MSI-X emulated whole; other capabilities' bodies
   * are read from the kernel.
   */
  private addCapabilities(phys: Uint8Array): void {
    if (this.physCaps.length) {
      // vfio_add_std_cap, at the end of the chain: QEMU's list head and STATUS.CAP_LIST.
      this.emulatedBits[R.PCI_CAPABILITY_LIST] = 0xff;
      this.emulatedBits[R.PCI_STATUS] = this.emulatedBits[R.PCI_STATUS]! | R.PCI_STATUS_CAP_LIST;
    }
    for (const c of [...this.physCaps].reverse()) {
      if (c.pos + c.len > R.PCI_CONFIG_SPACE_SIZE) continue;
      if (c.id === R.PCI_CAP_ID_MSIX && this.msixLayout) this.msixSetup(c.pos);
      else if (c.id === R.PCI_CAP_ID_MSI) this.msiSetup(c.pos, phys);
      else {
        this.cfg.addCapability(c.id, c.pos, c.len);
        for (let i = 2; i < c.len; i++) this.cfg.config[c.pos + i] = phys[c.pos + i]!;
        if (c.id === R.PCI_CAP_ID_EXP) this.setUpPcieCap(c.pos);
      }
      this.emulatedBits[c.pos + R.PCI_CAP_LIST_NEXT] = 0xff; // vfio_add_std_cap: emulated next pointer
    }
  }

  /**
   * vfio_setup_pcie_cap, for a device on the root bus (where vdm places every device): on a PCI
   * Express root bus an Endpoint becomes a Root Complex Integrated Endpoint and its link registers
   * read 0, all of it emulated; on a conventional root bus the capability is the device's as is.
   */
  private setUpPcieCap(pos: number): void {
    if (!this.ctx.express) return;
    const type = (this.cfg.word(pos + R.PCI_EXP_FLAGS) & R.PCI_EXP_FLAGS_TYPE) >> 4;
    if (type !== R.PCI_EXP_TYPE_ENDPOINT) return;
    this.addEmulated(pos + R.PCI_EXP_FLAGS, 2, R.PCI_EXP_TYPE_RC_END << 4, R.PCI_EXP_FLAGS_TYPE);
    const size = this.stdCapMaxSize(pos);
    if (size <= R.PCI_EXP_LNKCTL) return;
    this.addEmulated(pos + R.PCI_EXP_LNKCAP, 4, 0, 0xffffffff);
    this.addEmulated(pos + R.PCI_EXP_LNKCTL, 2, 0, 0xffff);
    this.addEmulated(pos + R.PCI_EXP_LNKSTA, 2, 0, 0xffff);
    if (size <= R.PCI_EXP_LNKCAP2) return;
    this.addEmulated(pos + R.PCI_EXP_LNKCAP2, 4, 0, 0xffffffff);
    this.addEmulated(pos + R.PCI_EXP_LNKCTL2, 2, 0, 0xffff);
    this.addEmulated(pos + R.PCI_EXP_LNKSTA2, 2, 0, 0xffff);
  }

  /** vfio_add_emulated_word/long: `mask` bits of vdm's copy hold `val`, read-only and emulated. */
  private addEmulated(pos: number, len: 2 | 4, val: number, mask: number): void {
    const c = this.cfg;
    for (let i = 0; i < len; i++) {
      const m = (mask >>> (8 * i)) & 0xff;
      c.config[pos + i] = (c.config[pos + i]! & ~m) | ((val >>> (8 * i)) & m);
      c.wmask[pos + i] = c.wmask[pos + i]! & ~m;
      this.emulatedBits[pos + i] = this.emulatedBits[pos + i]! | m;
    }
  }

  /** vfio_std_cap_max_size: room up to the next capability of the device's chain, or to 0x100. */
  private stdCapMaxSize(pos: number): number {
    const next = this.physCaps.map((c) => c.pos).filter((p) => p > pos);
    return Math.min(R.PCI_CONFIG_SPACE_SIZE, ...next) - pos;
  }

  /** vfio_msix_setup → msix_init: overlays on the BAR containers; the PBA starts disabled. */
  private msixSetup(pos: number): void {
    const l = this.msixLayout!;
    try {
      const msix = new Msix(
        this,
        l.entries,
        { bar: this.vbar[l.tableBar]!.base, barNr: l.tableBar, offset: l.tableOffset },
        { bar: this.vbar[l.pbaBar]!.base, barNr: l.pbaBar, offset: l.pbaOffset },
        pos,
      );
      msix.pbaRegion.setEnabled(false);
      if (this.ctx.noMsixEmulation) msix.tableRegion.setEnabled(false);
      this.emulatedBits.fill(0xff, pos, pos + 12); // vfio_realize: QEMU emulates all of MSI-X
    } catch (e) {
      if (!(e instanceof MsiSetupError)) throw e;
      if (/overlap|fit|align/.test(e.message))
        throw new VfioRealizeError(`vfio ${this.hostName}: msix_init failed: ${e.message}`);
      this.ctx.warn(`vfio ${this.hostName}: ${e.message}`); // msi_nonbroken is false: QEMU only warns
    }
  }

  private msiSetup(pos: number, phys: Uint8Array): void {
    const flags = phys[pos + 2]! | (phys[pos + 3]! << 8);
    try {
      const msi = new Msi(
        this,
        pos,
        1 << ((flags & R.PCI_MSI_FLAGS_QMASK) >> 1),
        (flags & R.PCI_MSI_FLAGS_64BIT) !== 0,
        (flags & R.PCI_MSI_FLAGS_MASKBIT) !== 0,
      );
      // vfio_realize: QEMU emulates all of MSI (vdev->msi_cap_size bytes)
      this.emulatedBits.fill(0xff, pos, pos + (msi.is64 ? 14 : 10) + (msi.perVectorMask ? 10 : 0));
    } catch (e) {
      if (!(e instanceof MsiSetupError)) throw e;
      this.ctx.warn(`vfio ${this.hostName}: msi_init failed: ${e.message}`);
    }
  }

  /**
   * vfio_pci_read_config: bit by bit, vdm's copy (pci_default_read_config) where the bit is
   * emulated, the kernel's config region (pread) elsewhere; each side is read only when needed.
   */
  protected override readConfig(offset: number, len: number): number {
    const emuBits = this.cfg.read(offset, len, this.emulatedBits);
    const all = len === 4 ? 0xffffffff : 2 ** (len * 8) - 1;
    const emuVal = emuBits ? super.readConfig(offset, len) : 0;
    const physVal = emuBits !== all ? this.deviceFd.read(U.VFIO_PCI_CONFIG_REGION_INDEX, offset, len) : 0;
    return ((emuVal & emuBits) | (physVal & ~emuBits)) >>> 0;
  }

  /** vfio_pci_write_config: the kernel sees every write first; then the emulation and its side effects. */
  protected override writeConfig(offset: number, value: number, len: number): void {
    this.deviceFd.write(U.VFIO_PCI_CONFIG_REGION_INDEX, offset, value, len);
    const msixWas = this.msix?.enabled() ?? false;
    const msiWas = this.msi?.enabled() ?? false;
    super.writeConfig(offset, value, len);
    const msixIs = this.msix?.enabled() ?? false;
    const msiIs = this.msi?.enabled() ?? false;
    if (!msixWas && msixIs) this.msixEnable();
    else if (msixWas && !msixIs) this.msixDisable();
    if (!msiWas && msiIs) this.msiEnable();
    else if (msiWas && !msiIs) this.msiDisable();
    const touches = (start: number, size: number) => offset < start + size && start < offset + len;
    if (touches(R.PCI_BASE_ADDRESS_0, 24) || touches(R.PCI_COMMAND, 2)) this.subPageBarUpdate();
  }

  private setIrqs(index: number, start: number, count: number, fds?: (EventFd | null)[]): void {
    this.irqSet(
      fds
        ? { index, start, count, flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER, data: fds }
        : { index, start, count, flags: U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER },
      true,
    );
  }

  /** VFIO_DEVICE_SET_IRQS; `record` adds it to the device's call list (per-interrupt UNMASKs are not). */
  private irqSet(req: U.SetIrqsRequest, record: boolean): void {
    const mark = this.ctx.kernel.log.length;
    try {
      this.deviceFd.setIrqs(req);
    } catch (e) {
      // QEMU reports a failed SET_IRQS ("vfio: Error: Failed to setup MSI fds") and carries on.
      if (!(e instanceof VfioError)) throw e;
      this.ctx.warn(`vfio ${this.hostName}: ${e.message}`);
    } finally {
      if (record) this.calls.push(...this.ctx.kernel.log.slice(mark));
    }
  }

  /** vfio_msix_enable: notifiers set; unmasked vectors used in one batch; else enable with no vector. */
  private msixEnable(): void {
    const msix = this.msix!;
    // vfio_disable_interrupts: one type at a time, MSI first, then INTx.
    if (this.msiFds.length) this.msiDisable(false);
    this.intx.disable();
    this.batching = true;
    msix.notifiers = { use: (v, m) => this.vectorUse(v, m), release: (v) => this.vectorRelease(v) };
    for (let v = 0; v < msix.entries; v++) if (!msix.isMasked(v)) this.vectorUse(v, msix.message(v));
    this.batching = false;
    if (this.nrVectors) this.enableVectors();
    else this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, [null]); // vfio_enable_msix_no_vec
  }

  /** vfio_msix_disable: release every used vector, disable the index. */
  private msixDisable(): void {
    const msix = this.msix!;
    for (let v = 0; v < msix.entries; v++) if (this.vectorUsed[v]) msix.vectorUnuse(v);
    msix.notifiers = {};
    this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, 0, 0);
    this.vectorUsed.length = 0;
    this.nrVectors = 0;
    this.intx.enable(); // vfio_msix_disable ends with vfio_intx_enable
  }

  /** SET_IRQS(MSIX, EVENTFD|TRIGGER, 0, nr_vectors): unused vectors -1, masked ones the VMM's fd. */
  private enableVectors(): void {
    const fds: (EventFd | null)[] = [];
    for (let v = 0; v < this.nrVectors; v++)
      fds.push(!this.vectorUsed[v] ? null : this.msix!.isMasked(v) ? this.vmmFd(v) : this.kvmFd(v));
    this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, 0, this.nrVectors, fds);
  }

  /** vfio_msix_vector_use: the guest unmasked vector v (or RTAS set its message). */
  private vectorUse(v: number, msg: MsiMessage): void {
    const msix = this.msix!;
    if (!this.vectorUsed[v]) msix.vectorUse(v);
    this.vectorUsed[v] = true;
    this.routes[v] = msg;
    const resizing = this.nrVectors < v + 1;
    if (resizing) this.nrVectors = v + 1;
    if (this.batching) return;
    if (this.msixLayout!.noresize && resizing) {
      this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, 0, 0);
      this.enableVectors();
    } else {
      this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, v, 1, [this.kvmFd(v)]);
    }
    this.pending.delete(v);
    this.updatePbaOverlay();
  }

  /** vfio_msix_vector_release: the KVM route stays; the kernel now signals the VMM's eventfd. */
  private vectorRelease(v: number): void {
    if (!this.vectorUsed[v] || v >= this.nrVectors) return;
    this.setIrqs(U.VFIO_PCI_MSIX_IRQ_INDEX, v, 1, [this.vmmFd(v)]);
  }

  /** The eventfd KVM's irqfd listens on: the route's message goes straight to the interrupt controller. */
  private kvmFd(v: number): EventFd {
    return (this.kvmFds[v] ??= eventFd(`${this.name} kvm msix ${v}`, () => {
      this.interrupts.kvm++;
      this.ctx.injectMsi(this.routes[v]!);
    }));
  }

  /** vfio_msi_interrupt: a masked vector becomes pending and the PBA overlay goes live. */
  private vmmFd(v: number): EventFd {
    return (this.vmmFds[v] ??= eventFd(`${this.name} vmm msix ${v}`, () => {
      this.interrupts.vmm++;
      const msix = this.msix!;
      if (msix.isMasked(v)) {
        this.interrupts.pended++;
        this.pending.add(v);
        this.updatePbaOverlay();
      }
      msix.notify(v); // masked: sets the PBA bit, delivered on unmask
    }));
  }

  /** vdev->msix->pending: vectors that fired while masked since their last use. */
  private readonly pending = new Set<number>();

  /** The PBA overlay is enabled only while some vector fired masked (vfio_msi_interrupt / vector_do_use). */
  private updatePbaOverlay(): void {
    const msix = this.msix!;
    const any = this.pending.size > 0;
    if (msix.pbaRegion.enabled !== any) {
      msix.pbaRegion.setEnabled(any);
      this.updateExitPages();
    }
  }

  /** vfio_msi_enable: one eventfd per vector the guest enabled. */
  private msiEnable(): void {
    const msi = this.msi!;
    if (this.msix?.notifiers.use) this.msixDisable(); // vfio_disable_interrupts: one type at a time
    this.intx.disable();
    const n = msi.enabledVectors();
    this.msiFds = [];
    for (let v = 0; v < n; v++) {
      this.msiFds.push(
        eventFd(`${this.name} msi ${v}`, () => {
          this.interrupts.kvm++;
          msi.notify(v);
        }),
      );
    }
    this.setIrqs(U.VFIO_PCI_MSI_IRQ_INDEX, 0, n, this.msiFds);
  }

  /** vfio_msi_disable: the index off, then INTx back (vfio_intx_enable), unless MSI-X takes over. */
  private msiDisable(intxBack = true): void {
    this.setIrqs(U.VFIO_PCI_MSI_IRQ_INDEX, 0, 0);
    this.msiFds = [];
    if (intxBack) this.intx.enable();
  }

  /**
   * Whether a guest access at `offset` into BAR n's mmap exits to the VMM instead of staying in a KVM
   * memslot: the one rule behind the boot report's counters and `--explain` on a booted machine.
   */
  mmapExits(n: number, offset: number): boolean {
    return this.exitPages[n]?.[Math.floor(offset / this.pageSize)] === 1;
  }

  /** Why an mmapped page of BAR n exits (for --explain): shares a host page with an overlay, or a sub-page BAR. */
  mmapExitCause(n: number, offset: number): 'msix-table' | 'msix-pba' | 'quirk' | 'sub-page-bar' | null {
    if (!this.mmapExits(n, offset)) return null;
    const l = this.msixLayout;
    const page = Math.floor(offset / this.pageSize);
    const hits = (bar: number, at: number, size: number, on: boolean | undefined) =>
      on && bar === n && Math.floor(at / this.pageSize) <= page && page <= Math.floor((at + size - 1) / this.pageSize);
    if (l && hits(l.tableBar, l.tableOffset, this.msix!.table.length, this.msix?.tableRegion.enabled))
      return 'msix-table';
    if (l && hits(l.pbaBar, l.pbaOffset, this.msix!.pba.length, this.msix?.pbaRegion.enabled)) return 'msix-pba';
    if (this.vbar[n]?.quirks.some((q) => hits(n, Number(q.addr), Number(q.size), q.enabled))) return 'quirk';
    return 'sub-page-bar';
  }

  /** The host's page size in bytes. */
  get pageSize(): number {
    return 1 << this.pageShift;
  }

  /** Pages of each BAR shared with an enabled overlay: KVM cannot make them memslots (kvm_align_section). */
  private updateExitPages(): void {
    for (const s of this.exitPages) s?.fill(0);
    // A sub-page BAR at an unaligned guest address cannot be a memslot either (kvm_align_section).
    for (const vb of this.vbar)
      if (vb?.mmaps.length && vb.base.size < BigInt(1 << this.pageShift)) this.exitPages[vb.index]![0] = 1;
    const mark = (bar: number, offset: number, size: number, on: boolean) => {
      const pages = this.exitPages[bar];
      if (!on || !pages) return; // no mmaps in that BAR: nothing to exit from
      for (let p = offset >>> this.pageShift; p <= (offset + size - 1) >>> this.pageShift && p < pages.length; p++)
        pages[p] = 1;
    };
    for (const vb of this.vbar)
      for (const q of vb?.quirks ?? []) mark(vb!.index, Number(q.addr), Number(q.size), q.enabled);
    const msix = this.msix;
    const l = this.msixLayout;
    if (!msix || !l) return;
    mark(l.tableBar, l.tableOffset, msix.table.length, msix.tableRegion.enabled);
    mark(l.pbaBar, l.pbaOffset, msix.pba.length, msix.pbaRegion.enabled);
  }

  /**
   * vfio_sub_page_bar_update_mapping: a BAR smaller than a host page is mapped as a whole page
   * while its guest address is page aligned, and shrinks back (trapped) when it is not.
   */
  private subPageBarUpdate(): void {
    const page = BigInt(this.ctx.kernel.pageSize());
    this.mem.transaction(() => {
      for (const vb of this.vbar) {
        if (!vb || !vb.trapped || vb.info.size >= page || vb.mmaps.length !== 1) continue;
        const addr = this.bars[vb.index]!.addr;
        if (addr === R.PCI_BAR_UNMAPPED) continue;
        const size = addr & (page - 1n) ? vb.info.size : page;
        if (vb.base.size === size) continue;
        vb.base.setSize(size);
        vb.trapped.setSize(size);
        vb.mmaps[0]!.region.setSize(size);
        const space = this.bus!.memSpace;
        space.delSubregion(vb.base);
        space.addSubregionOverlap(addr, vb.base, 0);
      }
    });
    this.updateExitPages();
  }
}

/** An eventfd whose signal runs `onSignal` (a KVM irqfd or a VMM handler). */
function eventFd(label: string, onSignal: () => void): EventFd {
  const fd = new EventFd(label);
  fd.on('signal', onSignal);
  return fd;
}

/** The physical capability list: id, position, length. */
function capabilityList(phys: Uint8Array): { id: number; pos: number; len: number }[] {
  const out: { id: number; pos: number; len: number }[] = [];
  if (!(phys[R.PCI_STATUS]! & R.PCI_STATUS_CAP_LIST)) return out;
  const seen = new Set<number>();
  for (let p = phys[R.PCI_CAPABILITY_LIST]! & ~3; p && !seen.has(p); p = phys[p + 1]! & ~3) {
    seen.add(p);
    out.push({ id: phys[p]!, pos: p, len: 0 });
  }
  for (const c of out) c.len = capabilityLength(c.id, c.pos, phys, out);
  return out;
}

function capabilityLength(id: number, pos: number, phys: Uint8Array, all: { pos: number }[]): number {
  if (id === R.PCI_CAP_ID_PM) return 8;
  if (id === R.PCI_CAP_ID_MSIX) return 12;
  if (id === R.PCI_CAP_ID_EXP) return 0x3c;
  if (id === R.PCI_CAP_ID_MSI) {
    const flags = phys[pos + 2]! | (phys[pos + 3]! << 8);
    return (flags & R.PCI_MSI_FLAGS_64BIT ? 14 : 10) + (flags & R.PCI_MSI_FLAGS_MASKBIT ? 10 : 0);
  }
  const next =
    all
      .map((c) => c.pos)
      .filter((p) => p > pos)
      .sort((a, b) => a - b)[0] ?? R.PCI_CONFIG_SPACE_SIZE;
  return Math.min(next - pos, 0x40);
}
