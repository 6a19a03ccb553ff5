// The NIC guest's access trace for the access benchmark's `nic-trace` stream: every load and store
// the synthetic NIC driver (src/guest/nic-driver.ts) makes through the guest's memory address space
// during a real vdm boot (q35 on its default host, one assigned NIC, machines/guests/nic.json run
// for more iterations), recorded by wrapping the platform's `memory` (no product code changes).
// Config cycles through ECAM are left out: they belong to the PCI host bridge and happen once, at
// enumeration and probe; what is kept is the driver's data path (descriptor writes to guest RAM,
// doorbell, STATUS and ICR registers, MSI-X table entries and masking), in order.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Machine,
  SimHost,
  VfioKernel,
  hostFileChecks,
  loadMachineFile,
  nicFarmHost,
  packedDevices,
  parseGuestFile,
  parseHostFile,
  platformOf,
  runGuest,
  type AddressSpace,
} from '../../src/index.ts';

/** One access per index of every array, in the order the guest made them. */
export interface NicTrace {
  /** -1 for guest RAM, else the NIC's 4 KiB BAR page, numbered in order of first use. */
  page: number[];
  /** Byte offset from the start of guest RAM, or in the page. */
  offset: number[];
  size: number[];
  /** 1 for a store, 0 for a load. */
  write: number[];
  /** The stored value (0 for loads). */
  value: number[];
  /** Guest-physical base of each page, for the record. */
  pageBase: number[];
  /** ECAM config cycles seen and left out. */
  configCycles: number;
}

const ROOT = fileURLToPath(new URL('../../machines/', import.meta.url));
const PAGE = 0x1000;

/** Boots the machine once and records at least `count` driver accesses (the first `count` kept). */
export function recordNicTrace(count: number): NicTrace {
  const spec = loadMachineFile(`${ROOT}q35.json`);
  const template = JSON.parse(readFileSync(`${ROOT}hosts/${spec.defaultHost}.json`, 'utf8'));
  const shipped = parseGuestFile(readFileSync(`${ROOT}guests/nic.json`, 'utf8'), 'nic.json');
  // About 7 accesses per iteration (a 16-byte descriptor, the doorbell, STATUS, ICR): run long enough.
  const program = { ...shipped, iterations: Math.ceil(count / 6) };
  const { host, nics } = nicFarmHost(template, 1);
  const sim = new SimHost(parseHostFile(JSON.stringify(host), `${host.name}.json`));
  const m = new Machine(spec, new VfioKernel(sim), packedDevices(nics, spec.pci.firstSlot), hostFileChecks(spec, sim));
  const p = platformOf(m);
  const ram = { base: Number(p.firmware.ram.base), size: Number(p.firmware.ram.size) };
  const windows = [p.firmware.mmio32, p.firmware.mmio64].flatMap((w) =>
    w ? [{ base: Number(w.base), size: Number(w.size) }] : [],
  );
  const ecam = spec.pci.ecam ? { base: Number(spec.pci.ecam.base), size: Number(spec.pci.ecam.size) } : null;
  const inside = (a: number, w: { base: number; size: number }) => a >= w.base && a < w.base + w.size;
  const t: NicTrace = { page: [], offset: [], size: [], write: [], value: [], pageBase: [], configCycles: 0 };
  const record = (addr: number, size: number, write: boolean, value: number) => {
    if (ecam && inside(addr, ecam)) {
      t.configCycles++;
      return;
    }
    if (t.page.length >= count) return;
    let page = -1;
    let offset = addr - ram.base;
    if (!inside(addr, ram)) {
      if (!windows.some((w) => inside(addr, w)))
        throw new Error(`nic trace: the driver accessed 0x${addr.toString(16)}, outside RAM and the PCI windows`);
      const base = addr - (addr % PAGE);
      page = t.pageBase.indexOf(base);
      if (page < 0) page = t.pageBase.push(base) - 1;
      offset = addr - base;
    }
    t.page.push(page);
    t.offset.push(offset);
    t.size.push(size);
    t.write.push(write ? 1 : 0);
    t.value.push(write ? value >>> 0 : 0);
  };
  const memory = p.memory;
  // The seam: the guest reaches memory only through these two calls of its platform.
  p.memory = {
    read: (addr: number, size: number) => {
      const v = memory.read(addr, size);
      record(addr, size, false, 0);
      return v;
    },
    write: (addr: number, value: number, size: number) => {
      record(addr, size, true, value); // before the call: an interrupt it raises reads ICR after it
      memory.write(addr, value, size);
    },
  } as AddressSpace;
  runGuest(p, program);
  if (t.page.length < count)
    throw new Error(`nic trace: ${program.iterations} iterations made ${t.page.length} accesses, need ${count}`);
  return t;
}
