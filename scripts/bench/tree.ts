// The benchmark's memory tree: N regions laid out as "device units" that look like what a machine
// with assigned devices has: guest RAM, an emulated MMIO page, a page split into sub-page MMIO
// registers, a passthrough BAR (a container holding the mmapped RAM-device and the MSI-X table and
// PBA overlays on top), and a gap where nothing decodes.
import {
  MemorySystem,
  U64_SPAN,
  type AddressSpace,
  type MemoryRegion,
  type RamBlock,
  type RamDeviceBacking,
} from '../../src/memory/index.ts';
import { Msix, PciDevice } from '../../src/pci/index.ts';

/** The access paths the dispatch benchmark measures, one address stream each. */
export const PATHS = ['ram', 'mmio', 'ramDevice', 'msixOverlay', 'subpage', 'unassigned'] as const;
export type PathName = (typeof PATHS)[number];

export const UNIT_SIZE = 0x10000;
export const REGIONS_PER_UNIT = 10;
/** Where the first unit sits: inside the low 4 GiB, as a PCI hole is, so the v86-style table covers it. */
export const TREE_BASE = 0x8000_0000;
const PAGE = 0x1000;
const SUBPAGE = 0x400;
const BAR_OFFSET = 0x4000;
const BAR_SIZE = 0x4000;
const TABLE_OFFSET = 0x2000;
const PBA_OFFSET = 0x3000;
const VECTORS = 64;

/** Where each path's accesses go inside a unit: [first byte, length) relative to the unit base. */
export const PATH_SPAN: Record<PathName, { start: number; length: number }> = {
  ram: { start: 0, length: PAGE },
  mmio: { start: PAGE, length: PAGE },
  subpage: { start: 2 * PAGE, length: PAGE },
  ramDevice: { start: BAR_OFFSET, length: TABLE_OFFSET },
  msixOverlay: { start: BAR_OFFSET + TABLE_OFFSET, length: VECTORS * 16 },
  unassigned: { start: 0x8000, length: 0x8000 },
};

type ReadFn = (offset: number, size: number) => number;
type WriteFn = (offset: number, value: number | bigint, size: number) => void;

/**
 * The handler that serves one 4-byte access of a path, found from the layout alone (no lookup): what
 * the direct-call baseline calls and what every strategy is checked against.
 */
export interface Handlers {
  read: ReadFn[];
  write: WriteFn[];
  /** Handler index and offset in its region for an address of this path in unit `u`. */
  locate(u: number, offsetInSpan: number): { handler: number; offset: number };
}

export interface BenchTree {
  mem: MemorySystem;
  root: MemoryRegion;
  as: AddressSpace;
  units: number;
  regions: number;
  handlers: Record<PathName, Handlers>;
  /** The BAR container of each unit (what the render benchmark moves) and its MMIO page. */
  bars: MemoryRegion[];
  mmioPages: MemoryRegion[];
}

/** A 32-bit value unique enough per (unit, region, offset) that a wrong lookup reads something else. */
export function pattern(u: number, which: number, off: number): number {
  return (Math.imul(u + 1, 0x9e3779b1) ^ Math.imul(which + 1, 0x85ebca6b) ^ off) >>> 0;
}

function registers(
  mem: MemorySystem,
  name: string,
  size: number,
  u: number,
  which: number,
): { mr: MemoryRegion; read: ReadFn; write: WriteFn } {
  const regs = new Uint32Array(size / 4);
  for (let k = 0; k < regs.length; k++) regs[k] = pattern(u, which, k * 4);
  // The same two functions serve the region and the direct baseline, so both do identical work.
  const read: ReadFn = (off) => regs[off >>> 2]!;
  const write: WriteFn = (off, v) => void (regs[off >>> 2] = Number(v));
  const mr = mem.io(name, size, { read, write, valid: { minAccessSize: 4, maxAccessSize: 4 }, endianness: 'little' });
  return { mr, read, write };
}

function fill(target: RamBlock, size: number, u: number, which: number): void {
  for (let off = 0; off < size; off += 4) target.write(off, pattern(u, which, off), 4);
}

