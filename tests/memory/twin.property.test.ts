// Randomized differential test of the fast paths: two address spaces on one root share a FlatView
// and its dispatch; `fast` counts nothing (RAM window, page index, MMIO window), `slow` counts
// every access and so takes the miss path every time. Random trees near 0, 2^31, 4 GiB (windows
// across it), above 4 GiB and 2^53, random commits between accesses and from inside a device
// callback, and random streams of 1/2/3/4/8-byte accesses at integer, negative and fractional
// addresses: every access must answer the same value, high half and MemTxResult on both.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  MemoryListener,
  MemorySystem,
  RamBlock,
  U64_SPAN,
  type AddressSpace,
  type MemoryRegion,
} from '../../src/memory/index.ts';

const SPAN = 0x4000;
const BASES = [0, 0x7fff_e000, 0xffff_e000, 0x1f_ffff_f000, 2 ** 53 - 0x2000];
const kinds = ['container', 'io', 'io4', 'ram', 'rom', 'romd', 'ramd', 'alias'] as const;

const regionSpec = fc.record({
  kind: fc.constantFrom(...kinds),
  size: fc.oneof(
    fc.integer({ min: 1, max: 0x40 }).map((n) => n * 4),
    fc.integer({ min: 1, max: 3 }).map((n) => n * 0x1000),
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 0x103 }) },
  ),
  addr: fc.oneof(
    fc.integer({ min: 0, max: SPAN / 4 - 1 }).map((n) => n * 4),
    fc.integer({ min: 0, max: SPAN / 0x1000 - 1 }).map((n) => n * 0x1000),
    { weight: 1, arbitrary: fc.integer({ min: 0, max: SPAN - 1 }) },
  ),
  parent: fc.nat(),
  target: fc.nat(),
  aliasOffset: fc.oneof(
    fc.integer({ min: 0, max: 0x40 }).map((n) => n * 4),
    fc.integer({ min: 0, max: 2 }).map((n) => n * 0x1000),
    fc.integer({ min: 0, max: 0x43 }),
  ),
  priority: fc.integer({ min: -1, max: 1 }),
});
const changeSpec = fc.record({
  what: fc.constantFrom('move', 'enable', 'remove', 'alias-offset', 'readonly', 'romd'),
  region: fc.nat(),
  addr: fc.integer({ min: 0, max: SPAN / 4 - 1 }).map((n) => n * 4),
  flag: fc.boolean(),
});
const accessSpec = fc.record({
  write: fc.boolean(),
  base: fc.nat(),
  off: fc.oneof(
    fc.integer({ min: -8, max: SPAN + 8 }),
    fc.integer({ min: 0, max: SPAN / 4 }).map((n) => n * 4),
  ),
  odd: fc.constantFrom(0, 0, 0, 0, 0, 0, 0.5, -(2 ** 32)),
  size: fc.constantFrom(1, 2, 3, 4, 4, 4, 8),
  repeat: fc.integer({ min: 1, max: 5 }),
  value: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
    { weight: 1, arbitrary: fc.constantFrom(-1, -0x8000_0000, 2 ** 32 + 5, 2 ** 40 + 0x1234, 1.5, -2.5) },
  ),
  hi: fc.integer({ min: 0, max: 0xffffffff }),
});
const stepSpec = fc.oneof(
  { weight: 6, arbitrary: accessSpec.map((a) => ({ access: a })) },
  { weight: 1, arbitrary: changeSpec.map((c) => ({ change: c })) },
  { weight: 1, arbitrary: fc.constant({ toggleStats: true }) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        base: fc.nat(),
        off: fc.integer({ min: -4, max: SPAN }),
        length: fc.integer({ min: 1, max: 24 }),
        write: fc.boolean(),
      })
      .map((b) => ({ bytes: b })),
  },
);
const specArb = fc.record({
  regions: fc.array(regionSpec, { minLength: 1, maxLength: 12 }),
  steps: fc.array(stepSpec, { minLength: 1, maxLength: 40 }),
  paged: fc.boolean(),
  incremental: fc.boolean(),
  /** Where in each page a listener reads at every commit's begin, before any address space has its new view. */
  probe: fc.integer({ min: 0, max: 0x3ff }).map((n) => n * 4),
});
type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;
type Change = typeof changeSpec extends fc.Arbitrary<infer T> ? T : never;

