// Device DMA through the IOMMU (FunctionHardware.dmaRead/dmaReadInto/dmaWrite): whole pieces copied
// per IOMMU run, checked byte by byte against a reference that translates every byte on its own
// with the backend's bigint translate (drivers/vfio/vfio_iommu_type1.c:vfio_find_dma per byte) and
// the process memory's piece. A DMA that faults anywhere copies nothing and records the first byte
// that did not translate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import type { SpaprTceIommu } from '../../src/host/index.ts';
import { loadHost, open } from './helpers.ts';

const SEED = Number(process.env.VDM_SEED ?? 20261130);
const R = U.VFIO_DMA_MAP_FLAG_READ;
const W = U.VFIO_DMA_MAP_FLAG_WRITE;
const VA = 0x7f0000000000n;
const PAGE = 0x1000;

/** Bytes with no short period, so a piece copied from the wrong offset shows. */
const noise = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => Math.imul(i + seed + 1, 2654435761) >>> 24);

/**
 * A type1 v2 device with bus mastering on and `blocks` 4-page blocks of process memory `stride`
 * pages apart from VA (stride 4: back to back, one contiguous range of separate blocks).
 */
function rig(blocks = 3, stride = 16) {
  const { k, c, dev } = open(loadHost('x86-4k-ir'), '0000:01:00.0', U.VFIO_TYPE1v2_IOMMU);
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, 0x6, 2); // COMMAND: MEMORY | MASTER
  const ram = [...Array(blocks).keys()].map((i) => {
    const b = new RamBlock(4 * PAGE);
    for (let j = 0; j < b.size; j++) b.writeByte(j, (i * 64 + j * 7) & 0xff);
    k.userMemory.map(VA + BigInt(i * stride * PAGE), b);
    return b;
  });
  return { k, c, hw: dev.hw, ram };
}

/** The reference: each byte translated and looked up on its own. Null where a byte faults. */
function reference(r: ReturnType<typeof rig>, iova: bigint, length: number, isWrite: boolean) {
  const where: { block: RamBlock; at: number }[] = [];
  for (let i = 0; i < length; i++) {
    const va = r.c.iommu!.translate(iova + BigInt(i), isWrite);
    const piece = va === null ? null : r.k.userMemory.piece(va, 1);
    if (!piece) return { where: null, fault: iova + BigInt(i) };
    where.push({ block: piece.block, at: piece.at });
  }
  return { where, fault: null };
}

const snapshot = (ram: RamBlock[]) => ram.map((b) => b.readBytes(0, b.size));

test('a DMA straddling two mappings backed by different blocks reads and writes the right bytes on each side', () => {
  const r = rig();
  // IOVA 0x10000-0x11fff -> block 0 pages 2-3; 0x12000-0x12fff -> block 2 page 1 (not contiguous in the process).
  r.c.mapDma({ iova: 0x10000n, size: 0x2000n, vaddr: VA + 0x2000n, flags: R | W });
  r.c.mapDma({ iova: 0x12000n, size: 0x1000n, vaddr: VA + BigInt(32 * PAGE + PAGE), flags: R | W });
  const got = r.hw.dmaRead(0x11f00n, 0x200)!;
  const want = new Uint8Array([...r.ram[0]!.readBytes(0x3f00, 0x100), ...r.ram[2]!.readBytes(0x1000, 0x100)]);
  assert.equal(got, want);
  const bytes = noise(0x200, 1);
  assert.ok(r.hw.dmaWrite(0x11f00, bytes), 'a number IOVA is the same DMA');
  assert.equal(r.ram[0]!.readBytes(0x3f00, 0x100), bytes.subarray(0, 0x100));
  assert.equal(r.ram[2]!.readBytes(0x1000, 0x100), bytes.subarray(0x100));
  const into = new Uint8Array(0x300).fill(0xee);
  assert.ok(r.hw.dmaReadInto(0x11f00n, into, 0x80, 0x200));
  assert.equal(into.subarray(0x80, 0x280), bytes);
  assert.ok(into.subarray(0, 0x80).every((b) => b === 0xee) && into.subarray(0x280).every((b) => b === 0xee));
});

