import type { MemorySystem } from '../memory/index.ts';
import { PciDevice, type PciIntxRoute, type PciIntxRouter } from '../pci/index.ts';
import type { InterruptController } from './interrupt-controller.ts';
import type { MachineSpec } from './machine-file.ts';

/** How a board wires root-bus INTx pins (machine file `interrupts.intx.router`). */
export type IntxRouterKind = 'piix3' | 'ich9' | 'swizzle';

/** PIIX3's PIRQ route control registers PIRQRC[A-D] (hw/isa/piix.c, PIIX_PIRQCA). */
export const PIIX_PIRQC = 0x60;
/** IRQEN clear: the link routes nowhere (the reset value 0x80). */
const PIIX_PIRQ_DISABLED = 0x80;
/** PIIX3 is function 0 of slot 1 on a pc (hw/i386/pc_piix.c). */
export const PIIX3_DEVFN = 0x08;

/**
 * Where a root-bus slot's pin (0 = INTA) goes, as the board wires it and its firmware tables
 * (ACPI _PRT, the device tree's interrupt-map) tell the guest: a PIRQ link whose IRQ the PIIX3
 * register holds, or a fixed interrupt number.
 * - piix3: hw/isa/piix.c:pci_slot_get_pirq, PIRQ (slot - 1 + pin) & 3.
 * - ich9: hw/isa/lpc_ich9.c:ich9_cc_init routes INT[A-D] to PIRQ[E-H] by (slot + pin) % 4 + 4,
 *   and in APIC mode PIRQ n is GSI 16 + n (ich9_pirq_to_gsi).
 * - swizzle: base + (slot + pin) % 4, the standard swizzle of hw/pci-host/gpex.c
 *   (pci_swizzle_map_irq_fn onto SPIs 3-6 of hw/arm/virt.c), hw/ppc/spapr_pci.c:spapr_phb_map_irq
 *   (the PHB's four LSIs) and hw/pci-host/ppce500.c:mpc85xx_pci_map_irq (MPIC sources 1-4).
 */
export function boardIntxRoute(
  intx: MachineSpec['interrupts']['intx'],
  slot: number,
  pin: number,
): { pirq: number } | { irq: number } {
  switch (intx.router) {
    case 'piix3':
      return { pirq: (slot - 1 + pin) & 3 };
    case 'ich9':
      return { irq: 16 + ((slot + pin) % 4) + 4 };
    default:
      return { irq: intx.base + ((slot + pin) % 4) };
  }
}

/**
 * The PIIX3 PCI-to-ISA bridge as far as INTx needs it: the four PIRQ route control registers the
 * firmware programs (each an ISA IRQ, or 0x80 for none); a write reroutes every device
 * (piix3_write_config → pci_bus_fire_intx_routing_notifier).
 */
export class Piix3 extends PciDevice {
  constructor(mem: MemorySystem) {
    super({ mem, name: 'PIIX3', vendorId: 0x8086, deviceId: 0x7000, classCode: 0x060100, multifunction: true });
    for (let i = 0; i < 4; i++) {
      this.cfg.config[PIIX_PIRQC + i] = PIIX_PIRQ_DISABLED;
      this.cfg.wmask[PIIX_PIRQC + i] = 0x8f;
    }
  }

  /** The ISA IRQ link `pirq` routes to, or null while disabled. */
  pirqIrq(pirq: number): number | null {
    const v = this.cfg.byte(PIIX_PIRQC + pirq);
    return v & PIIX_PIRQ_DISABLED ? null : v & 0x0f;
  }

  protected override writeConfig(offset: number, value: number, len: number): void {
    super.writeConfig(offset, value, len);
    if (offset < PIIX_PIRQC + 4 && PIIX_PIRQC < offset + len)
      for (const d of this.bus?.allDevices() ?? []) d.intxRoutingNotifier?.();
  }
}

/**
 * The board's INTx wiring of the root bus (pci_bus_irqs): map_irq per the board, then the line at
 * the interrupt controller. A device's asserted pin is remembered with the line it went to, so a
 * reroute while asserted lowers the old line.
 */
export class BoardIntxRouter implements PciIntxRouter {
  private readonly asserted = new Map<PciDevice, number>();

  constructor(
    private readonly spec: MachineSpec['interrupts']['intx'],
    private readonly irq: InterruptController,
    private readonly piix3: Piix3 | null,
  ) {}

  /** pci_device_route_intx_to_irq. */
  route(dev: PciDevice, pin: number): PciIntxRoute {
    const r = boardIntxRoute(this.spec, dev.devfn >> 3, pin);
    if ('irq' in r) return { mode: 'enabled', irq: r.irq };
    const irq = this.piix3?.pirqIrq(r.pirq) ?? null;
    return irq === null ? { mode: 'disabled', irq: -1 } : { mode: 'enabled', irq };
  }

  setLevel(dev: PciDevice, pin: number, level: boolean): void {
    const was = this.asserted.get(dev);
    if (was !== undefined) {
      this.asserted.delete(dev);
      this.irq.setLevel(was, dev, false);
    }
    if (!level) return;
    const r = this.route(dev, pin);
    if (r.mode !== 'enabled') return; // a disabled PIRQ link goes nowhere
    this.asserted.set(dev, r.irq);
    this.irq.setLevel(r.irq, dev, true);
  }
}