/** A byte-addressed register file (little-endian lanes); io4 takes aligned 4-byte accesses only, in one call. */
function registers(size: number, seed: number, only4: boolean) {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + seed * 13) & 0xff;
  return {
    read: (off: number, sz: number) => {
      let v = 0;
      for (let k = sz - 1; k >= 0; k--) v = v * 256 + b[off + k]!;
      return v;
    },
    write: (off: number, v: number | bigint, sz: number) => {
      let x = Number(v);
      for (let k = 0; k < sz; k++, x = Math.floor(x / 256)) b[off + k] = x & 0xff;
    },
    endianness: 'little' as const,
    ...(only4 ? { valid: { minAccessSize: 4, maxAccessSize: 4 }, impl: { minAccessSize: 4, maxAccessSize: 4 } } : {}),
  };
}

function build(spec: Spec) {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  const windows = BASES.map((b, i) => {
    const w = mem.container(`w${i}`, SPAN);
    root.addSubregion(b, w);
    return w;
  });
  const regions: MemoryRegion[] = [];
  const reaches = (from: MemoryRegion, to: MemoryRegion): boolean =>
    from === to || (from.alias !== null && reaches(from.alias, to)) || from.children.some((c) => reaches(c, to));
  // A doorbell: a write of v applies change v (idempotent, so the twin's repeat of it changes nothing more).
  const bell = mem.io('bell', 0x1000, {
    read: () => 0,
    write: (_off, v) => apply({ what: 'enable', region: Number(v) >>> 1, addr: 0, flag: (Number(v) & 1) === 1 }),
    endianness: 'little',
  });
  // A mirror: its registers are the same AS's words in window 1 (a read or write re-entering the
  // address space that called it, whichever of the twins that is).
  const mirror = mem.io('mirror', 0x1000, {
    read: (off) => current!.read(BASES[1]! + off, 4),
    write: (off, v) => void current!.write(BASES[1]! + off, Number(v), 4),
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { minAccessSize: 4, maxAccessSize: 4 },
    endianness: 'little',
  });
  const apply = (c: Change): void => {
    const mr = regions[c.region % regions.length]!;
    if (c.what === 'move' && mr.container) mr.setAddress(c.addr);
    else if (c.what === 'enable') mr.setEnabled(c.flag);
    else if (c.what === 'remove' && mr.container) mr.container.delSubregion(mr);
    else if (c.what === 'alias-offset' && mr.alias) mr.setAliasOffset(c.addr % 0x2000);
    else if (c.what === 'readonly' && mr.isRam) mr.setReadonly(c.flag);
    else if (c.what === 'romd' && mr.isRomDevice) mr.setRomdMode(c.flag);
  };
  mem.transaction(() => {
    windows[0]!.addSubregionOverlap(SPAN - 0x1000, bell, 2);
    windows[0]!.addSubregionOverlap(SPAN - 0x2000, mirror, 2);
    spec.regions.forEach((r, i) => {
      const name = `r${i}`;
      let mr: MemoryRegion;
      const target = regions.length ? regions[r.target % regions.length]! : undefined;
      if (r.kind === 'alias' && target) mr = mem.alias(name, target, r.aliasOffset, r.size);
      else if (r.kind === 'ram' || r.kind === 'rom' || r.kind === 'ramd') {
        mr =
          r.kind === 'ram'
            ? mem.ram(name, r.size)
            : r.kind === 'rom'
              ? mem.rom(name, r.size)
              : mem.ramDevice(name, r.size, new RamBlock(r.size, 64)); // chunks of 64 bytes: the window moves
        const block = (mr.ramBlock ?? mr.ramDeviceBacking)!;
        for (let k = 0; k < r.size; k++) block.write(k, (k * 3 + i * 29) & 0xff, 1);
      } else if (r.kind === 'romd') {
        mr = mem.romDevice(name, r.size, registers(r.size, i, false));
        for (let k = 0; k < r.size; k++) mr.ramBlock!.write(k, (k * 5 + i) & 0xff, 1);
      } else if (r.kind === 'container') mr = mem.container(name, r.size);
      else mr = mem.io(name, r.size, registers(r.size, i, r.kind === 'io4'));
      const parents = [...windows, ...regions.filter((p) => !p.alias && !p.terminates)];
      const parent = parents[r.parent % parents.length]!;
      if (!reaches(mr, parent)) parent.addSubregionOverlap(r.addr, mr, r.priority);
      regions.push(mr);
    });
  });
  const fast = mem.addressSpace('fast', root);
  const slow = mem.addressSpace('slow', root);
  slow.stats = true;
  mem.setIncremental(spec.incremental);
  const listener = new MemoryListener('probe');
  listener.on('begin', () => {
    // Only the first twin's doorbell write commits (the second changes nothing): leave both results as they were.
    const [rf, rs] = [fast.result, slow.result];
    for (const base of BASES)
      for (let page = 0; page < SPAN; page += 0x1000) same(fast, slow, false, base + page + spec.probe, 4, 0, 0);
    fast.result = rf;
    slow.result = rs;
  });
  fast.addListener(listener);
  return { fast, slow, apply, bellAt: BASES[0]! + SPAN - 0x1000 };
}

