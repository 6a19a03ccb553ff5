// The DMA path's translateRun (numbers, a sorted index, a last-hit check) against the slow,
// obviously correct reference: each backend's bigint translate (type1: a linear scan of its
// vfio_dma list) and a run length worked out here from the backend's own state. Random MAP/UNMAP
// sequences with the kernel's rules (drivers/vfio/vfio_iommu_type1.c:vfio_dma_do_map,
// vfio_dma_do_unmap with its v1/v2 split and VFIO_DMA_UNMAP_FLAG_VADDR, iommu_dma_prepare_msi;
// vfio_iommu_spapr_tce.c:tce_iommu_map_dma, vfio_spapr_eeh.c; the PAMU's subwindows), probed at
// and around every boundary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { RamBlock } from '../../src/memory/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { RUN_BIGINT, RUN_FAULT, RUN_OK, type DmaRun, type IommuBackend } from '../../src/host/kernel/iommu-backend.ts';
import type { PamuIommu, SpaprTceIommu, Type1Iommu, VfioError } from '../../src/host/index.ts';
import { loadHost, open } from './helpers.ts';

const SEED = Number(process.env.VDM_SEED ?? 20261130);
const LIMIT = 1n << 53n;
const R = U.VFIO_DMA_MAP_FLAG_READ;
const W = U.VFIO_DMA_MAP_FLAG_WRITE;

type Expected = { kind: 'fault' } | { kind: 'bigint' } | { kind: 'ok'; vaddr: bigint; length: bigint };

/** Runs every probe both ways through translateRun and compares with `reference`. */
function agree(iommu: IommuBackend, probes: bigint[], reference: (iova: bigint, isWrite: boolean) => Expected) {
  const run: DmaRun = { vaddr: -1, length: -1 };
  for (const iova of probes) {
    if (iova < 0n || iova >= LIMIT) continue;
    for (const isWrite of [false, true]) {
      const want = reference(iova, isWrite);
      const got = iommu.translateRun(Number(iova), isWrite, run);
      const where = `${isWrite ? 'write' : 'read'} at 0x${iova.toString(16)}`;
      if (want.kind === 'fault') assert.is(got, RUN_FAULT, `${where}: the reference faults`);
      else if (want.kind === 'bigint') assert.is(got, RUN_BIGINT, `${where}: the address needs a bigint`);
      else {
        assert.is(got, RUN_OK, `${where}: the reference translates`);
        assert.is(run.vaddr, Number(want.vaddr), `${where}: process address`);
        assert.is(run.length, Number(want.length), `${where}: run length`);
      }
    }
  }
}

/** Addresses at and either side of each boundary, and a few inside. */
function around(edges: bigint[]): bigint[] {
  return edges.flatMap((e) => [e - 1n, e, e + 1n, e + 0x7ffn, e + 0xfffn]);
}

// ---- type1 ----

interface Type1Op {
  op: 'map' | 'unmap' | 'unmapVaddr' | 'remapVaddr' | 'unmapAll' | 'msi';
  page: number;
  pages: number;
  vaddrKind: number;
  vaddrPage: number;
  prot: number;
}

const type1Op = fc.record({
  op: fc.constantFrom<Type1Op['op']>(
    'map',
    'map',
    'map',
    'unmap',
    'unmap',
    'unmapVaddr',
    'remapVaddr',
    'unmapAll',
    'msi',
  ),
  page: fc.integer({ min: 0, max: 40 }),
  pages: fc.integer({ min: 1, max: 6 }),
  vaddrKind: fc.integer({ min: 0, max: 2 }),
  vaddrPage: fc.integer({ min: 0, max: 40 }),
  prot: fc.constantFrom(R, W, R | W),
});

/** Process addresses: ordinary, straddling 2^53 (not exact as numbers), past it. */
const VADDR_BASES = [0x7f0000000000n, LIMIT - 0x40000n, 1n << 60n];

/** The slow reference: a linear scan for the mapping, and where the run ends (mapping end, next MSI page, 2^53). */
function type1Reference(t: Type1Iommu, page: bigint) {
  return (iova: bigint, isWrite: boolean): Expected => {
    const vaddr = t.translate(iova, isWrite);
    if (vaddr === null) return { kind: 'fault' };
    const msi = [...t.msiPages.values()];
    const inMsi = msi.find((io) => io <= iova && iova < io + page);
    if (inMsi !== undefined) return { kind: 'ok', vaddr, length: inMsi + page - iova };
    const m = t.mappings.find((x) => x.iova <= iova && iova < x.iova + x.size)!;
    if (m.vaddr + m.size > LIMIT) return { kind: 'bigint' };
    let end = m.iova + m.size;
    for (const io of msi) if (io > iova && io < end) end = io;
    if (end > LIMIT) end = LIMIT;
    return { kind: 'ok', vaddr, length: end - iova };
  };
}

