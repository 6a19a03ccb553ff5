import { ConfigAccess, enumerateAndAssign, type RomCheck } from './firmware.ts';
import { NicDriver, type DriverStats } from './nic-driver.ts';
import { GuestKernel } from './kernel.ts';
import type { GuestPlatform } from './platform.ts';
import type { GuestProgram } from './guest-file.ts';

const NETWORK_CLASS = 0x02;

/** The drivers of a boot together: their counters summed, plus what the guest kernel saw. */
export type GuestDriverTotals = DriverStats & {
  /** NIC functions a driver probed. */
  nics: number;
  /** Interrupts that arrived with no driver registered for them. */
  spurious: number;
};

/** What a guest program did, as the guest itself counted it. */
export interface GuestRun {
  /** Each NIC driver's counters, by the devfn of the function it drove (in probe order). */
  drivers: { devfn: number; stats: DriverStats }[];
  /** Every driver's counters summed; null when no NIC was found. */
  totals: GuestDriverTotals | null;
  configCycles: { reads: number; writes: number };
  /** MSI-X vectors the guest kernel could not give a driver (its pool was empty). */
  vectorsRefused: number;
  /** The firmware's option ROM checks, by devfn of the function. */
  roms: { devfn: number; rom: RomCheck }[];
}

/** What the guest found and its drivers counted when the workload ended. */
export interface WorkloadDone {
  /** Devfns the firmware's PCI scan found on the root bus. */
  found: number[];
  drivers: GuestRun['drivers'];
}

/** Progress of long work: `done` of `total` steps (a guest's iterations over all its drivers). */
export type ProgressFn = (done: number, total: number) => void;

/**
 * Runs a guest program on a platform: firmware enumerates and places BARs, a driver probes every
 * network function (in bus order, as Linux does), then each runs its workload. `onWorkloadDone`
 * sees the state after the workload and before a misbehaving program's deliberate faults.
 */
export function runGuest(
  p: GuestPlatform,
  program: GuestProgram,
  onWorkloadDone?: (done: WorkloadDone) => void,
  progress?: ProgressFn,
): GuestRun {
  const cfg = new ConfigAccess(p);
  const found = enumerateAndAssign(p, cfg);
  const kernel = new GuestKernel(p);
  const drivers = found
    .filter((f) => f.classCode >> 16 === NETWORK_CLASS)
    .map((f) => ({ fn: f, driver: new NicDriver(p, kernel, cfg, f, program) }));
  for (const d of drivers) d.driver.probe();
  const total = drivers.length * program.iterations;
  let done = 0;
  const step = progress && (() => progress(++done, total));
  for (const d of drivers) d.driver.run(step);
  const stats = drivers.map((d) => ({ devfn: d.fn.devfn, stats: d.driver.stats }));
  onWorkloadDone?.({ found: found.map((f) => f.devfn), drivers: stats });
  if (program.misbehave) for (const d of drivers) d.driver.misbehave();
  return {
    drivers: stats,
    totals: drivers.length
      ? sumDrivers(
          drivers.map((d) => d.driver.stats),
          kernel.spurious,
        )
      : null,
    configCycles: cfg.cycles,
    vectorsRefused: kernel.vectorsRefused,
    roms: found.flatMap((f) => (f.rom ? [{ devfn: f.devfn, rom: f.rom }] : [])),
  };
}

function sumDrivers(all: DriverStats[], spurious: number): GuestDriverTotals {
  const sum = (f: (s: DriverStats) => number) => all.reduce((a, s) => a + f(s), 0);
  return {
    nics: all.length,
    msixProgrammedBy: all[0]!.msixProgrammedBy,
    irqMode: all[0]!.irqMode,
    vectorIrqs: all.flatMap((s) => s.vectorIrqs),
    handled: all.flatMap((s) => s.handled),
    transmits: sum((s) => s.transmits),
    completions: sum((s) => s.completions),
    statusReads: sum((s) => s.statusReads),
    masks: sum((s) => s.masks),
    tces: sum((s) => s.tces),
    spurious,
  };
}
