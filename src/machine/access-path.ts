import {
  explainAddress,
  explanationData,
  type AddressSpace,
  type ExplanationData,
  type MemoryRegion,
} from '../memory/index.ts';
import { relocationCandidate, type VfioPciDevice } from '../vfio/index.ts';
import type { AccessCosts } from './machine-file.ts';
import type { Machine } from './machine.ts';

/**
 * How a guest access is served on a booted machine, named as the boot report counts it:
 * ram (guest RAM), mmap (a BAR's mmap in a KVM memslot: no exit), mmapExit (an mmapped page KVM
 * cannot map, because it shares a host page with an overlay: the VMM serves it), msixOverlay
 * (QEMU's MSI-X table/PBA emulation), trappedToKernel (the VMM forwards it to the kernel with
 * pread/pwrite on the device fd), vmm (another region the VMM emulates), unassigned.
 */
export type AccessPath = 'ram' | 'mmap' | 'mmapExit' | 'msixOverlay' | 'trappedToKernel' | 'vmm' | 'unassigned';

/** What one access on that path costs by the machine's cost table (machines/NAME.json "costs"), in ns. */
export function pathCostNs(path: AccessPath, k: AccessCosts): number {
  switch (path) {
    case 'ram':
      return k.ram;
    case 'mmap':
      return k.mmap;
    case 'trappedToKernel':
      return k.vmmTrap + k.kernelTrap;
    default:
      return k.vmmTrap;
  }
}

/** What a region is to the machine's vfio-pci devices. */
type Role =
  | { dev: VfioPciDevice; bar: number; kind: 'mmap'; at: number }
  | { dev: VfioPciDevice; bar: number; kind: 'trapped' }
  | { dev: VfioPciDevice; kind: 'msix-table' | 'msix-pba' };

function roleOf(m: Machine, mr: MemoryRegion): Role | null {
  for (const dev of m.devices) {
    if (dev.msix?.tableRegion === mr) return { dev, kind: 'msix-table' };
    if (dev.msix?.pbaRegion === mr) return { dev, kind: 'msix-pba' };
    for (const vb of dev.vbar) {
      if (!vb) continue;
      if (vb.trapped === mr) return { dev, bar: vb.index, kind: 'trapped' };
      const mm = vb.mmaps.find((x) => x.region === mr);
      if (mm) return { dev, bar: vb.index, kind: 'mmap', at: Number(mm.offset) };
    }
  }
  return null;
}

/** The path of a region at an offset, and the device BAR facts that decided it. */
export interface PathDecision {
  path: AccessPath;
  role: Role | null;
}

/** Decides the path for `offset` into `mr` (a region that answers an access): the rule the counters follow. */
export function decidePath(m: Machine, mr: MemoryRegion | null, offset: bigint): PathDecision {
  if (!mr || mr.countsAsUnassigned) return { path: 'unassigned', role: null };
  const role = roleOf(m, mr);
  if (role?.kind === 'mmap')
    return { path: role.dev.mmapExits(role.bar, role.at + Number(offset)) ? 'mmapExit' : 'mmap', role };
  if (role?.kind === 'trapped') return { path: 'trappedToKernel', role };
  if (role) return { path: 'msixOverlay', role };
  if (mr.isRam || mr.isRomDevice) return { path: 'ram', role };
  if (mr.isRamDevice) return { path: 'mmap', role };
  return { path: 'vmm', role };
}

const VERDICT: Record<AccessPath, string> = {
  ram: 'guest RAM: stays in the guest, no exit (fast path)',
  mmap: 'mmapped BAR in a KVM memslot: stays in the mmap, no exit (fast path)',
  mmapExit: 'mmapped BAR, but EXITS to the VMM: KVM cannot map this host page (slow path)',
  msixOverlay: 'EXITS to the VMM: QEMU emulates the MSI-X table/PBA here (slow path)',
  trappedToKernel:
    'EXITS to the VMM, which forwards it to the kernel with pread/pwrite on the device fd (slowest path)',
  vmm: 'EXITS to the VMM: a region the VMM emulates (slow path)',
  unassigned: 'EXITS to the VMM and hits nothing: reads 0 or all ones, writes are dropped',
};

