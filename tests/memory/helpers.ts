import {
  MemorySystem,
  type MemoryRegion,
  type AddressSpace,
  type MemoryRegionOps,
  MemoryListener,
  type MemoryRegionSection,
} from '../../src/memory/index.ts';

/** A flat view as `[start-end] MR@offset`, one entry per range. */
export function flat(as: AddressSpace): string[] {
  return as.view.ranges.map(
    (r) =>
      `[0x${r.start.toString(16)}-0x${(r.start + r.size - 1n).toString(16)}] ` +
      `${r.mr.name}@0x${r.offsetInRegion.toString(16)}${r.readonly ? ' (readonly)' : ''}`,
  );
}

/** An MMIO region whose callbacks record every call and read back a per-offset register file. */
export function recordingIo(mem: MemorySystem, name: string, size: number, ops: Partial<MemoryRegionOps> = {}) {
  const calls: string[] = [];
  const regs = new Map<number, number | bigint>();
  const mr = mem.io(name, size, {
    read: (off, sz) => {
      calls.push(`read(0x${off.toString(16)}, ${sz})`);
      return regs.get(off) ?? 0;
    },
    write: (off, v, sz) => {
      calls.push(`write(0x${off.toString(16)}, 0x${v.toString(16)}, ${sz})`);
      regs.set(off, v);
    },
    ...ops,
  });
  return { mr, calls, regs };
}

/** A plain io region with no behaviour (for topology tests). */
export function io(mem: MemorySystem, name: string, size: number | bigint): MemoryRegion {
  return mem.io(name, size, { read: () => 0, write: () => {} });
}

/** A listener that logs events as `region_add NAME[start-end]@offset`. */
export function logListener(as: AddressSpace, name = 'log'): { log: string[]; listener: MemoryListener } {
  const log: string[] = [];
  const l = new MemoryListener(name);
  const fmt = (ev: string) => (s: MemoryRegionSection) =>
    log.push(
      `${ev} ${s.mr.name}[0x${s.offsetWithinAddressSpace.toString(16)}-0x${(s.offsetWithinAddressSpace + s.size - 1n).toString(16)}]@0x${s.offsetWithinRegion.toString(16)}`,
    );
  l.on('begin', () => log.push('begin'));
  l.on('commit', () => log.push('commit'));
  l.on('region-add', fmt('region_add'));
  l.on('region-del', fmt('region_del'));
  l.on('region-nop', fmt('region_nop'));
  as.addListener(l);
  log.length = 0; // drop the registration replay
  return { log, listener: l };
}

/** A fresh system with a root container of the given size as address space `as0`. */
export function setup(size: number | bigint = 0x10000, rootName = 'root') {
  const mem = new MemorySystem();
  const root = mem.container(rootName, size);
  const as = mem.addressSpace('as0', root);
  return { mem, root, as };
}
