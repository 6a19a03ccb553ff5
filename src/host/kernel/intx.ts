import { VfioError } from '../errors.ts';
import type { EventFd } from '../../common/eventfd.ts';
import type { FunctionHardware } from '../devices/function-hardware.ts';

/** IRQF_SHARED (include/linux/interrupt.h): the flag genirq prints in its mismatch message. */
const IRQF_SHARED = 0x80;

interface LineAction {
  name: string;
  shared: boolean;
  handler: () => void;
}

/**
 * One host interrupt line (a GSI on x86, an SPI on arm): the actions requested on it
 * (request_irq), the functions wired to it, and disable_irq's depth. Level triggered: while it
 * is enabled, a function whose pin rises runs every action, as a shared handler chain does.
 */
export class HostIrqLine {
  readonly actions: LineAction[] = [];
  private readonly sources = new Set<FunctionHardware>();
  private depth = 0;
  /** Assertions no action claimed would be "nobody cared" in the kernel; counted here. */
  fired = 0;

  constructor(readonly irq: number) {}

  /** request_irq: a second action needs IRQF_SHARED on both sides (kernel/irq/manage.c:__setup_irq). */
  request(name: string, shared: boolean, handler: () => void): void {
    const other = this.actions[0];
    if (other && !(other.shared && shared)) {
      const f = (s: boolean) => (s ? IRQF_SHARED : 0).toString(16).padStart(8, '0');
      throw new VfioError(
        'EBUSY',
        `request_irq(${this.irq}) for ${name}: genirq: Flags mismatch irq ${this.irq}. ${f(shared)} (${name}) ` +
          `vs. ${f(other.shared)} (${other.name})`,
      );
    }
    this.actions.push({ name, shared, handler });
  }

  /** free_irq. */
  free(name: string): void {
    const i = this.actions.findIndex((a) => a.name === name);
    if (i >= 0) this.actions.splice(i, 1);
    if (!this.actions.length) this.depth = 0;
  }

  attach(hw: FunctionHardware): void {
    this.sources.add(hw);
    hw.intxSink = () => this.assert();
  }

  detach(hw: FunctionHardware): void {
    this.sources.delete(hw);
    hw.intxSink = null;
  }

  /** disable_irq_nosync. */
  disable(): void {
    this.depth++;
  }

  /** enable_irq: a level still asserted on the line fires again at once. */
  enable(): void {
    if (this.depth > 0 && --this.depth === 0 && [...this.sources].some((s) => s.intxOutput)) this.assert();
  }

  get enabled(): boolean {
    return this.depth === 0;
  }

  private assert(): void {
    if (this.depth > 0) return;
    this.fired++;
    for (const a of [...this.actions]) a.handler();
  }
}

/** The host's interrupt lines by number. */
export class HostIrqLines {
  private readonly lines = new Map<number, HostIrqLine>();

  line(irq: number): HostIrqLine {
    let l = this.lines.get(irq);
    if (!l) this.lines.set(irq, (l = new HostIrqLine(irq)));
    return l;
  }
}

/**
 * vfio-pci's INTx state of one device (drivers/vfio/pci/vfio_pci_intrs.c): the trigger eventfd,
 * the automask after each interrupt (INTX_DISABLE at the device when it supports PCI 2.3 masking,
 * else the whole host line, which is then requested exclusively), unmask directly or through an
 * eventfd (the virqfd KVM's resampler signals), mask, and the user's virtual COMMAND.INTX_DISABLE
 * (vdev->virq_disabled): while it is set nothing is signalled and no unmask takes effect.
 */
export class KernelIntx {
  trigger: EventFd | null = null;
  masked = false;
  /** is_intx(vdev): INTx is the active interrupt type (between enable and disable). */
  active = false;
  /** vdev->virq_disabled: the user's virtual COMMAND.INTX_DISABLE, kept across INTx enable/disable. */
  virqDisabled = false;
  /** The unmask eventfd (vfio_virqfd_enable), or null. */
  private unmaskFd: EventFd | null = null;
  private readonly onUnmaskFd = () => this.unmask();
  readonly line: HostIrqLine;
  /** unmasks: UNMASK requests (ioctl or eventfd); masks: the masks that took effect, from any source. */
  readonly stats = { interrupts: 0, unmasks: 0, resignals: 0, masks: 0 };

  constructor(
    private readonly hw: FunctionHardware,
    private readonly name: string,
    lines: HostIrqLines,
  ) {
    this.line = lines.line(hw.fn.spec.intxLine);
  }

