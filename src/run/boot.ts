import { Machine, packedDevices, type MachineSpec } from '../machine/index.ts';
import { nicFarmHost, parseHostFile, SimHost, VfioKernel, type HostJson } from '../host/index.ts';
import type { VfioPciOptions } from '../vfio/index.ts';
import { runGuest, type GuestDriverTotals, type GuestProgram } from '../guest/index.ts';
import { platformOf } from './platform.ts';
import { buildReport, type BootReport } from './report.ts';

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
export function boot(spec: MachineSpec, host: SimHost, program: GuestProgram, devices: VfioPciOptions[]): BootResult {
  const kernel = new VfioKernel(host);
  const m = new Machine(spec, kernel, devices);
  m.addressSpaceMemory.resetCounters();
  const guest = runGuest(platformOf(m), program);
  const report = buildReport(m, host, kernel, program, guest);
  return { machine: m, driver: guest.totals, configCycles: guest.configCycles, report };
}

/**
 * Boots `count` NICs copied from `template` (a host file as parsed JSON, see nicFarmHost), packed
 * eight functions to a slot on the machine's root bus: what scale runs and their tests share.
 */
export function bootNicFarm(spec: MachineSpec, template: HostJson, program: GuestProgram, count: number): BootResult {
  const { host, nics } = nicFarmHost(template, count);
  return boot(spec, new SimHost(parseHostFile(JSON.stringify(host), `${host.name}.json`)), program, packedDevices(nics, spec.pci.firstSlot));
}

