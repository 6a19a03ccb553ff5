import type { AddressSpace } from '../memory/index.ts';
import type { MsiMessage } from '../pci/index.ts';

/**
 * Everything a guest can see: loads and stores (memory and, on x86, I/O ports), RTAS and
 * hypercalls on pseries, interrupts arriving, and what firmware tables (ACPI, device tree) tell
 * it about the platform. No device object is reachable from here.
 */
export interface GuestPlatform {
  memory: AddressSpace;
  io: AddressSpace | null;
  firmware: {
    arch: string;
    config: 'cf8' | 'ecam' | 'rtas';
    /** CONFIG_ADDRESS when it is memory-mapped (cf8 outside x86). */
    configAddress: bigint | null;
    ecamBase: bigint | null;
    mmio32: { base: bigint; size: bigint };
    mmio64: { base: bigint; size: bigint } | null;
    ram: { base: bigint; size: bigint };
    /** The MSI message for the guest's n-th interrupt (from ACPI MADT / the device tree). */
    msiMessage(n: number): MsiMessage;
    /** The interrupt number that message arrives as. */
    msiIrq(n: number): number;
    /** How many MSIs the controller can tell apart (its vector, LPI or SPI pool for devices). */
    msiVectors: number;
    /** pseries: the default DMA window (TCE page shift, size); null when DMA is identity-mapped. */
    dmaWindow: { pageShift: number; size: bigint } | null;
    /** pseries: the PHB's BUID, for RTAS calls. */
    buid: bigint | null;
    /**
     * Where a root-bus slot's INTx pin (0 = INTA) goes, as ACPI's _PRT or the device tree's
     * interrupt-map says: a PIRQ link (its IRQ is in the PIRQ router's config register) or a
     * fixed interrupt number.
     */
    intxRoute(slot: number, pin: number): { pirq: number } | { irq: number };
    /** The PIRQ router (PIIX3) the firmware programs, by devfn on bus 0, or null. */
    pirqRouterDevfn: number | null;
  };
  rtas(name: string, args: number[]): number[];
  hcall(name: 'H_PUT_TCE', ioba: bigint, tce: bigint): string;
  onInterrupt(handler: (irq: number) => void): void;
  /** End of interrupt for a level-triggered interrupt (I/O APIC via LAPIC EOI, GIC EOIR, XIVE/XICS EOI, MPIC EOI). */
  eoi(irq: number): void;
  /** The guest idles for `ns` nanoseconds of virtual time. */
  wait(ns: number): void;
}