/** The address space being accessed (the mirror device re-enters it). */
let current: AddressSpace | null = null;

function same(
  fast: AddressSpace,
  slow: AddressSpace,
  write: boolean,
  addr: number,
  size: number,
  value: number,
  hi: number,
) {
  const at = `${write ? 'write' : 'read'}(${addr}, ${size})`;
  if (write) {
    current = fast;
    const rf = fast.write(addr, value, size, hi);
    current = slow;
    const rs = slow.write(addr, value, size, hi);
    assert.is(rf, rs, `${at}: returned result`);
  } else {
    current = fast;
    const vf = fast.read(addr, size);
    const hf = fast.hi;
    current = slow;
    const vs = slow.read(addr, size);
    assert.is(vf, vs, `${at}: value`);
    if (size === 8) assert.is(hf, slow.hi, `${at}: high half`);
  }
  assert.is(fast.result, slow.result, `${at}: result`);
}

function run(spec: Spec): void {
  const { fast, slow, apply, bellAt } = build(spec);
  if (spec.paged) for (let k = 0; k < 64; k++) fast.read(0x1000_0000, 4);
  for (const step of spec.steps) {
    if ('change' in step) {
      apply(step.change);
      continue;
    }
    if ('toggleStats' in step) {
      fast.stats = !fast.stats;
      continue;
    }
    if ('bytes' in step) {
      const b = step.bytes;
      const addr = BASES[b.base % BASES.length]! + b.off;
      const data = Uint8Array.from({ length: b.length }, (_, i) => (i * 11 + b.off) & 0xff);
      current = fast;
      const rf = b.write ? fast.writeBytes(addr, data) : fast.readInto(addr, data);
      const got = data.slice();
      current = slow;
      const rs = b.write ? slow.writeBytes(addr, data) : slow.readInto(addr, data);
      assert.is(rf, rs, `bytes at ${addr}: result`);
      assert.equal(got, data, `bytes at ${addr}`);
      assert.is(fast.result, slow.result, `bytes at ${addr}: result after`);
      continue;
    }
    const a = step.access;
    let addr = BASES[a.base % BASES.length]! + a.off + a.odd;
    for (let k = 0; k < a.repeat; k++, addr += a.size) {
      same(fast, slow, a.write, addr, a.size, (a.value + k) >>> 0, a.hi);
      // Ring the doorbell now and then, through the fast path first: a commit from inside a callback.
      if (a.value % 7 === 0) same(fast, slow, true, bellAt + (a.hi & 7), a.size, a.value >>> 8, 0);
    }
  }
}

test('a fast-path address space answers as its stats-on twin over random trees, commits and accesses', () => {
  fc.assert(fc.property(specArb, run), { numRuns: 400, seed: Number(process.env.VDM_SEED ?? 20261130) });
});

test.run();
