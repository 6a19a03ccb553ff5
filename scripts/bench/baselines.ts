// The dispatch designs vdm is measured against, each over the same FlatView ranges and calling the
// same handlers as the AddressSpace: (b) a linear scan, (c) a sorted array with binary search (the
// BTreeMap bus of cloud-hypervisor, crosvm and Firecracker), (d) a table of handlers indexed by
// address >> 17 (v86's memory_map_read/write arrays), which needs a fallback when a 128 KiB block
// holds more than one range.
import type { FlatRange, MemoryRegion, RamBlock, RamDeviceBacking } from '../../src/memory/index.ts';

const enum Kind {
  Ram = 0,
  RamDevice = 1,
  Mmio = 2,
}

/** The flat ranges as plain arrays: what every baseline finds an index into and dispatches from. */
export class FlatTable {
  readonly n: number;
  readonly start: Float64Array;
  readonly end: Float64Array;
  /** offsetInRegion - start. */
  readonly delta: Float64Array;
  readonly kind: Uint8Array;
  readonly block: (RamBlock | null)[];
  readonly backing: (RamDeviceBacking | null)[];
  readonly region: MemoryRegion[];

  constructor(ranges: readonly FlatRange[]) {
    const rs = ranges.filter((r) => r.start + r.size <= 2n ** 53n);
    const n = (this.n = rs.length);
    this.start = new Float64Array(n);
    this.end = new Float64Array(n);
    this.delta = new Float64Array(n);
    this.kind = new Uint8Array(n);
    this.block = [];
    this.backing = [];
    this.region = [];
    rs.forEach((r, i) => {
      this.start[i] = Number(r.start);
      this.end[i] = Number(r.start + r.size);
      this.delta[i] = Number(r.offsetInRegion) - Number(r.start);
      const mr = r.mr;
      if (mr.directSizes === 0 && !mr.isRam)
        throw new Error(`baseline: region ${mr.name} needs the general MMIO path, which the baselines do not model`);
      this.kind[i] = mr.isRamDevice ? Kind.RamDevice : mr.isRam ? Kind.Ram : Kind.Mmio;
      this.block.push(mr.ramBlock);
      this.backing.push(mr.ramDeviceBacking);
      this.region.push(mr);
    });
  }

  /** A 4-byte-or-smaller aligned load from range r (-1: nothing there, reads 0 as unassigned_mem_read). */
  read(r: number, addr: number, size: number): number {
    if (r < 0) return 0;
    const off = addr + this.delta[r]!;
    const k = this.kind[r];
    if (k === Kind.Ram) return this.block[r]!.read(off, size);
    if (k === Kind.RamDevice) return this.backing[r]!.read(off, size);
    return (this.region[r]!.readFn!(off, size) as number) >>> 0;
  }

  write(r: number, addr: number, value: number, size: number): void {
    if (r < 0) return;
    const off = addr + this.delta[r]!;
    const k = this.kind[r];
    if (k === Kind.Ram) this.block[r]!.write(off, value, size);
    else if (k === Kind.RamDevice) this.backing[r]!.write(off, value, size);
    else this.region[r]!.writeFn!(off, value, size);
  }

  /** Binary search over [lo, hi): the range holding addr, or -1. */
  search(addr: number, lo: number, hi: number): number {
    const start = this.start;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (start[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && addr < this.end[lo - 1]! ? lo - 1 : -1;
  }
}

/** (b) Every range in turn until one holds the address. */
export class LinearScan {
  constructor(readonly t: FlatTable) {}
  find(addr: number): number {
    const { start, end, n } = this.t;
    for (let r = 0; r < n; r++) if (addr >= start[r]! && addr < end[r]!) return r;
    return -1;
  }
  read(addr: number, size: number): number {
    return this.t.read(this.find(addr), addr, size);
  }
  write(addr: number, value: number, size: number): void {
    this.t.write(this.find(addr), addr, value, size);
  }
}

/** (c) Binary search of the sorted range starts. */
export class BinarySearch {
  constructor(readonly t: FlatTable) {}
  read(addr: number, size: number): number {
    return this.t.read(this.t.search(addr, 0, this.t.n), addr, size);
  }
  write(addr: number, value: number, size: number): void {
    this.t.write(this.t.search(addr, 0, this.t.n), addr, value, size);
  }
}

export const BLOCK_SHIFT = 17;
const BLOCKS = 2 ** (32 - BLOCK_SHIFT);
const EMPTY = -1;

/**
 * (d) One entry per 128 KiB block of the low 4 GiB: the range covering the whole block, EMPTY, or
 * (for a block holding several ranges) -2 - its first range, searched from there to blockEnd.
 * Addresses at or above 4 GiB fall back to the binary search.
 */
export class BlockTable {
  private readonly entry = new Int32Array(BLOCKS).fill(EMPTY);
  private readonly blockEnd = new Int32Array(BLOCKS);
  /** Blocks that hold more than one range, or part of one: served by the fallback search. */
  readonly mixedBlocks: number;
  readonly usedBlocks: number;

  constructor(readonly t: FlatTable) {
    let mixed = 0;
    let used = 0;
    for (let r = 0; r < t.n; r++) {
      const s = t.start[r]!;
      if (s >= 2 ** 32) break;
      const first = Math.floor(s / 2 ** BLOCK_SHIFT);
      const last = Math.floor((Math.min(t.end[r]!, 2 ** 32) - 1) / 2 ** BLOCK_SHIFT);
      for (let b = first; b <= last; b++) {
        const blockStart = b * 2 ** BLOCK_SHIFT;
        const whole = s <= blockStart && t.end[r]! >= blockStart + 2 ** BLOCK_SHIFT;
        if (this.entry[b] === EMPTY && whole) {
          this.entry[b] = r;
          used++;
        } else if (this.entry[b] === EMPTY) {
          this.entry[b] = -2 - r;
          this.blockEnd[b] = r + 1;
          used++;
          mixed++;
        } else {
          if (this.entry[b]! >= 0) throw new Error('block table: a whole-block range overlaps another range');
          this.blockEnd[b] = r + 1;
        }
      }
    }
    this.mixedBlocks = mixed;
    this.usedBlocks = used;
  }

  find(addr: number): number {
    if (addr >= 4294967296) return this.t.search(addr, 0, this.t.n);
    const b = addr >>> BLOCK_SHIFT;
    const e = this.entry[b]!;
    if (e >= EMPTY) return e;
    return this.t.search(addr, -2 - e, this.blockEnd[b]!);
  }
  read(addr: number, size: number): number {
    return this.t.read(this.find(addr), addr, size);
  }
  write(addr: number, value: number, size: number): void {
    this.t.write(this.find(addr), addr, value, size);
  }
}
