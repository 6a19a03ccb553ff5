import type { RamBlock } from '../memory/ram-block.ts';

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
    if (this.maps.some((m) => m.vaddr < vaddr + size && vaddr < m.vaddr + m.size)) throw new RangeError(`user memory 0x${vaddr.toString(16)}+0x${size.toString(16)} overlaps an existing mapping`);
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

  private find(vaddr: bigint): { block: RamBlock; at: number } | null {
    const m = this.maps.find((x) => x.vaddr <= vaddr && vaddr < x.vaddr + x.size);
    return m ? { block: m.block, at: m.offset + Number(vaddr - m.vaddr) } : null;
  }

  readByte(vaddr: bigint): number | null {
    const f = this.find(vaddr);
    return f ? f.block.readByte(f.at) : null;
  }

  writeByte(vaddr: bigint, byte: number): boolean {
    const f = this.find(vaddr);
    if (f) f.block.writeByte(f.at, byte);
    return !!f;
  }
}
