import type { PciIntxRoute } from '../pci/index.ts';
import { EventFd } from '../common/eventfd.ts';
import * as U from '../common/vfio-uapi.ts';

/** QEMU's default x-intx-mmap-timeout-ms (hw/vfio/pci.c: DEFINE_PROP_UINT32 "x-intx-mmap-timeout-ms", 1100). */
export const INTX_MMAP_TIMEOUT_MS = 1100;

/** A timer on the machine's virtual clock (QEMU_CLOCK_VIRTUAL). */
export interface VmmTimer {
  /** timer_mod: fire at `deadlineNs` (replaces any earlier deadline). */
  mod(deadlineNs: number): void;
  del(): void;
}

/** What the machine gives INTx: its clock, and KVM's resampling irqfd when the irqchip is in the kernel. */
export interface IntxMachine {
  nowNs(): number;
  newTimer(callback: () => void): VmmTimer;
  /**
   * kvm_irqchip_add_irqfd_notifier_gsi with a resample fd: `trigger` raises `irq` in the in-kernel
   * irqchip; the guest's EOI lowers it and signals `resample`. Returns the remover, or null when
   * KVM cannot (no in-kernel irqchip or no KVM_CAP_IRQFD_RESAMPLE).
   */
  addResampleIrqfd(irq: number, trigger: EventFd, resample: EventFd): (() => void) | null;
}

/** The device side INTx needs: its pin, its BAR mmaps, the PCI INTx line and the SET_IRQS calls. */
export interface IntxHost {
  readonly name: string;
  pin(): number;
  route(pin: number): PciIntxRoute;
  setIrq(level: number): void;
  setMmapsEnabled(on: boolean): void;
  setIrqs(index: number, start: number, count: number, flags: number, data?: (EventFd | null)[]): void;
}

/** How INTx reaches the guest right now. */
export type IntxPath = 'off' | 'kvm-resample' | 'vmm';

/**
 * QEMU's INTx for vfio-pci (hw/vfio/pci.c). With KVM (vfio_intx_enable_kvm) the kernel's trigger
 * eventfd is an irqfd into the in-kernel irqchip and the guest's EOI comes back as the resample
 * eventfd, which the kernel takes as UNMASK: QEMU is not involved and the BAR mmaps stay on.
 * Without it (x-no-kvm-intx, a route the board has disabled, or no resample support) QEMU takes
 * each interrupt itself (vfio_intx_interrupt): it asserts the pin and disables every BAR mmap, so
 * the guest's next BAR access traps and serves as the EOI (vfio_intx_eoi: deassert, UNMASK); the
 * mmaps come back x-intx-mmap-timeout-ms after an interrupt with none pending (vfio_intx_mmap_enable).
 */
export class VfioIntx {
  pending = false;
  kvmAccel = false;
  route: PciIntxRoute = { mode: 'disabled', irq: -1 };
  readonly stats = { interrupts: 0, vmmInterrupts: 0, eois: 0, mmapDisables: 0, mmapEnables: 0 };
  private enabled = false;
  private readonly interrupt = new EventFd('intx-interrupt');
  private readonly unmask = new EventFd('intx-unmask');
  private readonly onInterrupt = () => this.vmmInterrupt();
  private removeIrqfd: (() => void) | null = null;
  private readonly timer: VmmTimer;
  private mmapsOff = false;

  constructor(
    private readonly dev: IntxHost,
    private readonly machine: IntxMachine,
    private readonly opts: { noKvm: boolean; mmapTimeoutMs: number },
  ) {
    this.timer = machine.newTimer(() => this.mmapEnable());
    this.interrupt.on('signal', () => this.stats.interrupts++);
  }

  get path(): IntxPath {
    return !this.enabled ? 'off' : this.kvmAccel ? 'kvm-resample' : 'vmm';
  }

