// The data a memory map shows, built once in Node and embedded in the page as JSON: the boxes of
// each address space's tree (containers, aliases expanded in place, regions), what answers each
// stretch of addresses (the flat view, split where the path or the explanation changes) with the
// explanation `--explain` gives there, and the host pages that exit.
import {
  explainAddress,
  explanationData,
  U64_SPAN,
  type AddressSpace,
  type ExplanationData,
  type MemoryRegion,
} from '../memory/index.ts';
import { decidePath, explainGuestAccess, type AccessPath, type Machine } from '../machine/index.ts';
import { encodeExplanation, type ExplanationJson } from './map-json.ts';

/** One drawn region of the tree. Addresses are hex strings ("0x..."), the end exclusive. */
export interface MapBox {
  name: string;
  kind: 'container' | 'alias' | 'region';
  /** `info mtree`'s type: ram, i/o, ramd, rom, ... */
  type: string;
  start: string;
  end: string;
  depth: number;
  prio: number;
  /** For aliases: the target region and the offset into it. */
  target?: string;
  /** For regions: the colour. */
  path?: AccessPath;
}

/** A stretch of one address space served the same way: colour, name, explanation at its start. */
export interface MapSegment {
  start: string;
  end: string;
  /** The region that answers, or "" where nothing does. */
  name: string;
  path: AccessPath;
  explain: ExplanationJson;
}

/** One lane: an address space. */
export interface MapLane {
  name: string;
  root: string;
  depth: number;
  boxes: MapBox[];
  segments: MapSegment[];
}

/** What the page and the SVG draw. */
export interface MapModel {
  title: string;
  subtitle: string;
  lanes: MapLane[];
}