test('a fault in the middle of a DMA writes nothing, leaves the read buffer alone and names the first bad byte', () => {
  const r = rig();
  r.c.mapDma({ iova: 0x10000n, size: 0x1000n, vaddr: VA, flags: R | W });
  // 0x11000-0x11fff unmapped
  r.c.mapDma({ iova: 0x12000n, size: 0x1000n, vaddr: VA + 0x1000n, flags: R | W });
  const before = snapshot(r.ram);
  assert.is(r.hw.dmaWrite(0x10800n, new Uint8Array(0x2000).fill(0xaa)), false);
  assert.equal(snapshot(r.ram), before, 'not even the bytes before the hole');
  assert.equal(r.hw.dmaFaults.at(-1), { iova: 0x11000n, write: true });
  const into = new Uint8Array(0x2000).fill(0x55);
  assert.is(r.hw.dmaReadInto(0x10800n, into), false);
  assert.ok(
    into.every((b) => b === 0x55),
    'the caller buffer is untouched',
  );
  assert.equal(r.hw.dmaFaults.at(-1), { iova: 0x11000n, write: false });
  // A read-only mapping in the middle refuses the write the same way.
  r.c.mapDma({ iova: 0x11000n, size: 0x1000n, vaddr: VA + 0x2000n, flags: R });
  assert.is(r.hw.dmaWrite(0x10800n, new Uint8Array(0x2000).fill(0xaa)), false);
  assert.equal(snapshot(r.ram), before);
  assert.equal(r.hw.dmaFaults.at(-1), { iova: 0x11000n, write: true });
  assert.ok(r.hw.dmaRead(0x10800n, 0x2000), 'and lets the read through');
  // A mapping that runs past the process memory behind it faults where the memory ends.
  r.c.mapDma({ iova: 0x20000n, size: 0x2000n, vaddr: VA + BigInt(3 * PAGE), flags: R | W });
  assert.is(r.hw.dmaRead(0x20f00n, 0x200), null);
  assert.equal(r.hw.dmaFaults.at(-1), { iova: 0x21000n, write: false });
});

test('without COMMAND.MASTER no DMA leaves the device: blocked and counted, no IOMMU fault, buffers untouched', () => {
  const r = rig();
  r.c.mapDma({ iova: 0x10000n, size: 0x1000n, vaddr: VA, flags: R | W });
  r.hw.config.bytes[4] = 0x2; // COMMAND: MEMORY only
  const before = snapshot(r.ram);
  const into = new Uint8Array(16).fill(0x55);
  assert.is(r.hw.dmaReadInto(0x10000, into), false);
  assert.is(r.hw.dmaRead(0x10000n, 16), null);
  assert.is(r.hw.dmaWrite(0x10000n, new Uint8Array(16)), false);
  assert.is(r.hw.dmaBlocked, 3);
  assert.equal(r.hw.dmaFaults, []);
  assert.ok(into.every((b) => b === 0x55));
  assert.equal(snapshot(r.ram), before);
});

