// The access benchmark's machine, built the same way for every strategy: guest RAM at 1 MiB and N
// MMIO regions whose handlers are four distinct functions (a register file, a read-to-clear status
// register, a doorbell counter, a computed pattern), each region with its own state. vdm maps them
// in an AddressSpace; v86 (npm `v86`) maps them with mmap_register, one 128 KiB block each, which
// is the smallest unit it can map, so sizes past its 32,768 blocks have no v86 column.
import { fileURLToPath } from 'node:url';
import { MemorySystem, RamBlock, U64_SPAN, type AddressSpace, type MemoryRegion } from '../../src/memory/index.ts';

export const RAM_BASE = 0x100000;
/** The guest RAM every stream but ram-wide uses, all of it written before each check. */
export const RAM_SIZE = 16 << 20;
/** The RAM region, up to MMIO_BASE: ram-wide's random dwords spread over all of it, as a guest's buffers do. */
export const WIDE_RAM = 240 << 20;
export const MMIO_BASE = 0x1000_0000;
/** v86's MMAP_BLOCK_SIZE: what one mmap_register entry covers. */
export const V86_BLOCK = 0x20000;
export const V86_MAX_BLOCKS = 32768;
const REGS = 64;

export type ReadFn = (offset: number, size: number) => number;
export type WriteFn = (offset: number, value: number, size: number) => void;

/** Region stride: v86's block size while the regions fit its map below the PCI hole, 32 KiB beyond. */
export function regionStride(n: number): number {
  return n <= 10000 ? V86_BLOCK : 0x8000;
}

