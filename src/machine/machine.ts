import { VdmError, EXIT_BAD_INPUT } from '../util/errors.ts';
import { MemorySystem, U64_SPAN, type AddressSpace, type MemoryRegion } from '../memory/index.ts';
import { PciHost, PciBusError, parsePciAddr, parseHostDevAddr } from '../pci/index.ts';
import type { GroupFd, VfioApi } from '../common/vfio-api.ts';
import { VfioPciDevice, type VfioPciOptions, type VfioPciContext } from '../vfio/vfio-pci.ts';
import type { VmmContainer, DmaPolicy } from '../vfio/container.ts';
import { ProcessMemory } from '../vfio/process-memory.ts';
import { InterruptController } from './interrupt-controller.ts';
import { Rtas } from './rtas.ts';
import { VirtualClock } from './clock.ts';
import { BoardIntxRouter, Piix3, PIIX3_DEVFN } from './intx-routing.ts';
import type { MachineSpec } from './machine-file.ts';

/**
 * -device options for many host functions packed eight to a slot from `firstSlot` (addr=S.F, with
 * multifunction=on on function 0 of a shared slot), as a command line assigning more devices than
 * a bus has slots must be written.
 */
export function packedDevices(hosts: string[], firstSlot: number): VfioPciOptions[] {
  const room = (32 - firstSlot) * 8;
  if (hosts.length > room)
    throw new MachineError(
      `${hosts.length} devices do not fit on the root bus: slots ${firstSlot}-31 hold ${room} functions (more ` +
        'need PCIe root ports or bridges, which the guest firmware does not enumerate)',
    );
  const perSlot = hosts.length > 32 - firstSlot ? 8 : 1;
  return hosts.map((host, i) => {
    const slot = firstSlot + Math.floor(i / perSlot);
    const fn = i % perSlot;
    const shared = perSlot > 1 && Math.floor(i / perSlot) * perSlot + 1 < hosts.length;
    return {
      host,
      id: `hostdev${i}`,
      addr: `${slot.toString(16)}.${fn}`,
      ...(fn === 0 && shared ? { multifunction: true } : {}),
    };
  });
}

/**
 * The -device list as QEMU accepts it: host= in canonical form, ids unique (util/qemu-option.c:
 * qemu_opts_create, "Duplicate ID"), one vfio-pci per host function (hw/vfio/pci.c:vfio_realize,
 * "device is already attached"). Devices without id= are numbered per machine, so a run's report
 * does not depend on earlier runs in the same process.
 */
export function checkedDevices(devices: VfioPciOptions[]): (VfioPciOptions & { id: string })[] {
  const out: (VfioPciOptions & { id: string })[] = [];
  for (const [i, given] of devices.entries()) {
    let host: string;
    try {
      host = parseHostDevAddr(given.host);
    } catch (e) {
      throw new MachineError((e as Error).message, { exitCode: EXIT_BAD_INPUT, cause: e });
    }
    const id = given.id ?? `hostdev${i}`;
    if (given.id !== undefined && out.some((o) => o.id === given.id))
      throw new MachineError(`Duplicate ID '${given.id}' for device`, { exitCode: EXIT_BAD_INPUT });
    if (out.some((o) => o.host === host))
      throw new MachineError(`vfio ${host}: device is already attached`, { exitCode: EXIT_BAD_INPUT });
    out.push({ ...given, host, id });
  }
  return out;
}

/**
 * What the bench wiring a machine to a host adds while devices are realized: src/run checks the
 * host file against the machine's windows and names the host file entry in a refusal. The machine
 * itself knows the host only through the VFIO API.
 */
export interface RealizeHooks {
  /** After vfio-pci realized the device, before it is plugged. */
  realized?(opts: VfioPciOptions): void;
  /** Where the device came from (a host file entry), as context for a refusal. */
  contextOf?(opts: VfioPciOptions): string | undefined;
}

/** vfio-pci realize; a refusal carries the hooks' context for the device. */
function realize(ctx: VfioPciContext, opts: VfioPciOptions & { id: string }, hooks: RealizeHooks): VfioPciDevice {
  try {
    return VfioPciDevice.realize(ctx, opts);
  } catch (e) {
    const context = hooks.contextOf?.(opts);
    if (e instanceof VdmError && context) e.context ??= context;
    throw e;
  }
}

/** A machine cannot be built with this host or these devices; the message says why. */
export class MachineError extends VdmError {
  override name = 'MachineError';
}

