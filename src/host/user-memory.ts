import type { RamBlock } from '../common/ram-block.ts';

/**
 * The address space of the process that opened VFIO (the VMM): ranges of virtual addresses backed
 * by memory blocks. MAP_DMA's vaddr points here; device DMA reaches it only through the IOMMU.
 */
export class UserMemory {
  private readonly maps: { vaddr: bigint; size: bigint; block: RamBlock; offset: number; pageSize: bigint }[] = [];

  /**
   * Makes [vaddr, vaddr+size) refer to `block` from `offset`. `pageSize` is the backing page
   * (hugepages: 2 MiB, 16 MiB, ...); 0 means the host's base page.
   */
  map(vaddr: bigint, block: RamBlock, offset = 0, size = BigInt(block.size - offset), pageSize = 0n): void {
    if (this.maps.some((m) => m.vaddr < vaddr + size && vaddr < m.vaddr + m.size))
      throw new RangeError(`user memory 0x${vaddr.toString(16)}+0x${size.toString(16)} overlaps an existing mapping`);
    this.maps.push({ vaddr, size, block, offset, pageSize });
  }

  /** Removes the mapping that starts at `vaddr` (munmap of a whole block). */
  unmap(vaddr: bigint): void {
    const i = this.maps.findIndex((m) => m.vaddr === vaddr);
    if (i >= 0) this.maps.splice(i, 1);
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
}
