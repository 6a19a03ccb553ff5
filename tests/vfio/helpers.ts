// Shared by the vfio-pci and machine tests: build a machine on a (possibly edited) host, and run
// the guest firmware's enumeration so BARs sit where a booted guest would put them.
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import {
  loadMachineFile,
  Machine,
  SimHost,
  VfioKernel,
  hostFileChecks,
  type VfioDevice,
  type VfioDeviceFile,
  parseHostFile,
  infoMtree,
  platformOf,
  enumerateAndAssign,
  ConfigAccess,
  type VfioPciOptions,
  type VfioPciDevice,
} from '../../src/index.ts';

/** The shipped machines/ folder (machine, host and guest files), with a trailing slash. */
export const MACHINES_DIR = fileURLToPath(new URL('../../machines/', import.meta.url));

/** A host file as JSON, to edit before use. */
export const hostJson = (name: string) => JSON.parse(readFileSync(`${MACHINES_DIR}hosts/${name}.json`, 'utf8'));

/** The assigned endpoint's spec inside a host JSON (the first vfio-pci function). */
export function endpoint(j: { pci: unknown[] }): Record<string, unknown> {
  const walk = (l: Record<string, unknown>[]): Record<string, unknown> | null => {
    for (const f of l) {
      if (f.driver === 'vfio-pci') return f;
      const c = walk((f.children as Record<string, unknown>[]) ?? []);
      if (c) return c;
    }
    return null;
  };
  return walk(j.pci as Record<string, unknown>[])!;
}

/** A test bench: the host, its kernel, and a machine built on the kernel's VFIO API. */
export function makeBench(
  machine: string,
  host: string | object,
  devices: VfioPciOptions[] = [{ host: '0000:01:00.0' }],
): { m: Machine; host: SimHost; kernel: VfioKernel } {
  const h =
    typeof host === 'string'
      ? SimHost.load(`${MACHINES_DIR}hosts/${host}.json`)
      : new SimHost(parseHostFile(JSON.stringify(host), 'variant.json'));
  const kernel = new VfioKernel(h);
  const spec = loadMachineFile(`${MACHINES_DIR}${machine}.json`);
  return { m: new Machine(spec, kernel, devices, hostFileChecks(spec, h)), host: h, kernel };
}

export function makeMachine(
  machine: string,
  host: string | object,
  devices: VfioPciOptions[] = [{ host: '0000:01:00.0' }],
): Machine {
  return makeBench(machine, host, devices).m;
}

/**
 * The host kernel's side of an assigned device (its hardware, IOMMU, counters): a test bench may
 * look behind the VFIO API, the VMM may not, so only tests unwrap the fd.
 */
export function hostSide(d: VfioPciDevice): VfioDevice {
  return (d.deviceFd as VfioDeviceFile).device;
}

/** The guest firmware's own pass (sizing, natural alignment, MEM | MASTER); BAR addresses by index. */
export function assignBars(m: Machine, dev: VfioPciDevice): bigint[] {
  const p = platformOf(m);
  const fn = enumerateAndAssign(p, new ConfigAccess(p)).find((f) => f.devfn === dev.devfn)!;
  const addrs: bigint[] = [];
  for (const b of fn.bars) addrs[b.index] = b.address;
  return addrs;
}

/** The info mtree lines that belong to the device's BARs. */
export function barLines(m: Machine): string[] {
  return infoMtree([m.addressSpaceMemory], { disabled: true })
    .split('\n')
    .filter((l) => /BAR|msix-/.test(l))
    .map((l) => l.trim());
}