/** Builds `regions` regions (rounded up to whole units) in one transaction and compiles dispatch. */
export function buildTree(regions: number): BenchTree {
  const units = Math.max(1, Math.ceil(regions / REGIONS_PER_UNIT));
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const h = {
    ram: { read: [] as ReadFn[], write: [] as WriteFn[] },
    mmio: { read: [] as ReadFn[], write: [] as WriteFn[] },
    subpage: { read: [] as ReadFn[], write: [] as WriteFn[] },
    ramDevice: { read: [] as ReadFn[], write: [] as WriteFn[] },
    msixOverlay: { read: [] as ReadFn[], write: [] as WriteFn[] },
  };
  const bars: MemoryRegion[] = [];
  const mmioPages: MemoryRegion[] = [];
  mem.transaction(() => {
    for (let u = 0; u < units; u++) {
      const base = TREE_BASE + u * UNIT_SIZE;
      const ram = mem.ram(`ram${u}`, PAGE);
      fill(ram.ramBlock!, PAGE, u, 0);
      const block = ram.ramBlock!;
      h.ram.read.push((off, size) => block.read(off, size));
      h.ram.write.push((off, v, size) => block.write(off, v as number, size));
      root.addSubregion(base, ram);

      const mmio = registers(mem, `mmio${u}`, PAGE, u, 1);
      h.mmio.read.push(mmio.read);
      h.mmio.write.push(mmio.write);
      mmioPages.push(mmio.mr);
      root.addSubregion(base + PAGE, mmio.mr);

      for (let k = 0; k < PAGE / SUBPAGE; k++) {
        const sub = registers(mem, `sub${u}.${k}`, SUBPAGE, u, 2 + k);
        h.subpage.read.push(sub.read);
        h.subpage.write.push(sub.write);
        root.addSubregion(base + 2 * PAGE + k * SUBPAGE, sub.mr);
      }

      // A passthrough BAR: mmapped device memory with the MSI-X overlays of hw/pci/msix.c on top.
      const bar = mem.container(`bar${u}`, BAR_SIZE);
      const backing = mem.ramDevice(`bar${u} mmaps[0]`, BAR_SIZE);
      fill(backing.ramDeviceBacking as RamBlock, BAR_SIZE, u, 6);
      // The mmap goes in first, as in vfio_bars_register before msix_init: the newer overlays win.
      bar.addSubregion(0, backing);
      const dev = new PciDevice({ mem, name: `dev${u}`, vendorId: 0x8086, deviceId: 0x10fb, classCode: 0x020000 });
      const msix = new Msix(
        dev,
        VECTORS,
        { bar, barNr: 0, offset: TABLE_OFFSET },
        { bar, barNr: 0, offset: PBA_OFFSET },
      );
      const mapped: RamDeviceBacking = backing.ramDeviceBacking!;
      h.ramDevice.read.push((off, size) => mapped.read(off, size));
      h.ramDevice.write.push((off, v, size) => mapped.write(off, v as number, size));
      const table = msix.tableRegion;
      h.msixOverlay.read.push(table.readFn as ReadFn);
      h.msixOverlay.write.push(table.writeFn!);
      bars.push(bar);
      root.addSubregion(base + BAR_OFFSET, bar);
    }
  });
  const as = mem.addressSpace('memory', root);
  as.dispatch; // compile now, so building includes it
  const simple = (p: keyof typeof h, perUnit: number, regionSize: number): Handlers => ({
    ...h[p],
    locate: (u, o) => ({ handler: u * perUnit + Math.floor(o / regionSize), offset: o % regionSize }),
  });
  const handlers: Record<PathName, Handlers> = {
    ram: simple('ram', 1, PAGE),
    mmio: simple('mmio', 1, PAGE),
    subpage: simple('subpage', PAGE / SUBPAGE, SUBPAGE),
    ramDevice: simple('ramDevice', 1, BAR_SIZE),
    msixOverlay: simple('msixOverlay', 1, VECTORS * 16),
    // unassigned_mem_ops: nothing is there; reads give 0, writes are dropped.
    unassigned: { read: [() => 0], write: [() => {}], locate: (_u, o) => ({ handler: 0, offset: o }) },
  };
  return { mem, root, as, units, regions: units * REGIONS_PER_UNIT, handlers, bars, mmioPages };
}