test('random DMAs over random mappings copy exactly what the per-byte reference says, or nothing', () => {
  const mapping = fc.record({
    page: fc.integer({ min: 0, max: 24 }),
    pages: fc.integer({ min: 1, max: 4 }),
    vaddrPage: fc.integer({ min: 0, max: 34 }),
    prot: fc.constantFrom(R, W, R | W),
  });
  const dma = fc.record({
    page: fc.integer({ min: 0, max: 26 }),
    offset: fc.constantFrom(0, 1, 0x7ff, 0xf00, 0xfff),
    length: fc.constantFrom(0, 1, 16, 1500, 0x1000, 0x1001, 0x2345),
    write: fc.boolean(),
    number: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(mapping, { maxLength: 12 }), fc.array(dma, { minLength: 1, maxLength: 12 }), (maps, dmas) => {
      const r = rig(8, 4); // 32 pages of process memory in 8 blocks, then nothing
      for (const m of maps) {
        try {
          r.c.mapDma({
            iova: BigInt(m.page * PAGE),
            size: BigInt(m.pages * PAGE),
            vaddr: VA + BigInt(m.vaddrPage * PAGE),
            flags: m.prot,
          });
        } catch {
          // overlaps are refused
        }
      }
      for (const d of dmas) {
        const at = BigInt(d.page * PAGE + d.offset);
        const iova = d.number ? Number(at) : at;
        const ref = reference(r, at, d.length, d.write);
        const faults = r.hw.dmaFaults.length;
        const before = snapshot(r.ram);
        if (d.write) {
          const bytes = noise(d.length, d.page);
          const ok = r.hw.dmaWrite(iova, bytes);
          assert.is(ok, ref.where !== null);
          if (ref.where)
            ref.where.forEach((w, i) => assert.is(w.block.readByte(w.at), bytes[i], `byte ${i} of the write`));
          else assert.equal(snapshot(r.ram), before, 'a faulting write changes nothing');
        } else {
          const got = r.hw.dmaRead(iova, d.length);
          if (ref.where)
            assert.equal(
              got,
              Uint8Array.from(ref.where, (w) => w.block.readByte(w.at)),
            );
          else assert.is(got, null);
        }
        if (ref.fault === null) assert.is(r.hw.dmaFaults.length, faults);
        else assert.equal(r.hw.dmaFaults.at(-1), { iova: ref.fault, write: d.write });
      }
    }),
    { numRuns: 200, seed: SEED },
  );
});

test('DMA at bus addresses past 2^52 (the sPAPR DDW at 1<<59) takes the bigint path with the same result', () => {
  const DDW = 1n << 59n;
  const { k, c, dev } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, 0x6, 2);
  const ram = new RamBlock(0x40000);
  k.userMemory.map(VA, ram);
  c.spaprRegisterMemory(VA, 0x40000n);
  c.spaprTceRemove(0n); // cancels the pending default window
  assert.is(c.spaprTceCreate({ pageShift: 16, windowSize: 0x100000000n, levels: 1 }), 0n);
  assert.is(c.spaprTceCreate({ pageShift: 16, windowSize: 0x100000000n, levels: 1 }), DDW);
  // Two TCEs in reverse order: bus page 0 -> process page 1, bus page 1 -> process page 0.
  c.mapDma({ iova: DDW, size: 0x10000n, vaddr: VA + 0x10000n, flags: R | W });
  c.mapDma({ iova: DDW + 0x10000n, size: 0x10000n, vaddr: VA, flags: R | W });
  const bytes = Uint8Array.from({ length: 0x200 }, (_, i) => i & 0xff);
  assert.ok(dev.hw.dmaWrite(DDW + 0xff00n, bytes));
  assert.equal(ram.readBytes(0x1ff00, 0x100), bytes.subarray(0, 0x100));
  assert.equal(ram.readBytes(0, 0x100), bytes.subarray(0x100));
  assert.equal(dev.hw.dmaRead(DDW + 0xff00n, 0x200), bytes);
  assert.is(dev.hw.dmaRead(DDW + 0x1ff00n, 0x200), null);
  assert.equal(dev.hw.dmaFaults.at(-1), { iova: DDW + 0x20000n, write: false });
  // An EEH-frozen PE blocks DMA in both windows.
  const spapr = c.iommu as SpaprTceIommu;
  spapr.eehPeOp(U.VFIO_EEH_PE_INJECT_ERR);
  c.mapDma({ iova: 0n, size: 0x10000n, vaddr: VA, flags: R | W });
  assert.is(dev.hw.dmaRead(0n, 16), null);
  assert.is(dev.hw.dmaRead(DDW, 16), null);
  spapr.eehPeOp(U.VFIO_EEH_PE_UNFREEZE_DMA);
  assert.equal(dev.hw.dmaRead(DDW + 0x10000n, 16), ram.readBytes(0, 16));
  assert.equal(dev.hw.dmaRead(0n, 16), ram.readBytes(0, 16));
});

test.run();
