import type { Machine } from '../machine/index.ts';
import type { VfioPciDevice } from '../vfio/index.ts';
import type { SimHost, VfioKernel } from '../host/index.ts';
import { PCI_BAR_UNMAPPED, PCI_ROM_SLOT } from '../common/pci-regs.ts';
import type { DriverStats } from '../guest/index.ts';

/** Whether one assigned device did what its driver expected, and if not, why. */
export interface DeviceVerdict {
  id: string;
  host: string;
  working: boolean;
  /** One plain line: "working — 1,000/1,000 transmits completed, MSI-X via KVM irqfd" or "NOT working — ...". */
  summary: string;
  /** Every check that failed, most fundamental first; empty when working. */
  reasons: string[];
}

/** The run's verdict: working only when every device is. */
export interface RunVerdict {
  working: boolean;
  summary: string;
  devices: DeviceVerdict[];
}

/**
 * What a device's driver did in the workload phase, taken before a misbehaving guest's deliberate
 * faults (a descriptor outside RAM is expected to fault; it says nothing about the device).
 */
export interface WorkloadOutcome {
  /** Did the guest's PCI scan find the function (function 0 first, as every guest scans)? */
  visible: boolean;
  /** The driver's counters, or null when no driver probed the function. */
  driver: DriverStats | null;
  /** IOMMU faults and lost interrupts of this device at the end of the workload. */
  dmaFaults: number;
  lostInterrupts: number;
  interruptsViaKvm: number;
  interruptsViaVmm: number;
}

const n = (v: number) => v.toLocaleString('en-US');
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The counters of a device that judge it, read now: the VMM's, and the host kernel's (interrupts, IOMMU faults). */
export function workloadOutcome(
  d: VfioPciDevice,
  kernel: VfioKernel,
  visible: boolean,
  driver: DriverStats | null,
): WorkloadOutcome {
  const st = kernel.deviceCounters(d.hostName);
  return {
    visible,
    driver: driver && { ...driver, handled: [...driver.handled], vectorIrqs: [...driver.vectorIrqs] },
    dmaFaults: st.dmaFaults.length,
    lostInterrupts: st.lostInterrupts + st.msiFaults + st.remapBlocked,
    // INTx counts too: KVM's irqfd takes what QEMU's handler (the VMM path) does not.
    interruptsViaKvm: d.interrupts.kvm + d.intx.stats.interrupts - d.intx.stats.vmmInterrupts,
    interruptsViaVmm: d.interrupts.vmm + d.intx.stats.vmmInterrupts,
  };
}

/** How interrupts reached the driver, from what happened (not from what the device claims). */
function mechanism(o: WorkloadOutcome): string {
  const via =
    [o.interruptsViaKvm ? 'KVM irqfd' : '', o.interruptsViaVmm ? 'the VMM' : ''].filter(Boolean).join(' and ') ||
    'nowhere';
  const mode = o.driver?.irqMode;
  const how =
    mode === 'intx'
      ? 'INTx'
      : mode === 'msi'
        ? 'MSI'
        : o.driver?.msixProgrammedBy === 'rtas'
          ? 'MSI-X (RTAS)'
          : o.driver?.msixProgrammedBy === 'table'
            ? 'MSI-X'
            : 'interrupts';
  return `${how} via ${via}`;
}

/** Memory BARs the guest placed outside the machine's PCI windows, or did not place at all. */
function misplacedBars(m: Machine, d: VfioPciDevice): string[] {
  const p = m.spec.pci;
  const windows = [p.mmio32, ...(p.mmio64 ? [p.mmio64] : [])];
  const out: string[] = [];
  d.bars.forEach((b, i) => {
    if (!b || (b.type & 1) !== 0) return; // I/O BARs: the guest's firmware does not place them
    if (b.addr === PCI_BAR_UNMAPPED) {
      // The ROM BAR is left disabled after the firmware has checked the image (SeaBIOS
      // pciinit.c:pci_bios_map_devices and optionrom.c restore it), so unplaced is normal there.
      if (i !== PCI_ROM_SLOT) out.push(`BAR${i} (${hex(b.size)} bytes) was never placed`);
    } else if (!windows.some((w) => b.addr >= w.base && b.addr + b.size <= w.base + w.size)) {
      out.push(
        `BAR${i} (${hex(b.size)} bytes) at ${hex(b.addr)} lies outside the machine's PCI windows ` +
          `(${windows.map((w) => `${hex(w.base)}+${hex(w.size)}`).join(', ')})`,
      );
    }
  });
  return out;
}