const HOST_IOMMU_FOR: Record<MachineSpec['iommu'], string[]> = {
  type1: ['intel-vtd', 'amd-vi', 'arm-smmu-v3', 'arm-smmu-v2'],
  'spapr-tce': ['spapr-tce'],
  'fsl-pamu': ['fsl-pamu'],
};

/**
 * A machine type built from its file: RAM, the PCI host bridge with its config mechanism and
 * windows, the MSI receiver, RTAS on pseries, and assigned vfio-pci devices on the VFIO API of a
 * simulated host. Everything is built in one memory transaction.
 */
export class Machine {
  readonly memorySystem = new MemorySystem();
  readonly systemMemory: MemoryRegion;
  readonly systemIo: MemoryRegion;
  readonly addressSpaceMemory: AddressSpace;
  readonly addressSpaceIo: AddressSpace | null;
  readonly pciHost: PciHost;
  readonly irq: InterruptController;
  readonly devices: VfioPciDevice[] = [];
  readonly containers: VmmContainer[] = [];
  readonly warnings: string[] = [];
  readonly rtas: Rtas | null;
  /** QEMU_CLOCK_VIRTUAL: guest time, advanced when the guest waits. */
  readonly clock = new VirtualClock();
  /** The pc's PIIX3 (its PIRQ links route INTx), or null on other boards. */
  readonly piix3: Piix3 | null;
  private readonly groups = new Map<number, GroupFd>();
  private readonly process: ProcessMemory;

  constructor(
    readonly spec: MachineSpec,
    /** The host kernel's VFIO API: all the machine and its devices know of the host. */
    readonly kernel: VfioApi,
    devices: VfioPciOptions[],
    hooks: RealizeHooks = {},
  ) {
    const iommu = kernel.iommuKind();
    if (!HOST_IOMMU_FOR[spec.iommu].includes(iommu)) {
      throw new MachineError(
        `machine ${spec.name} needs a host IOMMU of kind ${HOST_IOMMU_FOR[spec.iommu].join(' or ')} ` +
          `(${spec.iommu}); host ${kernel.uname().nodename} has ${iommu}`,
      );
    }
    const pageSize = kernel.pageSize();
    if (pageSize !== spec.hostPageSize) {
      this.warnings.push(
        `host ${kernel.uname().nodename} uses ${pageSize / 1024} KiB pages; machine ${spec.name} is usually ` +
          `run on ${spec.hostPageSize / 1024} KiB`,
      );
    }
    const mem = this.memorySystem;
    this.process = new ProcessMemory(kernel);
    this.systemMemory = mem.container('system', U64_SPAN);
    this.systemIo = mem.container('io', 0x10000);
    this.addressSpaceMemory = mem.addressSpace('memory', this.systemMemory);
    this.addressSpaceIo = spec.arch === 'x86_64' ? mem.addressSpace('I/O', this.systemIo) : null;
    this.irq = new InterruptController(mem, spec.interrupts);
    const pciMem = mem.container(spec.arch === 'x86_64' ? 'pci' : `${spec.pci.host}-mmio`, U64_SPAN);
    const pciIo =
      spec.arch === 'x86_64' ? this.systemIo : mem.container(`${spec.pci.host}-io`, spec.pci.io?.size ?? 0x10000n);
    this.pciHost = new PciHost(mem, { memSpace: pciMem, ioSpace: pciIo, dmaRoot: this.systemMemory });
    this.rtas = spec.pci.config === 'rtas' ? new Rtas(this) : null;
    this.piix3 = spec.interrupts.intx.router === 'piix3' ? new Piix3(mem) : null;
    this.pciHost.bus.intxRouter = new BoardIntxRouter(spec.interrupts.intx, this.irq, this.piix3);
    mem.transaction(() => {
      for (const r of spec.ram) this.systemMemory.addSubregion(r.base, mem.ram(r.name, r.size));
      this.wirePci(pciMem, pciIo);
      if (this.piix3) this.pciHost.bus.attach(this.piix3, PIIX3_DEVFN >> 3, PIIX3_DEVFN & 7);
      this.systemMemory.addSubregion(spec.interrupts.doorbell.base, this.irq.region);
      const ctx = this.vfioContext();
      for (const opts of checkedDevices(devices)) {
        const dev = realize(ctx, opts, hooks); // QEMU's own refusals first
        hooks.realized?.(opts);
        this.plug(dev, opts);
        this.devices.push(dev);
      }
    });
    const failed = this.containers.flatMap((c) => c.errors);
    if (failed.length) throw new MachineError(`vfio: DMA mapping of guest RAM failed: ${failed.join('; ')}`);
  }

