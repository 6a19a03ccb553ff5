import type { MemorySystem, MemoryRegion } from '../memory/index.ts';
import type { MsiMessage } from '../pci/index.ts';
import type { EventFd } from '../common/eventfd.ts';
import type { MachineSpec } from './machine-file.ts';

/** GITS_TRANSLATER: in the ITS's second 64K frame (hw/intc/arm_gicv3_its.c). */
const GITS_TRANSLATER = 0x10040;
/** GICv2m MSI_SETSPI_NS (hw/intc/arm_gicv2m.c). */
const V2M_MSI_SETSPI_NS = 0x40;
const V2M_SPIS = 64;
/** MPIC MSIIR offset in its MSI page (hw/intc/openpic.c, fsl MSI). */
const MPIC_MSIIR = 0x740;

/** KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID: one level source shared by all resampling irqfds. */
const RESAMPLE_SOURCE = 'kvm-irqfd-resample';

const NAMES: Record<MachineSpec['interrupts']['controller'], string> = {
  lapic: 'apic-msi',
  'gicv3-its': 'gicv3_its',
  gicv2m: 'gicv2m',
  xics: 'msi',
  xive: 'msi',
  mpic: 'fsl-msi',
};

/**
 * The machine's MSI receiver: an MMIO region at the doorbell that turns a 4-byte write into a
 * guest interrupt number (LAPIC vector, ITS LPI, GICv2m SPI, XICS/XIVE IRQ, MPIC MSIR), and the
 * handler the guest registered. Writes that decode to nothing are counted, never delivered.
 */
export class InterruptController {
  readonly region: MemoryRegion;
  /** Interrupts delivered to the guest, by number. */
  readonly counts = new Map<number, number>();
  delivered = 0;
  /** Doorbell writes that named no interrupt (a wrong offset or data). */
  bogus = 0;
  /** The guest's interrupt entry point. */
  handler: ((irq: number) => void) | null = null;
  /** Level-triggered inputs (I/O APIC pins, GIC SPIs, XIVE LSIs, MPIC sources) by interrupt number. */
  private readonly lines = new Map<
    number,
    { sources: Set<unknown>; inService: boolean; resamplers: { trigger: EventFd; resample: EventFd }[] }
  >();
  /** EOIs of level-triggered interrupts the guest made. */
  eois = 0;

  constructor(
    mem: MemorySystem,
    private readonly spec: MachineSpec['interrupts'],
  ) {
    this.region = mem.io(NAMES[spec.controller], spec.doorbell.size, {
      valid: { minAccessSize: 1, maxAccessSize: 4 },
      read: () => 0,
      write: (offset, value) => {
        const irq = this.decode(offset, Number(value));
        if (irq === null) this.bogus++;
        else this.raise(irq);
      },
    });
  }

  get kind(): MachineSpec['interrupts']['controller'] {
    return this.spec.controller;
  }

  /** The message a guest programs for its n-th MSI (what ACPI or the device tree tells it). */
  message(n: number): MsiMessage {
    const base = this.spec.doorbell.base;
    switch (this.spec.controller) {
      case 'lapic':
        return { address: base, data: this.spec.msiBase + n };
      case 'gicv3-its':
        return { address: base + BigInt(GITS_TRANSLATER), data: n };
      case 'gicv2m':
        return { address: base + BigInt(V2M_MSI_SETSPI_NS), data: this.spec.msiBase + n };
      case 'mpic':
        return { address: base + BigInt(MPIC_MSIIR), data: (((n >> 5) << 29) | ((n & 31) << 24)) >>> 0 };
      default:
        return { address: base, data: this.spec.msiBase + n };
    }
  }

  /**
   * How many device MSIs the guest can program: the LAPIC vectors from msiBase to 255 on one CPU,
   * GICv2m's SPI frame, the MPIC's 8 MSIR registers of 32 bits; ITS LPIs and XICS/XIVE sources
   * are plentiful (we say 65 536).
   */
  capacity(): number {
    switch (this.spec.controller) {
      case 'lapic':
        return 256 - this.spec.msiBase;
      case 'gicv2m':
        return V2M_SPIS;
      case 'mpic':
        return 256;
      default:
        return 65536;
    }
  }

