import { BTree } from './btree.ts';
import type { MemoryRegion } from './region.ts';

/** The fields a child is ordered by; a probe key has no region behind it. */
interface ChildKey {
  readonly addr: bigint;
  readonly insertSeq: number;
}

const byAddr = (a: ChildKey, b: ChildKey): number =>
  a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.insertSeq - b.insertSeq;

/** Size class of a region: its bit length, so every member of class k is smaller than 2^k. */
function sizeClass(size: bigint): number {
  return size.toString(2).length;
}

/**
 * The children of one large container by address, so a clipped render visits only the children that
 * meet its clip instead of all of them (QEMU's render_memory_region walks every subregion). One
 * B-tree per size class: a child of class k that meets [a, b) starts in (a - 2^k, b), so a query
 * costs O(classes · log n + candidates) however the children overlap.
 */
export class ChildIndex {
  private readonly classes: (BTree<ChildKey, MemoryRegion> | undefined)[] = [];

  constructor(children: readonly MemoryRegion[]) {
    for (const c of [...children].sort(byAddr)) this.add(c); // in key order: B-tree appends are cheap
  }

  add(child: MemoryRegion): void {
    if (child.size === 0n) return; // renders nothing, meets no clip
    const k = sizeClass(child.size);
    (this.classes[k] ??= new BTree<ChildKey, MemoryRegion>(undefined, byAddr)).set(child, child);
  }

  /** Must run before the child's addr, size or insertSeq change. */
  remove(child: MemoryRegion): void {
    if (child.size !== 0n) this.classes[sizeClass(child.size)]?.delete(child);
  }

  /**
   * The children meeting [start, end) of the container's own coordinates, in render order:
   * descending priority, newest first among equals (the order of `children`, reversed).
   */
  meeting(start: bigint, end: bigint): MemoryRegion[] {
    const out: MemoryRegion[] = [];
    this.classes.forEach((tree, k) => {
      if (!tree) return;
      tree.forRange(
        { addr: start - (1n << BigInt(k)), insertSeq: Infinity },
        { addr: end, insertSeq: -Infinity },
        false,
        (_key, c) => {
          if (c.addr + c.size > start) out.push(c);
        },
      );
    });
    return out.sort((a, b) => b.priority - a.priority || b.insertSeq - a.insertSeq);
  }
}