function type1Case(hostName: string, address: string, v2: boolean, base: bigint, ops: Type1Op[]) {
  const host = loadHost(hostName);
  const { c } = open(host, address, v2 ? U.VFIO_TYPE1v2_IOMMU : U.VFIO_TYPE1_IOMMU);
  const t = c.iommu as Type1Iommu;
  const pg = t.pgsize;
  const page = BigInt(host.spec.pageSize);
  const reference = type1Reference(t, page);
  for (const o of ops) {
    const iova = base + BigInt(o.page) * pg;
    const size = BigInt(o.pages) * pg;
    const vaddr = VADDR_BASES[o.vaddrKind]! + BigInt(o.vaddrPage) * pg;
    const overlaps = t.mappings.some((m) => m.iova < iova + size && iova < m.iova + m.size);
    let refused = '';
    try {
      if (o.op === 'map') t.map({ iova, size, vaddr, flags: o.prot });
      else if (o.op === 'unmap') t.unmap({ iova, size, flags: 0 });
      else if (o.op === 'unmapVaddr') t.unmap({ iova, size, flags: U.VFIO_DMA_UNMAP_FLAG_VADDR });
      else if (o.op === 'remapVaddr') t.map({ iova, size, vaddr, flags: U.VFIO_DMA_MAP_FLAG_VADDR });
      else if (o.op === 'unmapAll') t.unmap({ iova: 0n, size: 0n, flags: U.VFIO_DMA_UNMAP_FLAG_ALL });
      else t.msiAddress(host.spec.msi.doorbell + BigInt(o.page) * page);
    } catch (e) {
      refused = (e as VfioError).code; // a refused call leaves the state as it was; the probes still run
    }
    if (o.op === 'map') assert.is(refused === 'EEXIST', overlaps, 'MAP_DMA refuses exactly the overlapping ranges');
    const sorted = t.mappings.every((m, i) => i === 0 || t.mappings[i - 1]!.iova + t.mappings[i - 1]!.size <= m.iova);
    assert.ok(sorted, 'the mappings stay sorted by IOVA and disjoint');
    const edges = [
      ...t.mappings.flatMap((m) => [m.iova, m.iova + m.size, m.iova + m.size / 2n]),
      ...[...t.msiPages.values()].flatMap((io) => [io, io + page]),
      iova,
      iova + size,
    ];
    agree(t, around(edges), reference);
  }
}

test('type1 (v1 and v2, x86 4K pages): translateRun agrees with the linear reference after every MAP/UNMAP', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.constantFrom(0n, 0xffff00000000n),
      fc.array(type1Op, { maxLength: 30 }),
      (v2, b, ops) => type1Case('x86-4k-ir', '0000:01:00.0', v2, b, ops),
    ),
    { numRuns: 150, seed: SEED },
  );
});

test('type1 with SW_MSI pages (arm64 SMMUv3, 64K pages): MSI pages translate first, runs stop before them', () => {
  fc.assert(
    fc.property(fc.constantFrom(0x7e00000n, 0x8100000n, 0n), fc.array(type1Op, { maxLength: 30 }), (b, ops) =>
      type1Case('arm64-64k-its', '0000:01:00.0', true, b, ops),
    ),
    { numRuns: 100, seed: SEED },
  );
});

// ---- sPAPR TCE ----

interface TceOp {
  op: 'map' | 'unmap' | 'freeze' | 'unfreeze' | 'reset' | 'deactivate' | 'recreate';
  page: number;
  pages: number;
  vaddrPage: number;
  prot: number;
  shift: number;
}

const tceOp = fc.record({
  op: fc.constantFrom<TceOp['op']>(
    'map',
    'map',
    'map',
    'unmap',
    'freeze',
    'unfreeze',
    'reset',
    'deactivate',
    'recreate',
  ),
  page: fc.integer({ min: 0, max: 40 }),
  pages: fc.integer({ min: 1, max: 5 }),
  vaddrPage: fc.integer({ min: 0, max: 40 }),
  prot: fc.constantFrom(R, W, R | W),
  shift: fc.constantFrom(12, 16),
});