/** How a source of address spaces decides paths and explanations. */
interface Source {
  pathOf(mr: MemoryRegion): AccessPath;
  explain(as: AddressSpace, addr: bigint): ExplanationData & { path: AccessPath };
  /** Addresses where the path changes inside one region (host pages that exit). */
  extraCuts(as: AddressSpace): bigint[];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
/** Beyond this many boxes a lane stops expanding (a farm of thousands of NICs stays drawable). */
const MAX_BOXES = 20000;

/** Collects a lane's boxes (aliases expanded under themselves, clipped to their window) and its cut points. */
function treeBoxes(as: AddressSpace, src: Source, cuts: Set<bigint>): { boxes: MapBox[]; depth: number } {
  const boxes: MapBox[] = [];
  let depth = 0;
  const walk = (mr: MemoryRegion, origin: bigint, d: number, lo: bigint, hi: bigint): void => {
    if (!mr.enabled || boxes.length >= MAX_BOXES) return;
    const s = origin > lo ? origin : lo;
    const e = origin + mr.size < hi ? origin + mr.size : hi;
    if (s >= e) return;
    cuts.add(s).add(e);
    depth = Math.max(depth, d);
    const box: MapBox = {
      name: mr.name,
      kind: mr.alias ? 'alias' : mr.terminates ? 'region' : 'container',
      type: mr.typeName(),
      start: hex(s),
      end: hex(e),
      depth: d,
      prio: mr.priority,
    };
    if (mr.alias) box.target = `${mr.alias.name} @${hex(mr.aliasOffset)}`;
    if (mr.terminates) box.path = src.pathOf(mr);
    boxes.push(box);
    if (mr.alias) {
      walk(mr.alias, origin - mr.aliasOffset, d + 1, s, e);
      return;
    }
    // Lowest priority first, so a higher-priority sibling is drawn over it.
    for (const c of [...mr.subregions].reverse()) walk(c, origin + c.addr, d + 1, s, e);
  };
  walk(as.root, as.root.addr, 0, 0n, U64_SPAN);
  return { boxes, depth };
}

function lane(as: AddressSpace, src: Source): MapLane {
  const cuts = new Set<bigint>([0n, 1n << 53n]);
  const { boxes, depth } = treeBoxes(as, src, cuts);
  for (const c of src.extraCuts(as)) cuts.add(c);
  const end = as.root.addr + as.root.size;
  const sorted = [...cuts].filter((c) => c >= as.root.addr && c <= end).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const segments: MapSegment[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const start = sorted[i]!;
    const e = src.explain(as, start);
    const prev = segments[segments.length - 1];
    // Same region, same path, same coverage: one segment (its explanation shifts with the address).
    if (
      prev &&
      prev.path === e.path &&
      prev.name === (e.winner?.name ?? '') &&
      sameStretch(prev.explain, encodeExplanation(e), BigInt(prev.start), start)
    ) {
      prev.end = hex(sorted[i + 1]!);
      continue;
    }
    segments.push({
      start: hex(start),
      end: hex(sorted[i + 1]!),
      name: e.winner?.name ?? '',
      path: e.path,
      explain: encodeExplanation(e),
    });
  }
  return { name: as.name, root: as.root.name, depth, boxes, segments };
}

/** Whether the explanation at `at` is the one at `from` moved along (same regions, same flat range). */
function sameStretch(a: ExplanationJson, b: ExplanationJson, from: bigint, at: bigint): boolean {
  const d = at - from;
  const off = (x: string) => hex(BigInt(x) + d);
  const shifted = {
    ...a,
    addr: off(a.addr),
    winner: a.winner && { ...a.winner, offset: off(a.winner.offset) },
    hidden: a.hidden.map((h) => ({ ...h, offset: off(h.offset) })),
  };
  return JSON.stringify(shifted) === JSON.stringify(b);
}

/** The map of a booted machine: paths and explanations from the same rule as `--explain` and the boot report. */
export function machineMap(m: Machine, title: string): MapModel {
  const src: Source = {
    pathOf: (mr) => {
      const p = decidePath(m, mr, 0n).path;
      return p === 'mmapExit' ? 'mmap' : p; // the box is the mmap; its exiting pages are hatched in the flat row
    },
    explain: (as, addr) => explainGuestAccess(m, as, addr),
    extraCuts: () => {
      // Each exiting host page of an mmapped BAR: its explanation names the page.
      const out: bigint[] = [];
      for (const d of m.devices) {
        for (const vb of d.vbar) {
          const bar = vb && d.bars[vb.index];
          if (!vb?.mmaps.length || !bar || bar.addr === 0xffffffffffffffffn) continue;
          const page = d.pageSize;
          for (let o = 0; o < Number(vb.base.size); o += page)
            if (d.mmapExits(vb.index, o)) out.push(bar.addr + BigInt(o), bar.addr + BigInt(o + page));
        }
      }
      return out;
    },
  };
  const spaces = m.addressSpaceIo ? [m.addressSpaceMemory, m.addressSpaceIo] : [m.addressSpaceMemory];
  const host = m.kernel.uname();
  return {
    title,
    subtitle:
      `machine ${m.spec.name} on host ${host.nodename} (${host.machine}, ` +
      `${m.kernel.pageSize() / 1024} KiB pages); ${m.devices.length} assigned device(s)`,
    lanes: spaces.map((as) => lane(as, src)),
  };
}

/** vfio-pci's trapped BAR region, as QEMU names it: "0000:01:00.0 BAR 0". */
const VFIO_BAR = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] BAR [0-5]$/;

/** Colour of a region of an imported dump, from its type and QEMU's names (no device facts there). */
export function importedPath(mr: MemoryRegion): AccessPath {
  if (mr.countsAsUnassigned) return 'unassigned';
  if (mr.isRam || mr.isRomDevice) return 'ram';
  if (mr.isRamDevice) return 'mmap';
  if (mr.name === 'msix-table' || mr.name === 'msix-pba') return 'msixOverlay';
  if (VFIO_BAR.test(mr.name)) return 'trappedToKernel';
  return 'vmm';
}

/** The map of an imported QEMU dump: the tree as QEMU built it; paths from region types and names. */
export function importedMap(spaces: AddressSpace[], title: string): MapModel {
  const src: Source = {
    pathOf: importedPath,
    explain: (as, addr) => {
      const e = explainAddress(as, addr);
      return { ...explanationData(e), path: e.winner ? importedPath(e.winner.region) : 'unassigned' };
    },
    extraCuts: () => [],
  };
  // One lane per root: QEMU lists aliases of the same root (e.g. every PCI device's bus-master space) as
  // separate spaces.
  const seen = new Set<MemoryRegion>();
  const lanes: MapLane[] = [];
  for (const as of spaces) {
    if (seen.has(as.root)) continue;
    seen.add(as.root);
    lanes.push(lane(as, src));
  }
  return {
    title,
    subtitle: `imported QEMU "info mtree" dump; ${lanes.length} address space(s) with distinct roots`,
    lanes,
  };
}
