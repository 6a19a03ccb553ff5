import { SimHost, isBridge, type HostFunction } from '../host/index.ts';
import { UsageError } from './errors.ts';
import { parseOptions } from './options.ts';
import { inputFile, shippedNames } from './input-files.ts';

export const HOST_HELP = `usage: vdm host FILE [--json]

Prints a host's PCI tree (like lspci -tv) with each function's driver, ACS, IOMMU group and group
viability, and the IOMMU and MSI-isolation facts that decide whether assignment is allowed.
FILE is a host description (machines/hosts/*.json), or the name of one shipped with vdm.
`;

export const HOSTS_HELP = `usage: vdm hosts

Lists the host descriptions shipped in machines/hosts/.
`;

const kib = (n: bigint) => (n >= 1n << 30n ? `${n >> 30n}G` : n >= 1n << 20n ? `${n >> 20n}M` : `${n >> 10n}K`);
const hex = (n: bigint) => `0x${n.toString(16)}`;

/** A host by shipped name or by path (relative to the user's directory). */
export function loadHost(name: string): SimHost {
  const f = inputFile('host', name);
  return SimHost.load(f.path, f.display);
}

/** `vdm host FILE [--json]`. */
export function hostCommand(argv: string[]): { out: string; err: string } {
  const { values, positionals } = parseOptions('vdm host', argv, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError('vdm host: expected exactly one host file');
  const host = loadHost(positionals[0]!);
  return {
    out: values.json
      ? JSON.stringify(hostReport(host), (_k, v) => (typeof v === 'bigint' ? hex(v) : v), 2) + '\n'
      : formatHost(host),
    err: '',
  };
}

/** `vdm hosts`. */
export function hostsCommand(): { out: string; err: string } {
  const lines = shippedNames('host').map((name) => {
    const h = loadHost(name);
    return (
      `${h.spec.name.padEnd(20)} ${h.spec.arch.padEnd(8)} ${String(h.spec.pageSize / 1024).padStart(2)}K ` +
      `pages  ${h.spec.iommu.kind.padEnd(12)} ${h.spec.msi.controller.padEnd(10)} kernel ${h.spec.kernel}`
    );
  });
  return { out: lines.join('\n') + '\n', err: '' };
}

/** The facts `vdm host --json` prints. */
export function hostReport(host: SimHost) {
  const s = host.spec;
  return {
    name: s.name,
    arch: s.arch,
    pageSize: s.pageSize,
    kernel: host.kernel,
    iommu: { kind: s.iommu.kind, pageSizes: s.iommu.pageSizes, aperture: s.iommu.aperture, reserved: host.reserved },
    msi: {
      controller: s.msi.controller,
      isolated: host.msiIsolated(),
      allowUnsafeInterrupts: s.allowUnsafeInterrupts,
      ...host.interruptPolicy(),
    },
    groups: host.groups.map((g) => ({
      id: g.id,
      functions: g.functions.map((f) => f.spec.address),
      ...host.viability(g),
    })),
    functions: host.functions.map((f) => ({
      address: f.spec.address,
      type: f.spec.type,
      id: `${hex4(f.spec.vendor)}:${hex4(f.spec.device)}`,
      driver: f.spec.driver,
      acs: f.spec.acs,
      acsEnabled: host.acsEnabled(f),
      group: f.group!.id,
      bars: f.spec.bars,
      msix: f.spec.msix,
    })),
  };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** The IOMMU line: type1 page sizes and aperture, sPAPR windows, or PAMU geometry. */
function iommuFacts(host: SimHost): string {
  const { iommu, eeh } = host.spec;
  if (iommu.spapr) {
    const sp = iommu.spapr;
    return (
      `spapr-tce (${sp.ownershipOps ? 'SPAPR_TCE_v2, DDW' : 'SPAPR_TCE v1 only'}), 32-bit window ` +
      `0x0+${hex(sp.dma32WindowSize)}, TCE sizes ${sp.pageSizes.map(kib).join(' ')}, ${sp.maxWindows} windows ` +
      `(DDW at ${hex(sp.ddwStart)}), ${sp.levels} levels, EEH ${eeh ? 'on' : 'off'}`
    );
  }
  if (iommu.pamu) {
    const removed = host.kernel.pamuWindowsRemoved ? ' (windows removed in 5.13: VFIO_FSL_PAMU unavailable)' : '';
    return (
      `fsl-pamu (windowed, vendor VFIO_FSL_PAMU), aperture up to ${kib(iommu.pamu.apertureSize)}, up to ` +
      `${iommu.pamu.maxSubwindows} subwindows, ${host.spec.msi.banks} MSI banks${removed}`
    );
  }
  return (
    `${iommu.kind}, page sizes ${iommu.pageSizes.map(kib).join(' ')}, aperture ` +
    `${hex(iommu.aperture.start)}-${hex(iommu.aperture.end)}`
  );
}

/** lspci -tv style tree plus the facts that decide assignment. */
export function formatHost(host: SimHost): string {
  const s = host.spec;
  const policy = host.interruptPolicy();
  const out = [
    `host ${s.name}: ${s.arch}, ${s.pageSize / 1024} KiB pages, kernel ${s.kernel}`,
    s.description ? `  ${s.description}` : '',
    `  IOMMU: ${iommuFacts(host)}`,
    `  reserved IOVA: ${host.reserved.map((r) => `${hex(r.start)}-${hex(r.end)} ${r.type}`).join(', ') || 'none'}`,
    `  MSI: ${policy.reason} -> assignment ${policy.allowed ? 'allowed' : 'REFUSED'}`,
    `  kernel: MSI-X BAR ${host.kernel.msixMappable ? 'mappable (4.16+)' : host.kernel.capabilityChains ? 'sparse-mmapped around the table (4.6-4.15)' : 'not mappable over the table (<4.6)'}, viability by ${host.kernel.dmaOwnership ? 'DMA ownership (5.19+)' : 'driver allow list (<5.19)'}`,
    '',
  ].filter((l, i) => l !== '' || i === 6);
  const line = (f: HostFunction, prefix: string, last: boolean): void => {
    const sp = f.spec;
    const v = host.viability(f.group!);
    const acs = sp.acs ? ` ACS:${sp.acs.ctrl.join(',') || '-'}` : '';
    const extras = [
      sp.bars.map((b) => `BAR${b.index} ${kib(b.size)} ${b.kind}`).join(' '),
      sp.msix ? `MSI-X ${sp.msix.entries} @BAR${sp.msix.table.bar}+${hex(BigInt(sp.msix.table.offset))}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    out.push(
      `${prefix}${last ? '└─' : '├─'} ${sp.address.slice(5)} ${sp.type} ${hex4(sp.vendor)}:${hex4(sp.device)} ` +
        `[${sp.driver ?? 'no driver'}]${acs}${extras ? ` ${extras}` : ''}  group ${f.group!.id} ` +
        `${v.viable ? 'viable' : 'NOT viable'}`,
    );
    const kids = host.functions.filter((k) => k.parent === f);
    if (isBridge(sp.type) && kids.length) {
      const p = prefix + (last ? '   ' : '│  ');
      out.push(`${p}└─ [${sp.address.slice(0, 4)}:${hex4(sp.secondaryBus!).slice(2)}]`);
      kids.forEach((k, i) => line(k, p + '   ', i === kids.length - 1));
    }
  };
  const roots = host.functions.filter((f) => f.parent === null);
  out.push(`[${roots[0]?.spec.address.slice(0, 7) ?? '0000:00'}]`);
  roots.forEach((f, i) => line(f, '', i === roots.length - 1));
  const blocked = host.groups.filter((g) => !host.viability(g).viable);
  if (blocked.length) out.push('', ...blocked.map((g) => `  ${host.viability(g).advice}`));
  return out.join('\n') + '\n';
}
