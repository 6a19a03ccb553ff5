import type { RamBlock } from '../common/ram-block.ts';
import { belowNumberLimit, RangeIndex } from './range-index.ts';

/** What UserMemory.locate fills in: one caller-owned object, reused, so the DMA path allocates nothing. */
export interface MemorySpan {
  block: RamBlock | null;
  /** Offset in the block. */
  at: number;
  /** Bytes the mapping backs contiguously from there. */
  length: number;
}

interface UserMapping {
  vaddr: bigint;
  size: bigint;
  block: RamBlock;
  offset: number;
  pageSize: bigint;
}

/**
 * The address space of the process that opened VFIO (the VMM): ranges of virtual addresses backed
 * by memory blocks. MAP_DMA's vaddr points here; device DMA reaches it only through the IOMMU.
 */
export class UserMemory {
  private readonly maps: UserMapping[] = [];
  /** The mappings below 2^53 sorted by vaddr, for locate; null after a change. */
  private index: { ranges: RangeIndex; maps: UserMapping[] } | null = null;

  /**
   * Makes [vaddr, vaddr+size) refer to `block` from `offset`. `pageSize` is the backing page
   * (hugepages: 2 MiB, 16 MiB, ...); 0 means the host's base page.
   */
  map(vaddr: bigint, block: RamBlock, offset = 0, size = BigInt(block.size - offset), pageSize = 0n): void {
    if (this.maps.some((m) => m.vaddr < vaddr + size && vaddr < m.vaddr + m.size))
      throw new RangeError(`user memory 0x${vaddr.toString(16)}+0x${size.toString(16)} overlaps an existing mapping`);
    this.maps.push({ vaddr, size, block, offset, pageSize });
    this.index = null;
  }

  /** Removes the mapping that starts at `vaddr` (munmap of a whole block). */
  unmap(vaddr: bigint): void {
    const i = this.maps.findIndex((m) => m.vaddr === vaddr);
    if (i >= 0) this.maps.splice(i, 1);
    this.index = null;
  }

  /** The backing page size at `vaddr` (0 = base page), or null when nothing is mapped there. */
  pageSizeAt(vaddr: bigint): bigint | null {
    const m = this.maps.find((x) => x.vaddr <= vaddr && vaddr < x.vaddr + x.size);
    return m ? m.pageSize : null;
  }

  /**
   * The part of [vaddr, vaddr+length) that one mapping backs contiguously: its block, the offset in
   * it and how many bytes (at most `length`); null when nothing is mapped at vaddr.
   */
  piece(vaddr: bigint, length: number): { block: RamBlock; at: number; length: number } | null {
    const m = this.maps.find((x) => x.vaddr <= vaddr && vaddr < x.vaddr + x.size);
    if (!m) return null;
    return {
      block: m.block,
      at: m.offset + Number(vaddr - m.vaddr),
      length: Math.min(length, Number(m.vaddr + m.size - vaddr)),
    };
  }

  /**
   * piece in numbers for the DMA path: fills `span` with what backs `vaddr` (below 2^53) to the end
   * of its mapping and returns true, or returns false when nothing is mapped there (or the mapping
   * does not lie below 2^53: ask piece).
   */
  locate(vaddr: number, span: MemorySpan): boolean {
    const index = this.index ?? this.buildIndex();
    const i = index.ranges.find(vaddr);
    if (i < 0) return false;
    const m = index.maps[i]!;
    const inMap = vaddr - index.ranges.start[i]!;
    span.block = m.block;
    span.at = m.offset + inMap;
    span.length = index.ranges.end[i]! - vaddr;
    return true;
  }

  private buildIndex(): { ranges: RangeIndex; maps: UserMapping[] } {
    const maps = this.maps
      .filter((m) => belowNumberLimit(m.vaddr, m.size))
      .sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
    const ranges = new RangeIndex(
      maps.map((m) => ({ start: Number(m.vaddr), end: Number(m.vaddr + m.size), base: 0, tag: 0 })),
    );
    this.index = { ranges, maps };
    return this.index;
  }
}
