// One DMA benchmark case in its own process: a device doing 1,500-byte DMA reads and writes through
// the simulated host's IOMMU (FunctionHardware.dmaReadInto/dmaWrite), against a bare typed-array
// `set` of the same 1,500 bytes of the same memory, and against the path vdm had before (per-4 KiB
// bigint translate, pieces as objects, a new array per read), kept below as a reference. Every
// strategy runs the same stream of IOVAs; their answers are checksummed and must agree.
// Usage (bundled by dma.ts): node dma-child.mjs '{"case":"type1-100","ms":30,"rounds":5,"hosts":"machines/hosts/"}'
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RamBlock } from '../../src/common/ram-block.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { SimHost, VfioKernel, type FunctionHardware } from '../../src/host/index.ts';
import { rng } from './rng.ts';

export const DMA_CASES = ['type1-1', 'type1-100', 'type1-10000', 'spapr-tce'] as const;
export type DmaCase = (typeof DMA_CASES)[number];
export const DMA_STRATEGIES = ['set', 'vdm', 'before'] as const;
export type DmaStrategy = (typeof DMA_STRATEGIES)[number];

export interface DmaChildArgs {
  case: DmaCase;
  ms: number;
  rounds: number;
  /** machines/hosts/ (the bundle does not know where the repository is). */
  hosts: string;
}

export interface DmaChildResult {
  case: DmaCase;
  mappings: number;
  setupMs: number;
  rows: { op: 'read' | 'write'; ns: Record<DmaStrategy, number[]>; checksum: number }[];
}

const PACKET = 1500;
const STREAM = 256;
const VA = 0x7f0000000000n;
const MEMORY = 0x100000; // 1 MiB of process memory behind every mapping
const MAPPING = 0x10000; // type1 mappings of 64 KiB, aliasing the 16 64-KiB pieces of that memory
const RW = U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE;

/** A device with bus mastering on, its IOMMU mapped as the case says; the IOVA stream and where each lands. */
function setUp(c: DmaCase, hosts: string) {
  const spapr = c === 'spapr-tce';
  const host = SimHost.load(`${hosts}${spapr ? 'power9-64k' : 'x86-4k-ir'}.json`);
  const k = new VfioKernel(host);
  const container = k.openContainer();
  const group = k.openGroup(k.groupOf('0000:01:00.0'));
  group.setContainer(container);
  container.setIommu(spapr ? U.VFIO_SPAPR_TCE_v2_IOMMU : U.VFIO_TYPE1v2_IOMMU);
  const dev = group.getDeviceFd('0000:01:00.0');
  dev.write(U.VFIO_PCI_CONFIG_REGION_INDEX, 4, 0x6, 2); // COMMAND: MEMORY | MASTER
  const memory = new RamBlock(MEMORY);
  memory.writeBytes(
    0,
    Uint8Array.from({ length: MEMORY }, (_, i) => Math.imul(i + 1, 2654435761) >>> 24),
  );
  k.userMemory.map(VA, memory);
  const random = rng(12);
  const iovas: number[] = [];
  const offsets: number[] = []; // where each DMA lands in `memory`
  let mappings: number;
  if (spapr) {
    // The 32-bit window with 4 KiB TCEs (created on first use), 256 TCEs over the 1 MiB.
    container.spaprRegisterMemory(VA, BigInt(MEMORY));
    container.mapDma({ iova: 0n, size: BigInt(MEMORY), vaddr: VA, flags: RW });
    mappings = MEMORY / 0x1000;
    for (let i = 0; i < STREAM; i++) {
      const at = Math.floor(random() * (MEMORY - PACKET));
      iovas.push(at);
      offsets.push(at);
    }
  } else {
    mappings = Number(c.slice('type1-'.length));
    const base = 0x100000000; // 4 GiB up: inside the aperture, clear of reserved ranges
    for (let i = 0; i < mappings; i++)
      container.mapDma({
        iova: BigInt(base + i * MAPPING),
        size: BigInt(MAPPING),
        vaddr: VA + BigInt((i % (MEMORY / MAPPING)) * MAPPING),
        flags: RW,
      });
    for (let i = 0; i < STREAM; i++) {
      const m = Math.floor(random() * mappings);
      const inMap = Math.floor(random() * (MAPPING - PACKET));
      iovas.push(base + m * MAPPING + inMap);
      offsets.push((m % (MEMORY / MAPPING)) * MAPPING + inMap);
    }
  }
  return { hw: dev.hw, memory, iovas, offsets, mappings };
}

// ---- the path before: kept as it was, to measure it in the same run ----

function beforeTranslateAll(hw: FunctionHardware, iova: bigint, length: number, isWrite: boolean) {
  const pieces = [];
  let i = 0;
  while (i < length) {
    const at = iova + BigInt(i);
    const va = hw.dma?.translate(at, isWrite) ?? null;
    const piece = va === null ? null : hw.dma!.memory.piece(va, Math.min(length - i, 0x1000 - Number(at & 0xfffn)));
    if (!piece) return null;
    pieces.push({ i, ...piece });
    i += piece.length;
  }
  return pieces;
}

function beforeRead(hw: FunctionHardware, iova: bigint, length: number): Uint8Array | null {
  if (!hw.busMaster) return null;
  const pieces = beforeTranslateAll(hw, iova, length, false);
  if (!pieces) return null;
  const out = new Uint8Array(length);
  for (const p of pieces) p.block.readInto(p.at, out, p.i, p.length);
  return out;
}

