// Randomized cross-check of the access paths (the RAM and MMIO windows, the flat page index, the miss path, the general
// transfer of physmem.c:flatview_read_continue / flatview_write_continue) against a byte-by-byte
// model built on the Visibility reference: random trees of RAM, ROM-through-readonly, MMIO and
// aliases, and random streams of 1/2/4/8-byte reads and writes, aligned or not, straddling
// boundaries and unassigned gaps. Region boundaries are multiples of 8, so no MMIO chunk crosses a
// section and the bytes an access sees do not depend on how it was split.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  MemorySystem,
  MEMTX_DECODE_ERROR,
  MEMTX_OK,
  type MemoryRegion,
  type AddressSpace,
} from '../../src/memory/index.ts';
import { refLookup } from './reference.ts';

const SPAN = 0x4000;
const kinds = ['container', 'io', 'ram', 'alias'] as const;

const regionSpec = fc.record({
  kind: fc.constantFrom(...kinds),
  size: fc.oneof(
    fc.integer({ min: 1, max: 0x40 }).map((n) => n * 8),
    fc.integer({ min: 1, max: 0x10 }).map((n) => n * 0x200),
    fc
      .integer({ min: 1, max: 3 })
      .map((n) => n * 0x1000), // whole pages, for the page index
  ),
  addr: fc.oneof(
    fc.integer({ min: 0, max: SPAN / 8 - 1 }).map((n) => n * 8),
    fc.integer({ min: 0, max: SPAN / 0x1000 - 1 }).map((n) => n * 0x1000),
  ),
  parent: fc.nat(),
  target: fc.nat(),
  aliasOffset: fc.integer({ min: 0, max: 0x40 }).map((n) => n * 8),
  priority: fc.integer({ min: -1, max: 1 }),
  readonly: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
});
const accessSpec = fc.record({
  write: fc.boolean(),
  /** Index of a boundary to start near, or below 0 for anywhere (aligned to the size, or not). */
  near: fc.integer({ min: -10, max: 40 }),
  aligned: fc.boolean(),
  delta: fc.integer({ min: -9, max: 9 }),
  anywhere: fc.integer({ min: 0, max: SPAN + 0x20 }),
  size: fc.constantFrom(1, 2, 4, 8),
  repeat: fc.integer({ min: 1, max: 6 }),
  value: fc.integer({ min: 0, max: 0xffffffff }),
  hi: fc.integer({ min: 0, max: 0xffffffff }),
});
const specArb = fc.record({
  regions: fc.array(regionSpec, { minLength: 1, maxLength: 10 }),
  accesses: fc.array(accessSpec, { minLength: 1, maxLength: 40 }),
  stats: fc.boolean(),
  /** Miss 64 times first, so the dispatch builds its flat page index and serves pages from it. */
  paged: fc.boolean(),
});
type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

/** A byte-addressed MMIO register file: any size, any aligned offset, little-endian lanes. */
function registerFile(
  mem: MemorySystem,
  name: string,
  size: number,
  bytes: Map<MemoryRegion, Uint8Array>,
): MemoryRegion {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + name.length * 13) & 0xff;
  const mr = mem.io(name, size, {
    read: (off, sz) => {
      let v = 0;
      for (let k = sz - 1; k >= 0; k--) v = v * 256 + b[off + k]!;
      return v;
    },
    write: (off, v, sz) => {
      let x = Number(v);
      for (let k = 0; k < sz; k++, x = Math.floor(x / 256)) b[off + k] = x & 0xff;
    },
    endianness: 'little',
  });
  bytes.set(mr, b);
  return mr;
}

