import { boardIntxRoute, Machine, packedDevices, pathCostNs, PIIX3_DEVFN, SPAPR_PHB0_BUID, type AccessPath, type MachineSpec } from '../machine/index.ts';
import { iommuTypeName, nicFarmHost, parseHostFile, SimHost, type HostJson } from '../host/index.ts';
import type { VfioPciDevice, VfioPciOptions } from '../vfio/index.ts';
import { ConfigAccess, enumerateAndAssign, type RomCheck } from './firmware.ts';
import { NicDriver, type DriverStats } from './nic-driver.ts';
import { GuestKernel } from './kernel.ts';
import type { GuestPlatform } from './platform.ts';
import type { GuestProgram } from './guest-file.ts';
import { judgeDevice, judgeRun, workloadOutcome, type RunVerdict } from './verdict.ts';

const NETWORK_CLASS = 0x02;

/** One BAR of an assigned device, as the boot report shows it. */
export interface BarReport {
  index: number;
  guestAddress: string;
  size: string;
  mmapped: string[];
  trapped: string[];
  overlays: { name: string; range: string; enabled: boolean }[];
  relocatedMsix: boolean;
  /** Guest accesses to this BAR by path: no exit (mmap), exit served by pointer (mmapExit), pread/pwrite (trapped). */
  accesses: { mmap: number; mmapExit: number; trapped: number };
}

/** What booting produced: the machine (for mtree and explain) and everything the report shows. */
export interface BootResult {
  machine: Machine;
  /** Every NIC driver's stats summed (vectors listed in probe order); null when no NIC was found. */
  driver: GuestDriverTotals | null;
  configCycles: { reads: number; writes: number };
  report: BootReport;
}

/** The drivers of a boot together: their counters summed, plus what the guest kernel saw. */
export type GuestDriverTotals = DriverStats & {
  /** NIC functions a driver probed. */
  nics: number;
  /** Interrupts that arrived with no driver registered for them. */
  spurious: number;
};