  /** The interrupt number the guest will see for its n-th MSI (what the firmware tables say). */
  irqFor(n: number): number {
    const m = this.message(n);
    return this.decode(Number(m.address - this.spec.doorbell.base), m.data) ?? -1;
  }

  private decode(offset: number, data: number): number | null {
    switch (this.spec.controller) {
      case 'lapic': {
        const vector = data & 0xff;
        return vector >= 16 ? vector : null;
      }
      case 'gicv3-its':
        return offset === GITS_TRANSLATER ? this.spec.msiBase + data : null;
      case 'gicv2m':
        return offset === V2M_MSI_SETSPI_NS && data >= this.spec.msiBase && data < this.spec.msiBase + V2M_SPIS
          ? data
          : null;
      case 'mpic':
        return offset === MPIC_MSIIR ? this.spec.msiBase + (((data >>> 29) << 5) | ((data >>> 24) & 0x1f)) : null;
      default:
        return data >= this.spec.msiBase ? data : null;
    }
  }

  /**
   * A message injected by KVM (an irqfd route): decoded as the doorbell would decode the write,
   * without a trip through guest memory. Returns whether it named an interrupt.
   */
  deliver(msg: MsiMessage): boolean {
    const off = msg.address - this.spec.doorbell.base;
    const irq = off >= 0n && off < this.spec.doorbell.size ? this.decode(Number(off), msg.data >>> 0) : null;
    if (irq === null) {
      this.bogus++;
      return false;
    }
    this.raise(irq);
    return true;
  }

  private line(irq: number) {
    let l = this.lines.get(irq);
    if (!l) this.lines.set(irq, (l = { sources: new Set(), inService: false, resamplers: [] }));
    return l;
  }

  /**
   * A level-triggered input: `source` drives `irq` high or low; the line is the OR of its sources
   * (a shared line). A high line not in service is delivered; it stays in service until the EOI.
   */
  setLevel(irq: number, source: unknown, level: boolean): void {
    const l = this.line(irq);
    if (level) l.sources.add(source);
    else l.sources.delete(source);
    this.service(irq);
  }

  /** Whether `irq`'s line is high now. */
  level(irq: number): boolean {
    return (this.lines.get(irq)?.sources.size ?? 0) > 0;
  }

  /**
   * The guest's EOI of a level interrupt: KVM's resamplers lower their level and signal their
   * resample eventfd (virt/kvm/eventfd.c:irqfd_resampler_ack), then a line still high is
   * delivered again.
   */
  eoi(irq: number): void {
    const l = this.lines.get(irq);
    if (!l || !l.inService) return;
    this.eois++;
    l.inService = false;
    if (l.resamplers.length) l.sources.delete(RESAMPLE_SOURCE);
    for (const r of [...l.resamplers]) r.resample.signal();
    this.service(irq);
  }

  /**
   * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE: `trigger` raises `irq` (as the resample source, which
   * every resampling irqfd shares), the EOI lowers it and signals `resample`. Returns the remover.
   */
  addResampleIrqfd(irq: number, trigger: EventFd, resample: EventFd): () => void {
    const l = this.line(irq);
    const entry = { trigger, resample };
    const inject = () => this.setLevel(irq, RESAMPLE_SOURCE, true);
    trigger.on('signal', inject);
    l.resamplers.push(entry);
    return () => {
      trigger.off('signal', inject);
      l.resamplers.splice(l.resamplers.indexOf(entry), 1);
      if (!l.resamplers.length) l.sources.delete(RESAMPLE_SOURCE);
    };
  }

  private service(irq: number): void {
    const l = this.lines.get(irq)!;
    if (l.inService || l.sources.size === 0) return;
    l.inService = true;
    this.raise(irq);
  }

  /** Delivers `irq` to the guest. */
  raise(irq: number): void {
    this.delivered++;
    this.counts.set(irq, (this.counts.get(irq) ?? 0) + 1);
    this.handler?.(irq);
  }
}