function build(spec: Spec): { as: AddressSpace; root: MemoryRegion; bytes: Map<MemoryRegion, Uint8Array> } {
  const mem = new MemorySystem();
  const root = mem.container('root', SPAN);
  const regions: MemoryRegion[] = [];
  const bytes = new Map<MemoryRegion, Uint8Array>();
  const reaches = (from: MemoryRegion, to: MemoryRegion): boolean =>
    from === to || (from.alias !== null && reaches(from.alias, to)) || from.children.some((c) => reaches(c, to));
  mem.transaction(() => {
    spec.regions.forEach((r, i) => {
      const name = `r${i}`;
      let mr: MemoryRegion;
      const target = regions.length ? regions[r.target % regions.length]! : undefined;
      if (r.kind === 'alias' && target) mr = mem.alias(name, target, r.aliasOffset, r.size);
      else if (r.kind === 'ram') {
        mr = mem.ram(name, r.size);
        for (let k = 0; k < r.size; k++) mr.ramBlock!.write(k, (k * 3 + i * 29) & 0xff, 1);
      } else if (r.kind === 'container') mr = mem.container(name, r.size);
      else mr = registerFile(mem, name, r.size, bytes);
      if (r.readonly && mr.isRam) mr.setReadonly(true);
      const parents = [root, ...regions.filter((p) => !p.alias && !p.terminates)];
      const parent = parents[r.parent % parents.length]!;
      if (!reaches(mr, parent)) parent.addSubregionOverlap(r.addr, mr, r.priority);
      regions.push(mr);
    });
  });
  return { as: mem.addressSpace('as0', root), root, bytes };
}

/** The model: what one byte of the address space is, from the Visibility reference. */
function modelByte(root: MemoryRegion, bytes: Map<MemoryRegion, Uint8Array>, addr: number): { get(): number } {
  const hit = refLookup(root, BigInt(addr));
  if (!hit) return { get: () => 0 };
  const off = Number(hit.offset);
  if (hit.mr.isRam) {
    const block = hit.mr.ramBlock!;
    return { get: () => block.readByte(off) };
  }
  const b = bytes.get(hit.mr)!;
  return { get: () => b[off]! };
}

function run(spec: Spec): void {
  const { as, root, bytes } = build(spec);
  as.stats = spec.stats;
  if (spec.paged) for (let k = 0; k < 64; k++) as.read(SPAN + 0x100, 4);
  const bounds = [...new Set(as.view.ranges.flatMap((r) => [Number(r.start), Number(r.start + r.size)]))];
  for (const a of spec.accesses) {
    let addr = a.near >= 0 && bounds.length ? Math.max(0, bounds[a.near % bounds.length]! + a.delta) : a.anywhere;
    if (a.near < 0 && a.aligned) addr -= addr % a.size;
    for (let k = 0; k < a.repeat; k++, addr += a.size) {
      const at = `${a.write ? 'write' : 'read'}(0x${addr.toString(16)}, ${a.size})`;
      const lanes = Array.from({ length: a.size }, (_, i) => modelByte(root, bytes, addr + i));
      if (a.write) {
        const value = (a.value + k) >>> 0;
        const got = as.write(addr, value, a.size, a.hi);
        // Each byte read back through the model; refused bytes (unassigned, readonly) make the error.
        const want = [...Array(a.size)].map((_, i) =>
          i < 4 ? Math.floor(value / 2 ** (8 * i)) & 0xff : Math.floor(a.hi / 2 ** (8 * (i - 4))) & 0xff,
        );
        let result = MEMTX_OK;
        lanes.forEach((l, i) => {
          const hit = refLookup(root, BigInt(addr + i));
          if (!hit || (hit.mr.isRam && hit.readonly)) result |= MEMTX_DECODE_ERROR;
          else assert.is(l.get(), want[i], `${at}: byte ${i}`);
        });
        assert.is(got, result, `${at}: result`);
      } else {
        const lo = as.read(addr, a.size);
        const hi = a.size === 8 ? as.hi : 0;
        let wantLo = 0;
        let wantHi = 0;
        for (let i = a.size - 1; i >= 0; i--) {
          if (i >= 4) wantHi = wantHi * 256 + lanes[i]!.get();
          else wantLo = wantLo * 256 + lanes[i]!.get();
        }
        const unassigned = lanes.some((_, i) => refLookup(root, BigInt(addr + i)) === null);
        assert.is(lo, wantLo, `${at}: value`);
        assert.is(hi, wantHi, `${at}: high half`);
        assert.is(as.result, unassigned ? MEMTX_DECODE_ERROR : MEMTX_OK, `${at}: result`);
      }
    }
  }
}

test('reads and writes of every size agree with a byte model of the reference, windows on or off', () => {
  fc.assert(fc.property(specArb, run), { numRuns: 600, seed: Number(process.env.VDM_SEED ?? 20261130) });
});

test.run();
