import type { BootReport } from './report.ts';
import { alignColumns } from '../util/table.ts';

const n = (v: number) => v.toLocaleString('en-US');
/** Microseconds with one decimal and thousands separators. */
const us1 = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** The boot report for a terminal: one screen, sections in the order a VMM developer asks. */
export function formatBootReport(r: BootReport): string {
  const out: string[] = [];
  // The answer first (does it work?), then the details that explain it.
  out.push(`verdict: ${r.verdict.summary}`);
  for (const d of r.verdict.devices) out.push(`  ${d.id}: ${d.summary}`);
  out.push('');
  out.push(
    `vdm boot: machine ${r.machine.name} (${r.machine.interruptController}, ${r.machine.iommu}, MSI-X table ` +
      `${r.machine.msixEmulation ? 'emulated' : 'NOT emulated: vfio-no-msix-emulation'})`,
  );
  out.push(
    `  host ${r.host.name}: ${r.host.arch}, ${r.host.pageSize / 1024} KiB pages, kernel ${r.host.kernel}, ` +
      `${r.host.iommu}, ${r.host.msi}`,
  );
  out.push(`  guest ${r.guest.name}: ${n(r.guest.iterations)} iterations`);
  for (const d of r.devices) {
    out.push('');
    out.push(`device ${d.id} = host ${d.host}  (IOMMU group ${d.group}, VFIO container ${d.iommuType})`);
    for (const b of d.bars) {
      out.push(
        `  BAR${b.index} @ ${b.guestAddress} size ${b.size}${b.relocatedMsix ? '  (MSI-X relocated here)' : ''}`,
      );
      out.push(`    mmapped (fast): ${b.mmapped.join(', ') || 'none'}`);
      out.push(`    trapped (slow): ${b.trapped.join(', ') || 'none'}`);
      for (const o of b.overlays) out.push(`    overlay ${o.name} ${o.range} ${o.enabled ? 'enabled' : 'disabled'}`);
      out.push(
        `    guest accesses by path: ${n(b.accesses.mmap)} mmap, ${n(b.accesses.mmapExit)} mmap exits, ` +
          `${n(b.accesses.trapped)} trapped`,
      );
    }
    if (d.msix) {
      out.push(
        `  MSI-X: ${d.msix.entries} entries, table ${d.msix.table}, PBA ${d.msix.pba}, relocation ` +
          `${d.msix.relocation}, programmed by ` +
          `${d.msix.programmedBy === 'rtas' ? 'RTAS ibm,change-msi' : d.msix.programmedBy === 'table' ? 'table writes' : 'nobody'}`,
      );
      out.push(
        `    vectors: ${d.msix.vectors.map((v) => `${v.vector}->irq ${v.irq} (${n(v.handled)} handled)`).join(', ') || 'none'}`,
      );
    }
    if (d.rom) {
      const f = d.rom.firmware;
      out.push(
        `  ROM (BAR6): ${d.rom.size} from ` +
          `${d.rom.source === 'device' ? 'the device (read lazily through VFIO)' : 'romfile='}; ` +
          `${n(d.rom.guestReads)} guest reads; firmware: ` +
          `${f ? `${f.valid ? 'valid' : 'INVALID'} at ${f.address} (${f.detail})` : 'not checked'}`,
      );
    }
    if (d.intx) {
      const x = d.intx;
      const how =
        x.path === 'vmm'
          ? `VMM path: ${n(x.vmmEois)} EOIs from trapped BAR accesses, mmaps off ${n(x.mmapsDisabled)}x, back ` +
            `${n(x.mmapsReenabled)}x`
          : x.path === 'kvm-resample'
            ? 'KVM irqfd + resample, mmaps stay on'
            : 'not in use';
      out.push(
        `  INTx pin ${x.pin} -> irq ${x.irq < 0 ? 'none' : x.irq} (host line ${x.hostLine}, masked at the ` +
          `${x.maskedAt}): ${n(x.raised)} raised, ${n(x.unmasks)} unmasks; ${how}`,
      );
    }
    const i = d.interrupts;
    out.push(...interruptLines(i));
    out.push(
      `  DMA: ${d.dma.mappings.length} mapping(s) ${d.dma.mappings
        .slice(0, 3)
        .map((m) => `${m.iova}+${m.size}`)
        .join(
          ', ',
        )}${d.dma.mappings.length > 3 ? ', ...' : ''}; ${n(d.dma.faults)} IOMMU faults, ${n(d.dma.blocked)} blocked (no bus master)`,
    );
  }
  const a = r.accesses;
  const e = r.estimate;
  const c = e.costsNs;
  out.push('');
  // A trapped access costs a VMM exit plus the kernel's pread/pwrite: shown as the machine file's two costs.
  const row = (label: string, count: number, ns: number | string, us: number) => [
    label,
    n(count),
    typeof ns === 'string' ? ns : `${n(ns)} ns`,
    `${us1(us)} us`,
  ];
  out.push(
    ...alignColumns(
      [
        ['accesses', 'count', 'cost/access', 'est. time'],
        row('fast: guest RAM', a.fast.ram, c.ram, e.byPathUs.ram!),
        row('fast: mmapped BAR (memslot)', a.fast.mmap, c.mmap, e.byPathUs.mmap!),
        row('slow: mmapped, exits (shared page)', a.slow.mmapExit, c.vmmTrap, e.byPathUs.mmapExit!),
        row('slow: MSI-X table/PBA (VMM)', a.slow.msixOverlay, c.vmmTrap, e.byPathUs.msixOverlay!),
        row(
          'slow: trapped to kernel (pread/pwrite)',
          a.slow.trappedToKernel,
          `${n(c.vmmTrap)}+${n(c.kernelTrap)} ns`,
          e.byPathUs.trappedToKernel!,
        ),
        row('slow: config cycles', a.slow.config, c.vmmTrap, e.byPathUs.config!),
      ],
      [false, true, true, true],
      '  ',
    ),
  );
  out.push(
    `  unassigned ${n(a.unassigned)}, invalid ${n(a.invalid)}; interrupts ${us1(e.byPathUs.interrupts!)} us ` +
      `at ${n(c.interrupt)} ns each`,
  );
  out.push(`  estimated guest-visible time: ${us1(e.totalUs)} us (per-path costs from ${r.machine.file})`);
  if (r.driver)
    out.push(
      `driver${r.driver.nics > 1 ? `s (${n(r.driver.nics)} NICs)` : ''}: ${n(r.driver.transmits)} transmits, ` +
        `${n(r.driver.completions)} completions, ${n(r.driver.statusReads)} status reads, ` +
        `${n(r.driver.masks)} mask rounds, ${n(r.driver.tces)} TCEs, ${n(r.driver.spurious)} spurious`,
    );
  if (r.warnings.length) {
    out.push('warnings:');
    for (const w of r.warnings) out.push(`  - ${w}`);
  }
  out.push('terms (irqfd, memslot, overlay, PBA, TCE, type1, ...): vdm boot --explain-terms');
  return out.join('\n') + '\n';
}

/**
 * The interrupt line: what the device raised and where each went, as a sum when the parts add up
 * (a vector masked when it fires goes to the VMM and is pended in the PBA: those are part of "via the VMM").
 */
function interruptLines(i: BootReport['devices'][number]['interrupts']): string[] {
  const parts = `${n(i.viaKvm)} via KVM irqfd + ${n(i.viaVmm)} via the VMM + ${n(i.lost)} lost`;
  const sums = i.viaKvm + i.viaVmm + i.lost === i.raised;
  const lines = [
    `  interrupts: ${n(i.raised)} raised by the device ${sums ? '=' : '(does not add up:'} ${parts}${sums ? '' : ')'}`,
  ];
  if (i.pended)
    lines.push(
      `    ${n(i.pended)} of those via the VMM fired while their vector was masked: pended in the PBA, ` +
        'delivered on unmask',
    );
  return lines;
}