function pattern(k: number, i: number): number {
  return (Math.imul(k + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
}

/** Four device-model shapes: distinct functions, so a call site sees what a real machine's sees. */
function handler(kind: number, k: number, regs: Uint32Array): { read: ReadFn; write: WriteFn } {
  for (let i = 0; i < REGS; i++) regs[i] = pattern(k, i);
  switch (kind) {
    case 0: // register file
      return {
        read: (off) => regs[(off >>> 2) & (REGS - 1)]!,
        write: (off, v) => void (regs[(off >>> 2) & (REGS - 1)] = v),
      };
    case 1: // status: bit 0 clears on read, writes set bits
      return {
        read: (off) => {
          const i = (off >>> 2) & (REGS - 1);
          const v = regs[i]!;
          regs[i] = v & ~1;
          return v;
        },
        write: (off, v) => void (regs[(off >>> 2) & (REGS - 1)]! |= v),
      };
    case 2: // doorbell: writes add to a head pointer, reads see it plus the offset
      return { read: (off) => (regs[0]! + off) >>> 0, write: (_off, v) => void (regs[0] = (regs[0]! + v) >>> 0) };
    default: // computed registers, writes fold into a scratch file
      return {
        read: (off) => Math.imul(off ^ k, 0x9e3779b1) >>> 0,
        write: (off, v) => void (regs[(off >>> 2) & (REGS - 1)]! ^= v),
      };
  }
}

export interface Layout {
  n: number;
  stride: number;
  read: ReadFn[];
  write: WriteFn[];
  /** Every region's registers, REGS per region: one buffer, so a fresh state is one copy. */
  state: Uint32Array;
  /** Region k's registers (a view of `state`). */
  regs: Uint32Array[];
}

export function layout(n: number): Layout {
  const read: ReadFn[] = [];
  const write: WriteFn[] = [];
  const regs: Uint32Array[] = [];
  // One buffer rather than a Uint32Array each: 100 000 ArrayBuffers took ~450 ms to make and copy.
  const state = new Uint32Array(n * REGS);
  for (let k = 0; k < n; k++) {
    const r = state.subarray(k * REGS, (k + 1) * REGS);
    const h = handler(k % 4, k, r);
    read.push(h.read);
    write.push(h.write);
    regs.push(r);
  }
  return { n, stride: regionStride(n), read, write, state, regs };
}

/**
 * vdm's tree: RAM and the N regions added in one transaction (8-byte accesses allowed, served as
 * two 4-byte calls, as MSI-X does). No address space yet, so nothing is rendered.
 */
export function vdmRegions(l: Layout): { mem: MemorySystem; root: MemoryRegion; ram: MemoryRegion } {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const ram = mem.ram('ram', WIDE_RAM);
  mem.transaction(() => {
    root.addSubregion(RAM_BASE, ram);
    for (let k = 0; k < l.n; k++) {
      root.addSubregion(
        MMIO_BASE + k * l.stride,
        mem.io(`dev${k}`, l.stride, {
          read: l.read[k]!,
          write: l.write[k] as (o: number, v: number | bigint, s: number) => void,
          valid: { minAccessSize: 4, maxAccessSize: 8 },
          impl: { maxAccessSize: 4 },
          endianness: 'little',
        }),
      );
    }
  });
  return { mem, root, ram };
}

/** vdm: the tree of vdmRegions in an AddressSpace (its view rendered; the dispatch compiles on first access). */
export function vdmMachine(l: Layout): { as: AddressSpace; ram: RamBlock } {
  const { mem, root, ram } = vdmRegions(l);
  return { as: mem.addressSpace('memory', root), ram: ram.ramBlock! };
}

/** The v86 CPU object the benchmark drives (npm `v86`, started without a guest). */
export interface V86Cpu {
  mmap_read32(addr: number): number;
  mmap_write32(addr: number, value: number): void;
  read32s(addr: number): number;
  write32(addr: number, value: number): void;
  mem32s: Int32Array;
  io: {
    mmap_register(
      addr: number,
      size: number,
      r8: (a: number) => number,
      w8: (a: number, v: number) => void,
      r32: (a: number) => number,
      w32: (a: number, v: number) => void,
    ): void;
  };
}

/** Boots v86's CPU with RAM up to MMIO_BASE and registers the regions; resolves with its cpu. */
export async function v86Machine(l: Layout): Promise<V86Cpu> {
  const { V86 } = (await import('v86')) as unknown as {
    V86: new (o: object) => { add_listener(e: string, f: () => void): void; v86: { cpu: V86Cpu } };
  };
  const wasm = fileURLToPath(new URL('v86.wasm', import.meta.resolve('v86')));
  const emulator = new V86({
    wasm_path: wasm,
    memory_size: MMIO_BASE, // RAM below the regions; v86 sends what is past it to its MMIO map
    vga_memory_size: 2 << 20,
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  await new Promise<void>((resolve) => emulator.add_listener('emulator-ready', resolve));
  const cpu = emulator.v86.cpu;
  for (let k = 0; k < l.n; k++) {
    const base = MMIO_BASE + k * V86_BLOCK;
    const r = l.read[k]!;
    const w = l.write[k]!;
    // A v86 device gets the absolute address and subtracts its own base.
    cpu.io.mmap_register(
      base,
      V86_BLOCK,
      (a) => (r((a - base) & ~3, 4) >>> (8 * (a & 3))) & 0xff,
      () => {},
      (a) => r(a - base, 4),
      (a, v) => w(a - base, v >>> 0, 4),
    );
  }
  return cpu;
}

/** Bytes one 4 KiB RAM block costs once written (heap and array buffers), over `count` blocks. */
export function ramBlockCost(count: number): number {
  const b = ramBlockBytes(count);
  return b.heap + b.arrayBuffers;
}

/**
 * What one RAM block of `size` bytes costs once written in one place (a 4-byte `write`), split into
 * JS heap (objects, views) and array-buffer contents, per block over `count` blocks. With
 * `windowed`, also after an address space's RAM window has moved to it: the window reads through
 * the chunk's 16- and 32-bit views, which a block made before them all at once. The median of five
 * measurements: in a process that has run other code, V8 compiles code or drops unused bytecode
 * during some of them, which moves the heap by up to a few hundred kilobytes.
 */
export function ramBlockBytes(count: number, size = 4096, windowed = false): { heap: number; arrayBuffers: number } {
  const runs = [0, 1, 2, 3, 4].map(() => ramBlockRun(count, size, windowed));
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[2]!;
  return { heap: median(runs.map((r) => r.heap)), arrayBuffers: median(runs.map((r) => r.arrayBuffers)) };
}

function ramBlockRun(count: number, size: number, windowed: boolean): { heap: number; arrayBuffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  const keep: RamBlock[] = new Array(count); // sized first, so its slots are not counted
  // Twice: a GC frees dead array buffers' memory only after it, when its sweep of them finishes.
  gc?.();
  gc?.();
  const m0 = process.memoryUsage();
  for (let i = 0; i < count; i++) {
    const b = new RamBlock(size);
    b.write(0, i, 4);
    // What AddressSpace.moveRam asks for (a block without view16 made its views when written).
    if (windowed && 'view16' in b) {
      b.view16(0);
      b.view32(0);
    }
    keep[i] = b;
  }
  gc?.();
  gc?.();
  const m1 = process.memoryUsage();
  if (keep.length !== count) throw new Error('unreachable');
  return { heap: (m1.heapUsed - m0.heapUsed) / count, arrayBuffers: (m1.arrayBuffers - m0.arrayBuffers) / count };
}