const COST_NAME: Record<AccessPath, string> = {
  ram: 'ram',
  mmap: 'mmap',
  mmapExit: 'vmmTrap',
  msixOverlay: 'vmmTrap',
  trappedToKernel: 'vmmTrap + kernelTrap',
  vmm: 'vmmTrap',
  unassigned: 'vmmTrap',
};

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/** The x-msix-relocation option that would free the MSI-X table's pages (QEMU's "auto" knows no device). */
function relocationFix(dev: VfioPciDevice, gain: string): string {
  const l = dev.msixLayout!;
  const n = relocationCandidate(
    l,
    dev.vbar.map((v) => v?.info ?? null),
    BigInt(dev.pageSize),
    dev.vendorId,
    dev.deviceId,
  );
  if (n === null)
    return 'fix: none by relocation: no BAR can take the MSI-X table (hw/vfio/pci.c:vfio_pci_relocate_msix)';
  const where = n === l.tableBar ? `to the end of BAR${n}, doubled` : `into BAR${n}`;
  return (
    `fix: x-msix-relocation=bar${n} moves the MSI-X table and PBA ${where}, and ${gain} ` +
    '(hw/vfio/pci.c:vfio_pci_relocate_msix)'
  );
}

/** Why the access takes its path and what would change it. */
function notes(m: Machine, d: PathDecision, offset: bigint): string[] {
  const out: string[] = [];
  const page = m.kernel.pageSize();
  const r = d.role;
  if (d.path === 'mmapExit' && r?.kind === 'mmap') {
    const inBar = r.at + Number(offset);
    const first = Math.floor(inBar / page) * page;
    const cause = r.dev.mmapExitCause(r.bar, inBar);
    const what =
      cause === 'sub-page-bar'
        ? `BAR${r.bar} is smaller than a host page and not page-aligned in the guest`
        : `the host page BAR${r.bar}+${hex(first)}-${hex(first + page - 1)} (${page / 1024} KiB) also holds ` +
          `${cause === 'quirk' ? 'a device quirk region QEMU traps (hw/vfio/pci-quirks.c)' : `the ${cause === 'msix-pba' ? 'MSI-X PBA' : 'MSI-X table'} QEMU emulates`}`;
    out.push(
      `why: ${what}, so KVM makes no memslot for it (kvm_align_section) and QEMU serves the access from the mmap`,
    );
    if (cause === 'msix-table' || cause === 'msix-pba') out.push(relocationFix(r.dev, 'this page stays in the mmap'));
  } else if (d.path === 'trappedToKernel' && r?.kind === 'trapped') {
    const l = r.dev.msixLayout;
    if (r.dev.options.noMmap) out.push('why: x-no-mmap=on: no BAR is mmapped\nfix: drop x-no-mmap=on');
    else if (l && (l.tableBar === r.bar || l.pbaBar === r.bar)) {
      out.push(
        `why: the kernel grants no mmap of the host page(s) holding the MSI-X table/PBA in BAR${r.bar} ` +
          '(hw/vfio/pci.c:vfio_pci_fixup_msix_region)',
      );
      out.push(relocationFix(r.dev, 'the whole BAR can be mmapped'));
    } else
      out.push(
        `why: the kernel grants no mmap of this part of BAR${r.bar} (VFIO region info: no MMAP flag, or a ` +
          'hole in the sparse mmap)',
      );
  }
  out.push(
    `cost: ${pathCostNs(d.path, m.spec.costs).toLocaleString('en-US')} ns per access (${COST_NAME[d.path]} in ` +
      `machines/${m.spec.name}.json)`,
  );
  return out.flatMap((l) => l.split('\n'));
}

/** `--explain` on a booted machine: the memory tree's answer, then the path the access takes, its cost and a fix. */
export function explainGuestAccess(m: Machine, as: AddressSpace, addr: bigint): ExplanationData & { path: AccessPath } {
  const e = explainAddress(as, addr);
  const data = explanationData(e);
  const d = decidePath(m, e.winner?.region ?? null, e.winner?.offset ?? 0n);
  return {
    ...data,
    path: d.path,
    access: VERDICT[d.path],
    notes: [`memory core: ${data.access}`, ...notes(m, d, e.winner?.offset ?? 0n)],
  };
}