  /** Puts a device at its addr= or in the first free slot from the machine's first one. */
  private plug(dev: VfioPciDevice, opts: VfioPciOptions): void {
    const bus = this.pciHost.bus;
    try {
      const at =
        opts.addr !== undefined
          ? parsePciAddr(opts.addr, 'vfio-pci')
          : { slot: bus.freeSlot(this.spec.pci.firstSlot, dev.name), fn: 0 };
      bus.attach(dev, at.slot, at.fn);
    } catch (e) {
      if (e instanceof PciBusError) throw new MachineError(`-device vfio-pci,host=${opts.host}: ${e.message}`);
      throw e;
    }
  }

  /** The PCI windows, the I/O window and the config mechanism. */
  private wirePci(pciMem: MemoryRegion, pciIo: MemoryRegion): void {
    const { spec, memorySystem: mem, systemMemory: system } = this;
    const p = spec.pci;
    if (spec.arch === 'x86_64') {
      system.addSubregionOverlap(0, pciMem, -1); // pc_pci_as_mapping_init
    } else {
      system.addSubregion(p.mmio32.base, mem.alias(`${p.host}-mmio-window`, pciMem, p.mmio32.base, p.mmio32.size));
      if (p.mmio64)
        system.addSubregion(p.mmio64.base, mem.alias(`${p.host}-mmio-high`, pciMem, p.mmio64.base, p.mmio64.size));
      if (p.io) system.addSubregion(p.io.base, mem.alias(`${p.host}-pio-window`, pciIo, 0, p.io.size));
    }
    if (p.config === 'cf8') {
      const { index, data } = this.pciHost.portRegions();
      const at = p.configAddress;
      if (at === null) {
        this.systemIo.addSubregion(0xcf8, index);
        this.systemIo.addSubregion(0xcfc, data);
      } else {
        system.addSubregion(at, index);
        system.addSubregion(at + 4n, data);
      }
    } else if (p.config === 'ecam') {
      system.addSubregion(p.ecam!.base, this.pciHost.ecamRegion(Number(p.ecam!.size)));
    }
  }

  private dmaPolicy(): DmaPolicy {
    const s = this.spec;
    if (s.iommu === 'spapr-tce')
      return { kind: 'spapr-tce', dma32WindowSize: s.spapr!.dma32WindowSize, pageShift: s.spapr!.pageShift };
    if (s.iommu === 'fsl-pamu') return { kind: 'fsl-pamu', windows: s.pamu!.windows, msiBankIova: s.pamu!.msiBankIova };
    return { kind: 'type1' };
  }

  private vfioContext(): VfioPciContext {
    return {
      mem: this.memorySystem,
      kernel: this.kernel,
      process: this.process,
      dmaAs: this.addressSpaceMemory,
      containers: this.containers,
      groups: this.groups,
      policy: this.dmaPolicy(),
      noMsixEmulation: !this.spec.msixEmulation,
      msiSupported: true,
      express: this.spec.pci.express,
      injectMsi: (msg) => this.irq.deliver(msg),
      intx: {
        nowNs: () => this.clock.nowNs,
        newTimer: (cb) => this.clock.newTimer(cb),
        addResampleIrqfd: (irq, trigger, resample) => this.irq.addResampleIrqfd(irq, trigger, resample),
      },
      warn: (m) => this.warnings.push(m),
    };
  }

  /** A device by qdev id or host address. */
  device(idOrHost: string): VfioPciDevice | undefined {
    return this.devices.find((d) => d.name === idOrHost || d.hostName === idOrHost);
  }

  /** pseries hypercalls the guest makes (H_PUT_TCE maps one TCE of the default DMA window). */
  hcall(name: 'H_PUT_TCE', ioba: bigint, tce: bigint): string {
    if (name !== 'H_PUT_TCE' || this.spec.iommu !== 'spapr-tce') return 'H_FUNCTION';
    const c = this.containers[0];
    if (!c) return 'H_PARAMETER';
    const perms = tce & 3n;
    return c.putTce(ioba, perms ? tce & ~0xfffn : null, (perms & 2n) !== 0n);
  }
}