/** The boot report's data; `vdm boot --json` prints exactly this. */
export interface BootReport {
  machine: { name: string; file: string; description: string; iommu: string; interruptController: string; msixEmulation: boolean };
  host: { name: string; arch: string; pageSize: number; kernel: string; iommu: string; msi: string; interruptPolicy: string };
  guest: { name: string; iterations: number };
  devices: {
    id: string;
    host: string;
    group: number;
    iommuType: string;
    bars: BarReport[];
    msix: { entries: number; table: string; pba: string; programmedBy: string; vectors: { vector: number; irq: number; handled: number }[]; relocation: string } | null;
    interrupts: { raised: number; viaKvm: number; viaVmm: number; pended: number; lost: number };
    /**
     * INTx (null without a pin): the path (KVM irqfd with resample, or QEMU's VMM path with mmaps
     * off), the guest IRQ, what the host kernel raised and unmasked, and on the VMM path the EOIs
     * taken from trapped BAR accesses and how often the BAR mmaps were switched off and back.
     */
    /**
     * BAR6 (null without one): its size, where its contents come from (the device's ROM read
     * lazily through VFIO, or romfile=), the guest's reads of it, and the firmware's header check.
     */
    rom: { size: string; source: 'device' | 'romfile'; guestReads: number; loaded: boolean; firmware: { address: string; valid: boolean; detail: string } | null } | null;
    intx: { pin: string; path: string; irq: number; hostLine: number; maskedAt: string; raised: number; viaVmm: number; vmmEois: number; unmasks: number; resignals: number; mmapsDisabled: number; mmapsReenabled: number } | null;
    dma: { mappings: { iova: string; size: string; region: string }[]; faults: number; blocked: number };
    vfioCalls: string[];
  }[];
  /** Interrupts the machine's controller delivered to the guest, from every source. */
  interruptsDelivered: number;
  accesses: {
    fast: { ram: number; mmap: number };
    slow: { mmapExit: number; msixOverlay: number; trappedToKernel: number; config: number };
    unassigned: number;
    invalid: number;
  };
  estimate: { costsNs: MachineSpec['costs']; totalUs: number; byPathUs: Record<string, number> };
  driver: GuestDriverTotals | null;
  warnings: string[];
  /** Per device and for the run: did it work, and if not, why (the reasons name the failed checks). */
  verdict: RunVerdict;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The guest's view of a machine: address spaces, RTAS, hypercalls, interrupts, firmware tables. */
export function platformOf(m: Machine): GuestPlatform {
  const s = m.spec;
  return {
    memory: m.addressSpaceMemory,
    io: m.addressSpaceIo,
    firmware: {
      arch: s.arch,
      config: s.pci.config,
      configAddress: s.pci.configAddress,
      ecamBase: s.pci.ecam?.base ?? null,
      mmio32: s.pci.mmio32,
      mmio64: s.pci.mmio64,
      ram: { base: s.ram[0]!.base, size: s.ram[0]!.size },
      msiMessage: (n) => m.irq.message(n),
      msiIrq: (n) => m.irq.irqFor(n),
      msiVectors: m.irq.capacity(),
      dmaWindow: s.spapr ? { pageShift: s.spapr.pageShift, size: s.spapr.dma32WindowSize } : null,
      buid: s.pci.config === 'rtas' ? SPAPR_PHB0_BUID : null,
      intxRoute: (slot, pin) => boardIntxRoute(s.interrupts.intx, slot, pin),
      pirqRouterDevfn: m.piix3 ? PIIX3_DEVFN : null,
    },
    rtas: (name, args) => m.rtas?.call(name, args) ?? [-3],
    hcall: (name, ioba, tce) => m.hcall(name, ioba, tce),
    onInterrupt: (h) => {
      m.irq.handler = h;
    },
    eoi: (irq) => m.irq.eoi(irq),
    wait: (ns) => m.clock.advance(ns),
  };
}

/**
 * Boots a machine with assigned devices and runs the guest program: firmware enumerates and
 * places BARs, a driver probes every network function (in bus order, as Linux does), then each
 * runs its workload.
 */
export function boot(spec: MachineSpec, host: SimHost, program: GuestProgram, devices: VfioPciOptions[]): BootResult {
  const m = new Machine(spec, host, devices);
  m.addressSpaceMemory.stats = true; // the report counts every access by path
  m.addressSpaceMemory.resetCounters();
  const p = platformOf(m);
  const cfg = new ConfigAccess(p);
  const found = enumerateAndAssign(p, cfg);
  const kernel = new GuestKernel(p);
  const drivers = found.filter((f) => f.classCode >> 16 === NETWORK_CLASS).map((f) => ({ fn: f, driver: new NicDriver(p, kernel, cfg, f, program) }));
  for (const d of drivers) d.driver.probe();
  for (const d of drivers) d.driver.run();
  // The guest's functions in the machine's device order, for the per-device report.
  const byDevice = m.devices.map((dev) => drivers.find((d) => d.fn.devfn === dev.devfn)?.driver.stats ?? null);
  // Judged on the workload, before a misbehaving guest's deliberate faults.
  const outcomes = m.devices.map((dev, k) => workloadOutcome(dev, found.some((f) => f.devfn === dev.devfn), byDevice[k]!));
  if (program.misbehave) for (const d of drivers) d.driver.misbehave();
  const totals = drivers.length ? sumDrivers(drivers.map((d) => d.driver.stats), kernel.spurious) : null;
  const verdict = judgeRun(m.devices.map((dev, k) => judgeDevice(m, dev, outcomes[k]!)));
  const roms = m.devices.map((dev) => found.find((f) => f.devfn === dev.devfn)?.rom ?? null);
  const report = buildReport(m, program, totals, byDevice, cfg.cycles, verdict, roms);
  if (kernel.vectorsRefused) report.warnings.push(`${kernel.vectorsRefused} MSI-X vectors were refused: the ${m.spec.interrupts.controller} has ${p.firmware.msiVectors} for devices and the drivers asked for more; devices left without vectors take no interrupts`);
  return { machine: m, driver: totals, configCycles: cfg.cycles, report };
}

/**
 * Boots `count` NICs copied from `template` (a host file as parsed JSON, see nicFarmHost), packed
 * eight functions to a slot on the machine's root bus: what scale runs and their tests share.
 */
export function bootNicFarm(spec: MachineSpec, template: HostJson, program: GuestProgram, count: number): BootResult {
  const { host, nics } = nicFarmHost(template, count);
  return boot(spec, new SimHost(parseHostFile(JSON.stringify(host), `${host.name}.json`)), program, packedDevices(nics, spec.pci.firstSlot));
}

function sumDrivers(all: DriverStats[], spurious: number): GuestDriverTotals {
  const sum = (f: (s: DriverStats) => number) => all.reduce((a, s) => a + f(s), 0);
  return {
    nics: all.length,
    msixProgrammedBy: all[0]!.msixProgrammedBy,
    irqMode: all[0]!.irqMode,
    vectorIrqs: all.flatMap((s) => s.vectorIrqs),
    handled: all.flatMap((s) => s.handled),
    transmits: sum((s) => s.transmits),
    completions: sum((s) => s.completions),
    statusReads: sum((s) => s.statusReads),
    masks: sum((s) => s.masks),
    tces: sum((s) => s.tces),
    spurious,
  };
}

function barReport(d: VfioPciDevice, n: number): BarReport | null {
  const vb = d.vbar[n];
  const bar = d.bars[n];
  if (!vb || !bar) return null;
  const range = (o: bigint, s: bigint) => `${hex(o)}-${hex(o + s - 1n)}`;
  const mapped = vb.mmaps.map((x) => ({ o: x.offset, s: x.region.size }));
  const trapped: string[] = [];
  let at = 0n;
  for (const x of [...mapped].sort((a, b) => (a.o < b.o ? -1 : 1))) {
    if (x.o > at) trapped.push(range(at, x.o - at));
    at = x.o + x.s;
  }
  if (vb.trapped && at < vb.trapped.size) trapped.push(range(at, vb.trapped.size - at));
  const overlays: BarReport['overlays'] = [];
  const l = d.msixLayout;
  if (d.msix && l) {
    if (l.tableBar === n) overlays.push({ name: 'msix-table', range: range(BigInt(l.tableOffset), BigInt(d.msix.table.length)), enabled: d.msix.tableRegion.enabled });
    if (l.pbaBar === n) overlays.push({ name: 'msix-pba', range: range(BigInt(l.pbaOffset), BigInt(d.msix.pba.length)), enabled: d.msix.pbaRegion.enabled });
  }
  return {
    index: n,
    guestAddress: bar.addr === 0xffffffffffffffffn ? 'unmapped' : hex(bar.addr),
    size: hex(bar.size),
    mmapped: mapped.map((x) => range(x.o, x.s)),
    trapped,
    overlays,
    relocatedMsix: !!l && (d.options.msixRelocation ?? 'off') === n,
    accesses: { ...d.barCounts[n]! },
  };
}

function romReport(d: VfioPciDevice, check: RomCheck | null): BootReport['devices'][number]['rom'] {
  const bar = d.bars[6];
  if (!bar) return null;
  return {
    size: hex(bar.size),
    source: d.rom ? 'device' : 'romfile',
    guestReads: d.rom?.stats.guestReads ?? 0,
    loaded: (d.rom?.stats.loads ?? 0) > 0,
    firmware: check && { address: hex(check.address), valid: check.valid, detail: check.detail },
  };
}

function intxReport(d: VfioPciDevice): BootReport['devices'][number]['intx'] {
  const pin = d.cfg.byte(0x3d);
  if (!pin) return null;
  const k = d.deviceFd.intx;
  return {
    pin: String.fromCharCode(64 + pin),
    path: d.intx.path,
    irq: d.intx.route.mode === 'enabled' ? d.intx.route.irq : -1,
    hostLine: k.line.irq,
    maskedAt: k.pci23 ? 'device (INTX_DISABLE)' : 'host line (exclusive)',
    raised: k.stats.interrupts,
    viaVmm: d.intx.stats.vmmInterrupts,
    vmmEois: d.intx.stats.eois,
    unmasks: k.stats.unmasks,
    resignals: k.stats.resignals,
    mmapsDisabled: d.intx.stats.mmapDisables,
    mmapsReenabled: d.intx.stats.mmapEnables,
  };
}

function buildReport(m: Machine, program: GuestProgram, driver: GuestDriverTotals | null, perDevice: (DriverStats | null)[], cycles: { reads: number; writes: number }, verdict: RunVerdict, roms: (RomCheck | null)[] = []): BootReport {
  const s = m.spec;
  const h = m.host.spec;
  const c = m.addressSpaceMemory.counters;
  let mmap = 0;
  let mmapExit = 0;
  let trapped = 0;
  let overlay = 0;
  let interrupts = 0;
  const devices = m.devices.map((d, k) => {
    const own = perDevice[k] ?? null;
    mmap += d.counts.mmap;
    mmapExit += d.counts.mmapExit;
    trapped += d.counts.trapped;
    overlay += (d.msix?.accesses.table ?? 0) + (d.msix?.accesses.pba ?? 0);
    const st = d.deviceFd.stats;
    interrupts += d.interrupts.kvm + d.interrupts.vmm + d.deviceFd.intx.stats.interrupts;
    const container = m.containers.find((x) => x.groups.includes(d.group))!;
    const l = d.msixLayout;
    return {
      id: d.name,
      host: d.hostName,
      group: d.group.id,
      iommuType: iommuTypeName(container.fd.iommuType),
      bars: [0, 1, 2, 3, 4, 5].map((n) => barReport(d, n)).filter((b): b is BarReport => b !== null),
      msix:
        d.msix && l
          ? {
              entries: l.entries,
              table: `BAR${l.tableBar}+${hex(BigInt(l.tableOffset))}`,
              pba: `BAR${l.pbaBar}+${hex(BigInt(l.pbaOffset))}`,
              programmedBy: own?.msixProgrammedBy ?? 'none',
              vectors: (own?.vectorIrqs ?? []).map((irq, vector) => ({ vector, irq, handled: own!.handled[vector] ?? 0 })),
              relocation: String(d.options.msixRelocation ?? 'off'),
            }
          : null,
      intx: intxReport(d),
      rom: romReport(d, roms[k] ?? null),
      interrupts: { raised: st.interrupts + st.lostInterrupts, viaKvm: d.interrupts.kvm, viaVmm: d.interrupts.vmm, pended: d.interrupts.pended, lost: st.lostInterrupts + st.msiFaults + st.remapBlocked },
      dma: { mappings: container.mappings.map((x) => ({ iova: hex(x.iova), size: hex(x.size), region: x.region })), faults: d.deviceFd.hw.dmaFaults.length, blocked: d.deviceFd.hw.dmaBlocked },
      vfioCalls: d.calls,
    };
  });
  const config = cycles.reads + cycles.writes;
  const k = s.costs;
  const us = (count: number, path: AccessPath) => (count * pathCostNs(path, k)) / 1000;
  const byPathUs: Record<string, number> = {
    ram: us(c.ram, 'ram'),
    mmap: us(mmap, 'mmap'),
    mmapExit: us(mmapExit, 'mmapExit'),
    msixOverlay: us(overlay, 'msixOverlay'),
    trappedToKernel: us(trapped, 'trappedToKernel'),
    config: us(config, 'vmm'),
    interrupts: (interrupts * k.interrupt) / 1000,
  };
  const warnings = [...m.warnings];
  const policy = m.host.interruptPolicy();
  if (/allow_unsafe_interrupts=1/.test(policy.reason)) warnings.push(`unsafe interrupts allowed: ${policy.reason}`);
  for (const d of m.devices) {
    if (d.counts.mmapExit) warnings.push(`${d.hostName}: ${d.counts.mmapExit} accesses hit BAR pages shared with the MSI-X table/PBA overlay (${h.pageSize / 1024} KiB host pages) and exited to the VMM; x-msix-relocation=barN would move the table`);
    if (d.counts.trapped) warnings.push(`${d.hostName}: ${d.counts.trapped} BAR accesses were trapped and forwarded to the kernel (pread/pwrite)`);
    if (d.deviceFd.hw.dmaFaults.length) warnings.push(`${d.hostName}: ${d.deviceFd.hw.dmaFaults.length} IOMMU faults (DMA to unmapped IOVAs, first at ${hex(d.deviceFd.hw.dmaFaults[0]!.iova)}); nothing was written`);
    if (d.dropped.length) warnings.push(`${d.hostName}: ${d.dropped.length} malformed config accesses dropped`);
  }
  if (m.irq.bogus) warnings.push(`${m.irq.bogus} MSI writes named no interrupt`);
  if (c.unassigned) warnings.push(`${c.unassigned} guest accesses hit unassigned addresses`);
  return {
    machine: { name: s.name, file: s.file, description: s.description, iommu: s.iommu, interruptController: s.interrupts.controller, msixEmulation: s.msixEmulation },
    host: { name: h.name, arch: h.arch, pageSize: h.pageSize, kernel: h.kernel, iommu: h.iommu.kind, msi: h.msi.controller, interruptPolicy: policy.reason },
    guest: { name: program.name, iterations: program.iterations },
    devices,
    interruptsDelivered: m.irq.delivered,
    accesses: { fast: { ram: c.ram, mmap }, slow: { mmapExit, msixOverlay: overlay, trappedToKernel: trapped, config }, unassigned: c.unassigned, invalid: c.invalid },
    estimate: { costsNs: k, totalUs: Object.values(byPathUs).reduce((a, b) => a + b, 0), byPathUs },
    driver,
    warnings,
    verdict,
  };
}