  /** vfio_intx_enable: the trigger eventfd handled by QEMU, then the KVM bypass if it can be had. */
  enable(): void {
    if (this.enabled || !this.dev.pin()) return;
    this.route = this.dev.route(this.dev.pin() - 1);
    this.interrupt.on('signal', this.onInterrupt);
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER, [
      this.interrupt,
    ]);
    this.enabled = true;
    this.enableKvm();
  }

  /** vfio_intx_disable: KVM bypass off, the index disabled, the pin deasserted, mmaps back. */
  disable(): void {
    if (!this.enabled) return;
    this.timer.del();
    this.disableKvm();
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 0, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER);
    this.pending = false;
    this.dev.setIrq(0);
    this.setMmaps(true);
    this.interrupt.off('signal', this.onInterrupt);
    this.enabled = false;
  }

  /**
   * vfio_intx_enable_kvm: mask, deassert, hand the trigger to an irqfd with a resample fd, bind the
   * resample fd as the kernel's UNMASK eventfd, then unmask ("let'em rip"). Falls back to the VMM
   * path when any step is impossible.
   */
  private enableKvm(): void {
    if (this.opts.noKvm || this.route.mode !== 'enabled' || this.kvmAccel) return;
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_MASK);
    this.pending = false;
    this.dev.setIrq(0);
    this.interrupt.off('signal', this.onInterrupt); // qemu_set_fd_handler(irq_fd, NULL, ...)
    const remove = this.machine.addResampleIrqfd(this.route.irq, this.interrupt, this.unmask);
    if (!remove) {
      this.interrupt.on('signal', this.onInterrupt);
      this.unmaskNow();
      return;
    }
    this.removeIrqfd = remove;
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_UNMASK, [
      this.unmask,
    ]);
    this.unmaskNow();
    this.kvmAccel = true;
  }

  /**
   * vfio_intx_disable_kvm: back to a known state (masked, nothing pending), QEMU listening, unmask to catch a
   * missed event.
   */
  private disableKvm(): void {
    if (!this.kvmAccel) return;
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_MASK);
    this.pending = false;
    this.dev.setIrq(0);
    this.removeIrqfd?.();
    this.removeIrqfd = null;
    // QEMU only closes the unmask eventfd here; nothing signals it any more.
    this.interrupt.on('signal', this.onInterrupt);
    this.kvmAccel = false;
    this.unmaskNow();
  }

  /** vfio_intx_routing_notifier → vfio_intx_update: the board rerouted the pin (PIRQ programmed). */
  routingChanged(): void {
    if (!this.enabled) return;
    const next = this.dev.route(this.dev.pin() - 1);
    if (next.mode === this.route.mode && next.irq === this.route.irq) return;
    this.disableKvm();
    this.route = next;
    if (next.mode !== 'enabled') return;
    this.enableKvm();
    this.eoi(); // re-enable in case an EOI was missed
  }

  /** vfio_intx_interrupt: the VMM path. */
  private vmmInterrupt(): void {
    this.stats.vmmInterrupts++;
    this.pending = true;
    // QEMU asserts first, but holds the BQL until the mmaps are off too; here the guest runs at
    // once, so the mmaps go first to keep the guest from seeing the interrupt with them still on.
    this.setMmaps(false);
    this.dev.setIrq(1);
    if (this.opts.mmapTimeoutMs) this.timer.mod(this.machine.nowNs() + this.opts.mmapTimeoutMs * 1e6);
  }

  /** vfio_intx_eoi: runs after every trapped BAR access; the first one after an interrupt is its EOI. */
  eoi(): void {
    if (!this.pending) return;
    this.stats.eois++;
    this.pending = false;
    this.dev.setIrq(0);
    this.unmaskNow();
  }

  /** vfio_intx_mmap_enable: still pending, try again later; else the mmaps come back. */
  private mmapEnable(): void {
    if (this.pending) {
      this.timer.mod(this.machine.nowNs() + this.opts.mmapTimeoutMs * 1e6);
      return;
    }
    this.setMmaps(true);
  }

  private setMmaps(on: boolean): void {
    if (this.mmapsOff === !on) return;
    this.mmapsOff = !on;
    if (on) this.stats.mmapEnables++;
    else this.stats.mmapDisables++;
    this.dev.setMmapsEnabled(on);
  }

  /** vfio_device_irq_unmask: SET_IRQS(INTX, NONE|UNMASK). */
  private unmaskNow(): void {
    this.dev.setIrqs(U.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_UNMASK);
  }
}
