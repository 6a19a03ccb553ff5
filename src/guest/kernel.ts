import { VdmError } from '../util/errors.ts';
import type { GuestPlatform } from './platform.ts';
import { PIRQ_ROUTE_CONTROL, type ConfigAccess } from './firmware.ts';
import { PCI_INTERRUPT_PIN } from '../common/pci-regs.ts';

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
  /** Shared level-triggered (INTx) lines: every handler runs, then the EOI (handle_fasteoi_irq). */
  private readonly shared = new Map<number, (() => boolean)[]>();
  /** INTx interrupts no handler on the line claimed. */
  unhandledIntx = 0;

  constructor(private readonly p: GuestPlatform) {
    this.nextRam = p.firmware.ram.base + 0x100000n;
    p.onInterrupt((irq) => {
      const chain = this.shared.get(irq);
      if (chain) {
        let handled = false;
        for (const h of chain) handled = h() || handled;
        if (!handled) this.unhandledIntx++;
        p.eoi(irq);
        return;
      }
      const h = this.handlers.get(irq);
      if (h) h();
      else this.spurious++;
    });
  }

  /** request_irq(IRQF_SHARED) for an INTx line: the handler returns whether its device was interrupting. */
  requestSharedIrq(irq: number, handler: () => boolean): void {
    if (this.handlers.has(irq))
      throw new GuestError(`guest: interrupt ${irq} is already requested without IRQF_SHARED`);
    this.shared.set(irq, [...(this.shared.get(irq) ?? []), handler]);
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
    if (at + bytes > base + size)
      throw new GuestError(
        `guest: out of RAM allocating ${bytes} bytes for driver buffers (RAM is 0x${size.toString(16)} bytes)`,
      );
    this.nextRam = at + bytes;
    return at;
  }

  /** `pages` consecutive I/O addresses of the DMA window; throws when the window is full. */
  allocIoba(pages: number, pageSize: bigint): bigint {
    const first = this.nextIoba;
    const window = this.p.firmware.dmaWindow?.size ?? 0n;
    if (first + BigInt(pages) * pageSize > window)
      throw new GuestError(`guest: the DMA window (0x${window.toString(16)} bytes) has no room for ${pages} more TCEs`);
    this.nextIoba += BigInt(pages) * pageSize;
    return first;
  }

  /**
   * The INTx interrupt of a bus-0 function (pcibios / acpi_pci_irq_enable, of_irq_parse_pci): its
   * pin through the firmware's routing table, and for a PIRQ link the IRQ its router register
   * holds. -1 when it has no pin or the link is disabled.
   */
  intxIrq(fn: { bus: number; devfn: number }, cfg: ConfigAccess): number {
    const pin = cfg.read(fn.bus, fn.devfn, PCI_INTERRUPT_PIN, 1);
    if (pin < 1 || pin > 4) return -1;
    const r = this.p.firmware.intxRoute(fn.devfn >> 3, pin - 1);
    if ('irq' in r) return r.irq;
    const router = this.p.firmware.pirqRouterDevfn;
    if (router === null) return -1;
    const v = cfg.read(0, router, PIRQ_ROUTE_CONTROL + r.pirq, 1);
    return v & 0x80 ? -1 : v & 0x0f;
  }

  requestIrq(irq: number, handler: () => void): void {
    if (this.handlers.has(irq) || this.shared.has(irq))
      throw new GuestError(`guest: interrupt ${irq} is already requested`);
    this.handlers.set(irq, handler);
  }
}
