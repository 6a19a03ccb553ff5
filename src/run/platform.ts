import { boardIntxRoute, PIIX3_DEVFN, SPAPR_PHB0_BUID, type Machine } from '../machine/index.ts';
import type { GuestPlatform } from '../guest/index.ts';

/** The guest's view of a machine: address spaces, RTAS, hypercalls, interrupts, firmware tables. */
export function platformOf(m: Machine): GuestPlatform {
  const s = m.spec;
  return {
    memory: m.addressSpaceMemory,
    io: m.addressSpaceIo,
    firmware: {
      arch: s.arch,
      config: s.pci.config,
      configAddress: s.pci.configAddress,
      ecamBase: s.pci.ecam?.base ?? null,
      mmio32: s.pci.mmio32,
      mmio64: s.pci.mmio64,
      ram: { base: s.ram[0]!.base, size: s.ram[0]!.size },
      msiMessage: (n) => m.irq.message(n),
      msiIrq: (n) => m.irq.irqFor(n),
      msiVectors: m.irq.capacity(),
      dmaWindow: s.spapr ? { pageShift: s.spapr.pageShift, size: s.spapr.dma32WindowSize } : null,
      buid: s.pci.config === 'rtas' ? SPAPR_PHB0_BUID : null,
      intxRoute: (slot, pin) => boardIntxRoute(s.interrupts.intx, slot, pin),
      pirqRouterDevfn: m.piix3 ? PIIX3_DEVFN : null,
    },
    rtas: (name, args) => m.rtas?.call(name, args) ?? [-3],
    hcall: (name, ioba, tce) => m.hcall(name, ioba, tce),
    onInterrupt: (h) => {
      m.irq.handler = h;
    },
    eoi: (irq) => m.irq.eoi(irq),
    wait: (ns) => m.clock.advance(ns),
  };
}
