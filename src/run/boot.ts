import { Machine, packedDevices, type MachineSpec } from '../machine/index.ts';
import { nicFarmHost, parseHostFile, SimHost, VfioKernel, type HostJson } from '../host/index.ts';
import type { VfioPciOptions } from '../vfio/index.ts';
import { runGuest, type GuestDriverTotals, type GuestProgram, type ProgressFn } from '../guest/index.ts';
import { platformOf } from './platform.ts';
import { hostFileChecks } from './host-checks.ts';
import { buildReport, type BootReport } from './report.ts';
import { judgeDevice, judgeRun, workloadOutcome, type WorkloadOutcome } from './verdict.ts';

/** What booting produced: the machine (for mtree and explain) and everything the report shows. */
export interface BootResult {
  machine: Machine;
  /** Every NIC driver's stats summed (vectors listed in probe order); null when no NIC was found. */
  driver: GuestDriverTotals | null;
  configCycles: { reads: number; writes: number };
  report: BootReport;
}

/**
 * Wires a test bench as a person wires a real VMM to a real host: the host kernel's VFIO API is
 * handed to a new machine with its devices, the guest program runs on the machine's platform,
 * and the report puts together what the machine, the guest and the host kernel counted.
 */
export function boot(
  spec: MachineSpec,
  host: SimHost,
  program: GuestProgram,
  devices: VfioPciOptions[],
  progress?: ProgressFn,
): BootResult {
  const kernel = new VfioKernel(host);
  const m = new Machine(spec, kernel, devices, hostFileChecks(spec, host));
  m.addressSpaceMemory.stats = true; // the report counts every access by path
  m.addressSpaceMemory.resetCounters();
  let outcomes: WorkloadOutcome[] = [];
  const guest = runGuest(
    platformOf(m),
    program,
    (done) => {
      // Judged on the workload, before a misbehaving guest's deliberate faults.
      outcomes = m.devices.map((dev) =>
        workloadOutcome(
          dev,
          kernel,
          done.found.includes(dev.devfn),
          done.drivers.find((d) => d.devfn === dev.devfn)?.stats ?? null,
        ),
      );
    },
    progress,
  );
  const verdict = judgeRun(m.devices.map((dev, k) => judgeDevice(m, host, dev, outcomes[k]!)));
  const report = buildReport(m, host, kernel, program, guest, verdict);
  return { machine: m, driver: guest.totals, configCycles: guest.configCycles, report };
}

/**
 * Boots `count` NICs copied from `template` (a host file as parsed JSON, see nicFarmHost), packed
 * eight functions to a slot on the machine's root bus: what scale runs and their tests share.
 */
export function bootNicFarm(spec: MachineSpec, template: HostJson, program: GuestProgram, count: number): BootResult {
  const { host, nics } = nicFarmHost(template, count);
  return boot(
    spec,
    new SimHost(parseHostFile(JSON.stringify(host), `${host.name}.json`)),
    program,
    packedDevices(nics, spec.pci.firstSlot),
  );
}
