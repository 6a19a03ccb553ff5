// A deliberately simple reference for point lookups, written from docs/devel/memory.rst
// ("Visibility") and nothing else: no flat views, no clipping arithmetic, no merging.
import type { MemoryRegion } from '../../src/memory/index.ts';

export interface RefHit {
  mr: MemoryRegion;
  offset: bigint;
  readonly: boolean;
}

/** Children in the order the docs define: descending priority, later-added first among equals. */
function byPriority(mr: MemoryRegion): MemoryRegion[] {
  return [...mr.subregions].sort((a, b) => b.priority - a.priority || b.insertSeq - a.insertSeq);
}

/** What serves `offset` (relative to mr's start), or null for a hole. */
export function refLookup(mr: MemoryRegion, offset: bigint, readonly = false): RefHit | null {
  if (!mr.enabled || offset < 0n || offset >= mr.size) return null; // disabled regions do not exist
  readonly ||= mr.readonly;
  if (mr.alias) return refLookup(mr.alias, offset + mr.aliasOffset, readonly);
  for (const child of byPriority(mr)) {
    const hit = refLookup(child, offset - child.addr, readonly);
    if (hit) return hit;
  }
  return mr.terminates ? { mr, offset, readonly } : null; // a container with its own ops fills holes
}