/** Why interrupts did not reach the driver, from what the device has and what the guest got. */
function noInterruptReason(m: Machine, d: VfioPciDevice, o: WorkloadOutcome): string {
  const drv = o.driver!;
  if (drv.irqMode === 'intx')
    return `the driver requested INTx (irq ${drv.vectorIrqs[0]}) but no interrupt was delivered`;
  if (drv.irqMode === 'msi') return 'the driver enabled MSI but no interrupt was delivered';
  if (!d.msix) return 'no interrupt reached the driver: the device has no MSI-X, MSI or routed INTx pin';
  if (!drv.vectorIrqs.length)
    return (
      `the ${m.spec.interrupts.controller} gave the driver no MSI-X vectors (${n(m.irq.capacity())} for ` +
      'devices, machine file interrupts.msiBase), so the device cannot interrupt'
    );
  return `the driver set up ${drv.vectorIrqs.length} MSI-X vector(s) but none was delivered`;
}

/**
 * Judges one device: bound and visible, BARs in the windows, interrupts delivered, every transmit completed,
 * no fault.
 */
export function judgeDevice(m: Machine, host: SimHost, d: VfioPciDevice, o: WorkloadOutcome): DeviceVerdict {
  const reasons: string[] = [];
  const slot = (d.devfn >> 3).toString(16);
  const fn = d.devfn & 7;
  if (!o.visible) {
    reasons.push(
      fn !== 0
        ? `the guest never saw it: it is function ${fn} of slot ${slot} and the slot has no function 0, so ` +
            `the guest's PCI scan skips the slot`
        : `the guest's PCI scan did not find it at slot ${slot}`,
    );
  } else if (!o.driver) {
    reasons.push(
      `no driver of guest program bound it (class ${hex(BigInt(d.cfg.word(0x0a)))} is not a network controller)`,
    );
  }
  if (o.visible) reasons.push(...misplacedBars(m, d));
  const drv = o.driver;
  if (drv) {
    const handled = drv.handled.reduce((a, b) => a + b, 0);
    if (drv.completions < drv.transmits) {
      const model = host.functionAt(d.hostName)?.spec.model ?? null;
      const why =
        model === null
          ? `host function ${d.hostName} has no behaviour model (its host file entry sets no "model"), so ` +
            'nothing answers the doorbell'
          : handled === 0
            ? noInterruptReason(m, d, o)
            : `${n(handled)} interrupts were handled but ${n(drv.transmits - drv.completions)} transmits ` +
              'never completed';
      reasons.push(`${n(drv.completions)} of ${n(drv.transmits)} transmits completed: ${why}`);
    }
    if (o.dmaFaults) reasons.push(`${n(o.dmaFaults)} IOMMU faults (DMA to unmapped IOVAs)`);
    if (o.lostInterrupts) reasons.push(`${n(o.lostInterrupts)} interrupts lost`);
  }
  const working = reasons.length === 0;
  const summary = working
    ? drv!.transmits === 0
      ? 'working — the guest program ran no transmits'
      : `working — ${n(drv!.completions)}/${n(drv!.transmits)} transmits completed, ${mechanism(o)}`
    : `NOT working — ${reasons.join('; ')}`;
  return { id: d.name, host: d.hostName, working, summary, reasons };
}

/** The run's verdict from its devices'. */
export function judgeRun(devices: DeviceVerdict[]): RunVerdict {
  const bad = devices.filter((d) => !d.working);
  const summary = bad.length
    ? `NOT working — ${bad.length} of ${devices.length} device(s) did not work: ${bad.map((d) => d.id).join(', ')}`
    : `working — ${devices.length === 1 ? 'the device works' : `all ${devices.length} devices work`}`;
  return { working: bad.length === 0, summary, devices };
}
