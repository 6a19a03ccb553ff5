import type { MemoryRegion } from './region.ts';
import type { AddressSpace } from './address-space.ts';
import { hex16 } from './constants.ts';
import { SectionKind } from './dispatch.ts';
import { formatExplanationData, type CandidateData, type ExplanationData } from './explain-format.ts';

/** One step on the way from an address space's root to the region that answers. */
export interface ExplainStep {
  region: MemoryRegion;
  /** Absolute address where this region's offset 0 sits along this path. */
  base: bigint;
}

/** A terminating region that covers the address along some path, in render precedence. */
export interface ExplainCandidate {
  region: MemoryRegion;
  offset: bigint;
  path: ExplainStep[];
  readonly: boolean;
}

/** Everything `--explain` reports for one address. */
export interface Explanation {
  as: AddressSpace;
  addr: bigint;
  /** The answer: the first candidate (QEMU's "first renderer wins"), or null if unassigned. */
  winner: ExplainCandidate | null;
  /** Lower-precedence regions that also cover the address and are hidden there. */
  hidden: ExplainCandidate[];
  /** The access path the dispatch table takes for this address. */
  path: string;
}

/**
 * Walks the tree in render order (descending priority, newest first; aliases followed with their
 * offset; disabled regions skipped) and collects every terminating region covering `addr`.
 */
export function explainAddress(as: AddressSpace, addr: bigint): Explanation {
  const found: ExplainCandidate[] = [];
  const walk = (mr: MemoryRegion, base: bigint, off: bigint, path: ExplainStep[], ro: boolean): void => {
    if (!mr.enabled || off < 0n || off >= mr.size) return;
    const here = [...path, { region: mr, base }];
    ro ||= mr.readonly;
    if (mr.alias) {
      walk(mr.alias, base - mr.aliasOffset, off + mr.aliasOffset, here, ro);
      return;
    }
    for (const sub of mr.subregions) walk(sub, base + sub.addr, off - sub.addr, here, ro);
    if (mr.terminates) found.push({ region: mr, offset: off, path: here, readonly: ro });
  };
  walk(as.root, as.root.addr, addr - as.root.addr, [], false);
  const winner = found[0] ?? null;
  return { as, addr, winner, hidden: found.slice(1), path: accessPath(as, addr) };
}

function accessPath(as: AddressSpace, addr: bigint): string {
  if (addr >= 2n ** 53n) return 'cold path (address past 2^53, looked up in the FlatView)';
  const d = as.dispatch;
  const s = d.lookup(Number(addr));
  switch (d.kind(s)) {
    case SectionKind.Unassigned:
      return 'unassigned: reads 0, writes dropped, MEMTX_DECODE_ERROR';
    case SectionKind.Ram:
      return 'RAM: direct loads and stores (fast path)';
    case SectionKind.Rom:
      return 'ROM: direct loads; stores refused with MEMTX_DECODE_ERROR';
    case SectionKind.Romd:
      return 'ROM device in romd mode: direct loads, stores to the write callback';
    case SectionKind.RamDevice:
      return 'RAM device: mmapped device memory, loads and stores go to the mapping (no device-model callback)';
    default:
      return d.secRegion[s]!.countsAsUnassigned
        ? 'unassigned I/O: reads all ones, writes ignored'
        : 'MMIO: read/write callbacks of the device model (slow path, trapped)';
  }
}

function describeStep(step: ExplainStep): string {
  const mr = step.region;
  if (mr.alias) return `alias ${mr.name} (prio ${mr.priority}) -> ${mr.alias.name} @0x${mr.aliasOffset.toString(16)}`;
  return `${mr.name} (${mr.typeName()}, prio ${mr.priority}, at 0x${hex16(step.base)})`;
}

function candidateData(c: ExplainCandidate, winner: boolean): CandidateData {
  return {
    name: c.region.name,
    type: winner && c.readonly ? 'rom' : c.region.typeName(),
    offset: c.offset,
    path: c.path.map(describeStep),
  };
}

/** The plain data of an explanation (what the CLI prints and the browser map embeds). */
export function explanationData(e: Explanation): ExplanationData {
  const fr = e.winner ? e.as.lookup(e.addr) : null;
  return {
    as: e.as.name,
    root: e.as.root.name,
    addr: e.addr,
    winner: e.winner && candidateData(e.winner, true),
    hidden: e.hidden.map((h) => candidateData(h, false)),
    flat: fr
      ? { start: fr.start, end: fr.start + fr.size - 1n, name: fr.mr.name, offsetInRegion: fr.offsetInRegion }
      : null,
    access: e.path,
    notes: [],
  };
}

/** Human-readable form of an Explanation. */
export function formatExplanation(e: Explanation): string {
  return formatExplanationData(explanationData(e));
}