test('sPAPR TCE v2: translateRun agrees with translate over random TCEs, window page sizes and EEH freezes', () => {
  const VA = 0x7f0000000000n;
  fc.assert(
    fc.property(fc.array(tceOp, { maxLength: 25 }), (ops) => {
      const { k, c } = open(loadHost('power9-64k'), '0000:01:00.0', U.VFIO_SPAPR_TCE_v2_IOMMU);
      const s = c.iommu as SpaprTceIommu;
      k.userMemory.map(VA, new RamBlock(0x4000000));
      s.registerMemory(VA, 0x4000000n);
      const reference = (iova: bigint, isWrite: boolean): Expected => {
        const vaddr = s.translate(iova, isWrite);
        if (vaddr === null) return { kind: 'fault' };
        const w = s.windows.find((x) => x && iova >= x.start && iova < x.start + x.size)!;
        const page = 1n << BigInt(w.pageShift);
        return { kind: 'ok', vaddr, length: page - ((iova - w.start) % page) };
      };
      for (const o of ops) {
        const w0 = s.windows[0];
        const pg = 1n << BigInt(w0?.pageShift ?? 12);
        const iova = BigInt(o.page) * pg;
        try {
          if (o.op === 'map')
            s.map({ iova, size: BigInt(o.pages) * pg, vaddr: VA + BigInt(o.vaddrPage) * pg, flags: o.prot });
          else if (o.op === 'unmap') s.unmap({ iova, size: BigInt(o.pages) * pg, flags: 0 });
          else if (o.op === 'freeze') s.eehPeOp(U.VFIO_EEH_PE_INJECT_ERR);
          else if (o.op === 'unfreeze') s.eehPeOp(U.VFIO_EEH_PE_UNFREEZE_DMA);
          else if (o.op === 'reset') s.eehPeOp(U.VFIO_EEH_PE_RESET_HOT);
          else if (o.op === 'deactivate') s.eehPeOp(U.VFIO_EEH_PE_RESET_DEACTIVATE);
          else {
            s.removeWindow(0n);
            s.createWindow({ pageShift: o.shift, windowSize: 0x10000000n, levels: 1 });
          }
        } catch {
          // refused: state unchanged
        }
        const edges = s.windows.flatMap((w) =>
          w ? [...w.tces.keys()].flatMap((i) => [w.start + (BigInt(i) << BigInt(w.pageShift))]) : [],
        );
        agree(s, around([...edges, iova, 0n, 0x10000000n]), reference);
      }
    }),
    { numRuns: 100, seed: SEED },
  );
});

// ---- PAMU ----

interface PamuOp {
  op: 'map' | 'unmap' | 'msi' | 'geometry' | 'windows';
  window: number;
  windows: number;
  prot: number;
  vaddrWindow: number;
  log2: number;
}

const pamuOp = fc.record({
  op: fc.constantFrom<PamuOp['op']>('map', 'map', 'unmap', 'msi', 'geometry', 'windows'),
  window: fc.integer({ min: 0, max: 15 }),
  windows: fc.integer({ min: 1, max: 3 }),
  prot: fc.constantFrom(R, W, R | W),
  vaddrWindow: fc.integer({ min: 0, max: 3 }),
  log2: fc.integer({ min: 0, max: 4 }),
});

test('PAMU: translateRun agrees with translate as subwindows, geometry and window count change', () => {
  const VA = 0x70000000n;
  fc.assert(
    fc.property(fc.array(pamuOp, { maxLength: 25 }), (ops) => {
      const { k, c } = open(loadHost('e500-pamu'), '0000:01:00.0', U.VFIO_FSL_PAMU_IOMMU);
      const p = c.iommu as PamuIommu;
      k.userMemory.map(VA, new RamBlock(2 ** 32));
      const reference = (iova: bigint, isWrite: boolean): Expected => {
        const vaddr = p.translate(iova, isWrite);
        if (vaddr === null) return { kind: 'fault' };
        const sw = p.subwindowSize;
        return { kind: 'ok', vaddr, length: sw - ((iova - p.geometry.start) % sw) };
      };
      for (const o of ops) {
        const sw = p.subwindowSize;
        const iova = p.geometry.start + BigInt(o.window) * sw;
        try {
          if (o.op === 'map')
            p.map({ iova, size: BigInt(o.windows) * sw, vaddr: VA + BigInt(o.vaddrWindow) * sw, flags: o.prot });
          else if (o.op === 'unmap') p.unmap({ iova, size: BigInt(o.windows) * sw, flags: 0 });
          else if (o.op === 'msi') p.mapMsiBank(0, iova);
          else if (o.op === 'geometry') p.setGeometry(BigInt(o.window) << 28n, 0x10000000n << BigInt(o.log2 % 2));
          else p.setWindows(2 ** (o.log2 * 2));
        } catch {
          // refused: state unchanged
        }
        const s = p.subwindowSize;
        const edges = [...Array(18).keys()].map((i) => p.geometry.start + BigInt(i) * s);
        agree(p, around([...edges, p.geometry.end, p.geometry.end + 1n]), reference);
      }
    }),
    { numRuns: 100, seed: SEED },
  );
});

test.run();