  /** pci_2_3: the function supports INTX_DISABLE masking (pci_intx_mask_supported). */
  get pci23(): boolean {
    return this.hw.fn.spec.intxMasking;
  }

  /**
   * vfio_intx_enable + vfio_intx_set_signal: request the line (shared only with PCI 2.3 masking),
   * masked from the start if the user's INTX_DISABLE is set (at the device, or by disabling the line).
   */
  enable(trigger: EventFd | null): void {
    this.line.request(`vfio-intx(${this.name})`, this.pci23, () => this.handler());
    this.line.attach(this.hw);
    this.trigger = trigger;
    this.active = true;
    this.masked = this.virqDisabled;
    // pci_intx(pdev, !ctx->masked); disable_irq does not stick across request_irq, so it is redone.
    if (this.pci23) this.hw.intxDisabled = this.masked;
    else if (this.masked) this.line.disable();
  }

  /** vfio_intx_set_signal: a new trigger eventfd (null: none) for the enabled context. */
  setSignal(trigger: EventFd | null): void {
    this.trigger = trigger;
  }

  /** vfio_intx_disable: virqfds off, the line freed, the device left masked. */
  disable(): void {
    this.setUnmaskFd(null);
    const wasMasked = this.masked;
    this.line.free(`vfio-intx(${this.name})`);
    if (!this.pci23 && wasMasked) this.line.enable();
    this.line.detach(this.hw);
    if (this.pci23) this.hw.intxDisabled = true;
    this.trigger = null;
    this.masked = false;
    this.active = false;
  }

  /** vfio_send_intx_eventfd: nothing reaches the user while its INTX_DISABLE is set. */
  send(): void {
    if (this.active && !this.virqDisabled) this.trigger?.signal();
  }

  /** vfio_intx_handler: mask (device or line), then signal the user. A shared line's other devices return IRQ_NONE. */
  private handler(): void {
    if (!this.pci23) {
      this.line.disable();
      this.masked = true;
    } else if (!this.masked && this.hw.intxPending) {
      this.hw.intxDisabled = true; // pci_check_and_mask_intx
      this.masked = true;
    } else return;
    this.stats.interrupts++;
    this.send();
  }

  /** SET_IRQS(INTX, UNMASK) by ioctl or through the unmask eventfd: vfio_pci_intx_unmask. */
  unmask(): void {
    this.stats.unmasks++;
    this.unmaskAndResend();
  }

  /**
   * vfio_pci_intx_unmask_handler, then vfio_pci_intx_unmask: nothing while the user's INTX_DISABLE
   * is set; with PCI 2.3 masking a device still asserting stays masked and the kernel signals the
   * trigger again (pci_check_and_unmask_intx refuses); without it the line is enabled, which fires
   * again if the level is still up. Outside INTx only the physical bit follows (PCI 2.3).
   */
  private unmaskAndResend(): void {
    if (!this.active) {
      if (this.pci23) this.hw.intxDisabled = false; // pci_intx(pdev, 1)
      return;
    }
    if (!this.masked || this.virqDisabled) return;
    if (!this.pci23) {
      this.masked = false;
      this.line.enable();
      return;
    }
    if (this.hw.intxPending) {
      this.stats.resignals++;
      this.send();
      return;
    }
    this.masked = false;
    this.hw.intxDisabled = false;
  }

  /** vfio_pci_intx_mask: always masks; outside INTx only the physical bit follows (PCI 2.3). */
  mask(): void {
    if (!this.active) {
      if (this.pci23) this.hw.intxDisabled = true; // pci_intx(pdev, 0)
      return;
    }
    if (this.masked) return;
    this.stats.masks++;
    if (this.pci23) this.hw.intxDisabled = true;
    else this.line.disable();
    this.masked = true;
  }

  /**
   * The user wrote COMMAND and its virtual INTX_DISABLE now reads `on`
   * (drivers/vfio/pci/vfio_pci_config.c:vfio_basic_config_write, "Emulate INTx disable"): a
   * change masks, or unmasks and resends what is pending.
   */
  setVirqDisabled(on: boolean): void {
    if (on === this.virqDisabled) return;
    this.virqDisabled = on;
    if (on) this.mask();
    else this.unmaskAndResend();
  }

  /** SET_IRQS(INTX, EVENTFD|UNMASK): the eventfd KVM's resampler signals at the guest's EOI. */
  setUnmaskFd(fd: EventFd | null): void {
    this.unmaskFd?.off('signal', this.onUnmaskFd);
    this.unmaskFd = fd;
    fd?.on('signal', this.onUnmaskFd);
  }
}
