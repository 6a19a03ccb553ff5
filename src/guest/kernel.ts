import { VdmError } from '../util/errors.ts';
import type { GuestPlatform } from './platform.ts';

/** The guest ran out of something it needs to run its drivers (RAM, DMA window); the message says what. */
export class GuestError extends VdmError {
  override name = 'GuestError';
}

/**
 * What a guest kernel shares between its drivers: MSI vectors from the interrupt controller's
 * pool, guest RAM for rings and buffers, the TCE window's I/O addresses (one per PHB on pseries),
 * and the interrupt entry point that hands each interrupt to the driver that requested it.
 */
export class GuestKernel {
  /** Interrupts that arrived with no driver registered for them. */
  spurious = 0;
  /** Vectors drivers asked for and did not get because the controller's pool ran out. */
  vectorsRefused = 0;
  private nextVector = 0;
  /** Rings and buffers start past the first MiB of RAM, where firmware and the kernel live. */
  private nextRam: bigint;
  private nextIoba = 0x1000n;
  private readonly handlers = new Map<number, () => void>();

  constructor(private readonly p: GuestPlatform) {
    this.nextRam = p.firmware.ram.base + 0x100000n;
    p.onInterrupt((irq) => {
      const h = this.handlers.get(irq);
      if (h) h();
      else this.spurious++;
    });
  }

  /** Up to `want` consecutive vectors of the controller's pool; fewer (or none) once it runs out. */
  allocVectors(want: number): { first: number; count: number } {
    const count = Math.max(0, Math.min(want, this.p.firmware.msiVectors - this.nextVector));
    const first = this.nextVector;
    this.nextVector += count;
    this.vectorsRefused += want - count;
    return { first, count };
  }

  /** `bytes` of guest RAM aligned to 4 KiB; throws when RAM is exhausted. */
  allocRam(bytes: bigint): bigint {
    const at = (this.nextRam + 0xfffn) & ~0xfffn;
    const { base, size } = this.p.firmware.ram;
    if (at + bytes > base + size) throw new GuestError(`guest: out of RAM allocating ${bytes} bytes for driver buffers (RAM is 0x${size.toString(16)} bytes)`);
    this.nextRam = at + bytes;
    return at;
  }

  /** `pages` consecutive I/O addresses of the DMA window; throws when the window is full. */
  allocIoba(pages: number, pageSize: bigint): bigint {
    const first = this.nextIoba;
    const window = this.p.firmware.dmaWindow?.size ?? 0n;
    if (first + BigInt(pages) * pageSize > window) throw new GuestError(`guest: the DMA window (0x${window.toString(16)} bytes) has no room for ${pages} more TCEs`);
    this.nextIoba += BigInt(pages) * pageSize;
    return first;
  }

  requestIrq(irq: number, handler: () => void): void {
    if (this.handlers.has(irq)) throw new GuestError(`guest: interrupt ${irq} is already requested`);
    this.handlers.set(irq, handler);
  }
}
