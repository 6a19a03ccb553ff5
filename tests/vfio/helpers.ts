// Shared by the vfio-pci and machine tests: build a machine on a (possibly edited) host, and play
// the firmware's part in the simplest way (BARs assigned in order, decode and bus mastering on).
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { loadMachineFile, Machine, SimHost, parseHostFile, infoMtree, type VfioPciOptions, type VfioPciDevice } from '../../src/index.ts';
import * as R from '../../src/pci/constants.ts';

const ROOT = fileURLToPath(new URL('../../machines/', import.meta.url));

/** A host file as JSON, to edit before use. */
export const hostJson = (name: string) => JSON.parse(readFileSync(`${ROOT}hosts/${name}.json`, 'utf8'));

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

export function makeMachine(machine: string, host: string | object, devices: VfioPciOptions[] = [{ host: '0000:01:00.0' }]): Machine {
  const h = typeof host === 'string' ? SimHost.load(`${ROOT}hosts/${host}.json`) : new SimHost(parseHostFile(JSON.stringify(host), 'variant.json'));
  return new Machine(loadMachineFile(`${ROOT}${machine}.json`), h, devices);
}

/** Firmware in miniature: size each BAR, place it in the machine's windows, enable MEM and MASTER. */
export function assignBars(m: Machine, dev: VfioPciDevice): bigint[] {
  const host = m.pciHost;
  const bus = dev.bus!.number();
  const cfgw = (off: number, v: number, len = 4) => host.configWrite(bus, dev.devfn, off, v, len);
  const cfgr = (off: number, len = 4) => host.configRead(bus, dev.devfn, off, len);
  let next32 = m.spec.pci.mmio32.base;
  let next64 = m.spec.pci.mmio64?.base ?? next32;
  const addrs: bigint[] = [];
  for (let n = 0; n < 6; n++) {
    const off = R.PCI_BASE_ADDRESS_0 + 4 * n;
    cfgw(off, 0xffffffff);
    const low = cfgr(off);
    if (low === 0) continue;
    const is64 = (low & 6) === 4;
    let mask = BigInt(low & ~0xf);
    if (is64) {
      cfgw(off + 4, 0xffffffff);
      mask |= BigInt(cfgr(off + 4)) << 32n;
    } else mask |= 0xffffffff00000000n;
    const size = (~mask & 0xffffffffffffffffn) + 1n;
    const useHigh = is64 && m.spec.pci.mmio64 !== null;
    let at = useHigh ? next64 : next32;
    at = (at + size - 1n) & ~(size - 1n);
    if (useHigh) next64 = at + size;
    else next32 = at + size;
    cfgw(off, Number(at & 0xffffffffn));
    if (is64) cfgw(off + 4, Number(at >> 32n));
    addrs[n] = at;
    if (is64) n++;
  }
  cfgw(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER, 2);
  return addrs;
}

/** The info mtree lines that belong to the device's BARs. */
export function barLines(m: Machine): string[] {
  return infoMtree([m.memory], { disabled: true })
    .split('\n')
    .filter((l) => /BAR|msix-/.test(l))
    .map((l) => l.trim());
}