function beforeWrite(hw: FunctionHardware, iova: bigint, bytes: Uint8Array): boolean {
  if (!hw.busMaster) return false;
  const pieces = beforeTranslateAll(hw, iova, bytes.length, true);
  if (!pieces) return false;
  for (const p of pieces) p.block.writeBytes(p.at, bytes.subarray(p.i, p.i + p.length));
  return true;
}

// ---- the strategies: one pass over the stream each ----

/** One pass over the stream; `seen`, when given, gets every packet read (the cross-check, never timed). */
type Pass = (seen?: (packet: Uint8Array) => void) => number;

function passes(s: ReturnType<typeof setUp>, op: 'read' | 'write'): Record<DmaStrategy, Pass> {
  const { hw, memory, iovas, offsets } = s;
  const bigIovas = iovas.map(BigInt);
  const ram = memory.chunk(0, true)!; // the bare typed array behind the process memory
  const buf = new Uint8Array(PACKET);
  const packet = Uint8Array.from({ length: PACKET }, (_, i) => (i * 7 + 3) & 0xff);
  if (op === 'read')
    return {
      set: (seen) => {
        let sum = 0;
        for (let i = 0; i < STREAM; i++) {
          const o = offsets[i]!;
          buf.set(ram.subarray(o, o + PACKET));
          sum += buf[i]!;
          seen?.(buf);
        }
        return sum;
      },
      vdm: (seen) => {
        let sum = 0;
        for (let i = 0; i < STREAM; i++) {
          if (!hw.dmaReadInto(iovas[i]!, buf, 0, PACKET)) throw new Error('vdm: DMA read faulted');
          sum += buf[i]!;
          seen?.(buf);
        }
        return sum;
      },
      before: (seen) => {
        let sum = 0;
        for (let i = 0; i < STREAM; i++) {
          const out = beforeRead(hw, bigIovas[i]!, PACKET);
          if (!out) throw new Error('before: DMA read faulted');
          sum += out[i]!;
          seen?.(out);
        }
        return sum;
      },
    };
  return {
    set: () => {
      for (let i = 0; i < STREAM; i++) ram.set(packet, offsets[i]!);
      return ram[offsets[0]!]!;
    },
    vdm: () => {
      for (let i = 0; i < STREAM; i++) if (!hw.dmaWrite(iovas[i]!, packet)) throw new Error('vdm: DMA write faulted');
      return ram[offsets[0]!]!;
    },
    before: () => {
      for (let i = 0; i < STREAM; i++)
        if (!beforeWrite(hw, bigIovas[i]!, packet)) throw new Error('before: DMA write faulted');
      return ram[offsets[0]!]!;
    },
  };
}

/** A hash of what a strategy's pass moved: every byte of every packet read, or the whole memory after the writes. */
function checksum(s: ReturnType<typeof setUp>, op: 'read' | 'write', pass: Pass): number {
  let h = 0;
  const hash = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  };
  if (op === 'read') pass(hash);
  else {
    s.memory.fill(0);
    pass();
    hash(s.memory.readBytes(0, MEMORY));
  }
  return h;
}

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/** ns per DMA of `pass`, repeated for at least `ms` of CPU time. */
function time(pass: Pass, ms: number): number {
  const t0 = cpuNs();
  let n = 0;
  let t = t0;
  do {
    pass();
    n += STREAM;
    t = cpuNs();
  } while (t - t0 < ms * 1e6);
  return (t - t0) / n;
}

/** One case: the strategies cross-checked on the stream (a disagreement throws), then timed in rotated rounds. */
export function measure({ case: c, ms, rounds, hosts }: DmaChildArgs): DmaChildResult {
  const t0 = performance.now();
  const s = setUp(c, hosts);
  const setupMs = performance.now() - t0;
  const rows: DmaChildResult['rows'] = [];
  for (const op of ['read', 'write'] as const) {
    const p = passes(s, op);
    const sums = DMA_STRATEGIES.map((k) => checksum(s, op, p[k]));
    if (sums.some((x) => x !== sums[0]))
      throw new Error(
        `${c} ${op}: the strategies disagree (checksums ${DMA_STRATEGIES.map((k, i) => `${k} ${sums[i]}`)})`,
      );
    for (const k of DMA_STRATEGIES) time(p[k], ms / 2); // warm up every strategy before any is timed
    const ns = { set: [], vdm: [], before: [] } as Record<DmaStrategy, number[]>;
    // Rotated order: each strategy runs first, middle and last in turn, so none owns a position.
    for (let r = 0; r < rounds; r++)
      for (let j = 0; j < DMA_STRATEGIES.length; j++) {
        const k = DMA_STRATEGIES[(r + j) % DMA_STRATEGIES.length]!;
        ns[k].push(time(p[k], ms));
      }
    rows.push({ op, ns, checksum: sums[0]! });
  }
  return { case: c, mappings: s.mappings, setupMs, rows };
}

// Run as a process (not imported for DMA_CASES): Node resolves the main module's symlinks, so its
// URL is compared with the real path of what was run.
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1]);
  } catch {
    return false; // argv[1] is no file (node -e): imported, not run
  }
}
if (isMain()) console.log(JSON.stringify(measure(JSON.parse(process.argv[2]!) as DmaChildArgs)));
