import { VdmError } from '../util/errors.ts';
// Where the MSI-X table and PBA live and which BAR ranges may be mmapped: QEMU's
// vfio_msix_early_setup (PBA quirks), vfio_pci_fixup_msix_region and vfio_pci_relocate_msix
// (hw/vfio/pci.c). Pure functions over numbers, so each rule is testable on its own.

/** One BAR as vfio_bars_prepare sees it. */
export interface BarInfo {
  index: number;
  size: bigint;
  ioport: boolean;
  mem64: boolean;
  prefetch: boolean;
}

/** VFIOMSIXInfo. */
export interface MsixLayout {
  entries: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
  noresize: boolean;
}

/** x-msix-relocation: off, auto, or a BAR index. */
export type Relocation = 'off' | 'auto' | number;

/** A realize-time refusal, worded as QEMU words it. */
export class VfioRealizeError extends VdmError {
  override name = 'VfioRealizeError';
}

export const MSIX_ENTRY_SIZE = 16;

export function pbaSize(entries: number): number {
  return (Math.ceil(entries / 64) * 64) / 8;
}

/**
 * The PBA sanity quirk of vfio_msix_early_setup: a PBA offset past its BAR is fixed for the
 * Chelsio T5 VFs (0x58xx: 0x1000) and Baidu Kunlun VFs (0xb400); anything else fails realize
 * unless relocation will move the PBA anyway.
 */
export function fixPbaOffset(
  layout: MsixLayout,
  pbaBarSize: bigint,
  vendor: number,
  device: number,
  relocation: Relocation,
): MsixLayout {
  if (BigInt(layout.pbaOffset) < pbaBarSize) return layout;
  if (vendor === 0x1425 && (device & 0xff00) === 0x5800) return { ...layout, pbaOffset: 0x1000 };
  if (vendor === 0x1d22 && device === 0x3685) return { ...layout, pbaOffset: 0xb400 };
  if (relocation === 'off')
    throw new VfioRealizeError('hardware reports invalid configuration, MSIX PBA outside of specified BAR');
  return layout;
}

/**
 * vfio_pci_fixup_msix_region: only for a BAR with one mmap over all of it and no MSIX_MAPPABLE
 * (kernels before 4.6): cut the table's host pages out of the mmap. The PBA is not considered.
 */
export function fixupMsixMmaps(
  areas: { offset: bigint; size: bigint }[],
  barSize: bigint,
  layout: MsixLayout,
  hostPage: bigint,
): { offset: bigint; size: bigint }[] {
  if (areas.length !== 1 || areas[0]!.offset !== 0n || areas[0]!.size !== barSize) return areas;
  const start = BigInt(layout.tableOffset) & ~(hostPage - 1n);
  const end = (BigInt(layout.tableOffset + layout.entries * MSIX_ENTRY_SIZE) + hostPage - 1n) & ~(hostPage - 1n);
  if (start === 0n && end >= barSize) return [];
  if (start === 0n) return [{ offset: end, size: barSize - end }];
  if (end >= barSize) return [{ offset: 0n, size: start }];
  return [
    { offset: 0n, size: start },
    { offset: end, size: barSize - end },
  ];
}

function pow2ceil(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

/**
 * vfio_pci_relocate_msix: put table and PBA at the end of an existing BAR (doubling it) or in an
 * empty one, so no device register shares a host page with the table. Returns the new layout and
 * the BARs' new shapes; refusals use QEMU's wording.
 */
export function relocateMsix(
  layout: MsixLayout,
  bars: (BarInfo | null)[],
  target: Relocation,
  hostPage: bigint,
  vendor: number,
  device: number,
): { layout: MsixLayout; bars: (BarInfo | null)[] } {
  if (target === 'off') return { layout, bars };
  const id = `${hex4(vendor)}:${hex4(device)}`;
  if (target === 'auto') throw new VfioRealizeError(`No automatic MSI-X relocation available for device ${id}`);
  const n = target;
  const out = bars.map((b) => (b ? { ...b } : null));
  const bar = out[n];
  if (bar?.ioport) throw new VfioRealizeError(`Invalid MSI-X relocation BAR ${n}, I/O port BAR`);
  if (!bar && n > 0 && out[n - 1]?.mem64)
    throw new VfioRealizeError(`Invalid MSI-X relocation BAR ${n}, consumed by 64-bit BAR ${n - 1}`);
  let msixSz = BigInt(layout.entries * MSIX_ENTRY_SIZE + pbaSize(layout.entries));
  msixSz = pow2ceil((msixSz + hostPage - 1n) & ~(hostPage - 1n));
  let tableOffset: bigint;
  if (bar?.size) {
    if (!bar.mem64 && bar.size > 1n << 30n)
      throw new VfioRealizeError(`Invalid MSI-X relocation BAR ${n}, no space to extend 32-bit BAR`);
    const size = bar.size * 2n > msixSz * 2n ? bar.size * 2n : msixSz * 2n;
    bar.size = size;
    tableOffset = size / 2n;
  } else {
    const next = n < 5 ? out[n + 1] : null;
    out[n] = { index: n, size: msixSz, ioport: false, mem64: n < 5 && !next, prefetch: true };
    tableOffset = 0n;
  }
  const t = Number(tableOffset);
  return {
    layout: { ...layout, tableBar: n, pbaBar: n, tableOffset: t, pbaOffset: t + layout.entries * MSIX_ENTRY_SIZE },
    bars: out,
  };
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

/** The first BAR x-msix-relocation=barN would accept for this device (what to suggest), or null. */
export function relocationCandidate(
  layout: MsixLayout,
  bars: (BarInfo | null)[],
  hostPage: bigint,
  vendor: number,
  device: number,
): number | null {
  for (let n = 0; n < 6; n++) {
    try {
      relocateMsix(layout, bars, n, hostPage, vendor, device);
      return n;
    } catch (e) {
      if (!(e instanceof VfioRealizeError)) throw e;
    }
  }
  return null;
}
