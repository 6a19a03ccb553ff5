import { pathCostNs, type AccessPath, type Machine, type MachineSpec } from '../machine/index.ts';
import { iommuTypeName, type SimHost, type VfioKernel } from '../host/index.ts';
import type { VfioPciDevice } from '../vfio/index.ts';
import type { GuestDriverTotals, GuestProgram, GuestRun, RomCheck } from '../guest/index.ts';
import type { RunVerdict } from './verdict.ts';

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

/** The boot report's data; `vdm boot --json` prints exactly this. */
export interface BootReport {
  machine: {
    name: string;
    file: string;
    description: string;
    iommu: string;
    interruptController: string;
    msixEmulation: boolean;
  };
  host: {
    name: string;
    arch: string;
    pageSize: number;
    kernel: string;
    iommu: string;
    msi: string;
    interruptPolicy: string;
  };
  guest: { name: string; iterations: number };
  devices: {
    id: string;
    host: string;
    group: number;
    iommuType: string;
    bars: BarReport[];
    msix: {
      entries: number;
      table: string;
      pba: string;
      programmedBy: string;
      vectors: { vector: number; irq: number; handled: number }[];
      relocation: string;
    } | null;
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
    rom: {
      size: string;
      source: 'device' | 'romfile';
      guestReads: number;
      loaded: boolean;
      firmware: { address: string; valid: boolean; detail: string } | null;
    } | null;
    intx: {
      pin: string;
      path: string;
      irq: number;
      hostLine: number;
      maskedAt: string;
      raised: number;
      viaVmm: number;
      vmmEois: number;
      unmasks: number;
      resignals: number;
      mmapsDisabled: number;
      mmapsReenabled: number;
    } | null;
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
    if (l.tableBar === n)
      overlays.push({
        name: 'msix-table',
        range: range(BigInt(l.tableOffset), BigInt(d.msix.table.length)),
        enabled: d.msix.tableRegion.enabled,
      });
    if (l.pbaBar === n)
      overlays.push({
        name: 'msix-pba',
        range: range(BigInt(l.pbaOffset), BigInt(d.msix.pba.length)),
        enabled: d.msix.pbaRegion.enabled,
      });
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

function intxReport(d: VfioPciDevice, kernel: VfioKernel): BootReport['devices'][number]['intx'] {
  const pin = d.cfg.byte(0x3d);
  if (!pin) return null;
  const k = kernel.deviceCounters(d.hostName).intx;
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

/**
 * The boot report of a machine after its guest ran: what the VMM built and counted, what the guest
 * counted, and what the host kernel reports (interrupt counts, IOMMU faults). The run layer is
 * the one place that sees the host and the machine together.
 */
export function buildReport(
  m: Machine,
  host: SimHost,
  kernel: VfioKernel,
  program: GuestProgram,
  guest: GuestRun,
  verdict: RunVerdict,
): BootReport {
  const s = m.spec;
  const h = host.spec;
  const driver = guest.totals;
  const cycles = guest.configCycles;
  // The guest's drivers in the machine's device order, for the per-device report.
  const perDevice = m.devices.map((dev) => guest.drivers.find((d) => d.devfn === dev.devfn)?.stats ?? null);
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
    const st = kernel.deviceCounters(d.hostName);
    interrupts += d.interrupts.kvm + d.interrupts.vmm + st.intx.stats.interrupts;
    const container = m.containers.find((x) => x.groups.includes(d.group))!;
    const l = d.msixLayout;
    return {
      id: d.name,
      host: d.hostName,
      group: d.group.id,
      iommuType: iommuTypeName(container.iommuType),
      bars: [0, 1, 2, 3, 4, 5].map((n) => barReport(d, n)).filter((b): b is BarReport => b !== null),
      msix:
        d.msix && l
          ? {
              entries: l.entries,
              table: `BAR${l.tableBar}+${hex(BigInt(l.tableOffset))}`,
              pba: `BAR${l.pbaBar}+${hex(BigInt(l.pbaOffset))}`,
              programmedBy: own?.msixProgrammedBy ?? 'none',
              vectors: (own?.vectorIrqs ?? []).map((irq, vector) => ({
                vector,
                irq,
                handled: own!.handled[vector] ?? 0,
              })),
              relocation: String(d.options.msixRelocation ?? 'off'),
            }
          : null,
      intx: intxReport(d, kernel),
      rom: romReport(d, guest.roms.find((r) => r.devfn === d.devfn)?.rom ?? null),
      interrupts: {
        raised: st.interrupts + st.lostInterrupts,
        viaKvm: d.interrupts.kvm,
        viaVmm: d.interrupts.vmm,
        pended: d.interrupts.pended,
        lost: st.lostInterrupts + st.msiFaults + st.remapBlocked,
      },
      dma: {
        mappings: container.mappings.map((x) => ({ iova: hex(x.iova), size: hex(x.size), region: x.region })),
        faults: st.dmaFaults.length,
        blocked: st.dmaBlocked,
      },
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
  const policy = host.interruptPolicy();
  if (/allow_unsafe_interrupts=1/.test(policy.reason)) warnings.push(`unsafe interrupts allowed: ${policy.reason}`);
  for (const d of m.devices) {
    if (d.counts.mmapExit)
      warnings.push(
        `${d.hostName}: ${d.counts.mmapExit} accesses hit BAR pages shared with the MSI-X table/PBA overlay ` +
          `(${h.pageSize / 1024} KiB host pages) and exited to the VMM; x-msix-relocation=barN would move the table`,
      );
    if (d.counts.trapped)
      warnings.push(
        `${d.hostName}: ${d.counts.trapped} BAR accesses were trapped and forwarded to the kernel (pread/pwrite)`,
      );
    const faults = kernel.deviceCounters(d.hostName).dmaFaults;
    if (faults.length)
      warnings.push(
        `${d.hostName}: ${faults.length} IOMMU faults (DMA to unmapped IOVAs, first at ` +
          `${hex(faults[0]!.iova)}); nothing was written`,
      );
    if (d.dropped.length) warnings.push(`${d.hostName}: ${d.dropped.length} malformed config accesses dropped`);
  }
  if (m.irq.bogus) warnings.push(`${m.irq.bogus} MSI writes named no interrupt`);
  if (c.unassigned) warnings.push(`${c.unassigned} guest accesses hit unassigned addresses`);
  if (guest.vectorsRefused)
    warnings.push(
      `${guest.vectorsRefused} MSI-X vectors were refused: the ${s.interrupts.controller} has ` +
        `${m.irq.capacity()} for devices and the drivers asked for more; devices left without vectors take no ` +
        'interrupts',
    );
  return {
    machine: {
      name: s.name,
      file: s.file,
      description: s.description,
      iommu: s.iommu,
      interruptController: s.interrupts.controller,
      msixEmulation: s.msixEmulation,
    },
    host: {
      name: h.name,
      arch: h.arch,
      pageSize: h.pageSize,
      kernel: h.kernel,
      iommu: h.iommu.kind,
      msi: h.msi.controller,
      interruptPolicy: policy.reason,
    },
    guest: { name: program.name, iterations: program.iterations },
    devices,
    interruptsDelivered: m.irq.delivered,
    accesses: {
      fast: { ram: c.ram, mmap },
      slow: { mmapExit, msixOverlay: overlay, trappedToKernel: trapped, config },
      unassigned: c.unassigned,
      invalid: c.invalid,
    },
    estimate: { costsNs: k, totalUs: Object.values(byPathUs).reduce((a, b) => a + b, 0), byPathUs },
    driver,
    warnings,
    verdict,
  };
}
