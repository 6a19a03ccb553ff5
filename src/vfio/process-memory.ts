import type { RamBlock } from '../common/ram-block.ts';
import type { VfioApi } from '../common/vfio-api.ts';

/**
 * Where the VMM process keeps guest RAM: each RAM block is mmapped at a virtual address once
 * (QEMU's qemu_ram_get_host_addr), and MAP_DMA's vaddrs point there. One per machine.
 */
export class ProcessMemory {
  private next = 0x7f0000000000n;
  private readonly blocks = new Map<RamBlock, bigint>();

  constructor(private readonly kernel: VfioApi) {}

  /** The virtual address of a RAM block, mapping it into the process on first use. */
  vaddrOf(block: RamBlock): bigint {
    let va = this.blocks.get(block);
    if (va === undefined) {
      va = this.next;
      this.kernel.mapProcessMemory(va, block);
      this.blocks.set(block, va);
      this.next += (BigInt(block.size) + 0x1fffffn) & ~0x1fffffn; // 2 MiB aligned, like QEMU's RAM blocks
    }
    return va;
  }
}
