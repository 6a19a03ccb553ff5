// Address streams of the access benchmark and the loop each strategy runs over them. Every stream
// carries, per access, the guest address (what vdm and v86 are given) and what a direct call needs
// (handler index and offset, or the RAM word index for a bare typed array).
import { MMIO_BASE, RAM_BASE, RAM_SIZE, WIDE_RAM, type Layout } from './access-layout.ts';
import type { NicTrace } from './nic-trace.ts';
import { rng } from './rng.ts';

export const STREAM = 1 << 16;
export const STREAMS = [
  'mmio-seq',
  'mmio-rand',
  'ram-seq',
  'ram-rand',
  'ram-wide',
  'mixed',
  'mmio8-seq',
  'nic-trace',
] as const;
export type StreamName = (typeof STREAMS)[number];
/** `rw`: the loads and stores of a recorded trace, in its order, with its values. */
export type Op = 'read' | 'write' | 'rw';

/** What is timed of each stream: reads and writes of every address, or the trace as recorded. */
export function opsOf(stream: StreamName): Op[] {
  return stream === 'nic-trace' ? ['rw'] : ['read', 'write'];
}
export const ACCESS_STRATEGIES = ['direct', 'vdm', 'v86'] as const;
export type AccessStrategy = (typeof ACCESS_STRATEGIES)[number];

export interface Stream {
  /** Guest address. */
  A: Float64Array;
  /** Handler index, or -1 for RAM. */
  H: Int32Array;
  /** Offset in the handler's region, or the RAM word index. */
  O: Float64Array;
  /** `rw` streams: 1 where the access is a store, and the value it stores. */
  K: Uint8Array;
  V: Float64Array;
}

/** Dwords touched in each region by a sequential walk: a register block, then the next device. */
const SEQ_DWORDS = 64;

/** Streams of the benchmark; `nic-trace` needs the recorded trace. */
export function makeStream(l: Layout, name: StreamName, trace?: NicTrace): Stream {
  const rand = rng(name.length * 7919 + l.n);
  const A = new Float64Array(STREAM);
  const H = new Int32Array(STREAM);
  const O = new Float64Array(STREAM);
  const K = new Uint8Array(name === 'nic-trace' ? STREAM : 0);
  const V = new Float64Array(K.length);
  const mmio = (i: number, k: number, off: number) => {
    A[i] = MMIO_BASE + k * l.stride + off;
    H[i] = k;
    O[i] = off;
  };
  const ram = (i: number, word: number) => {
    A[i] = RAM_BASE + word * 4;
    H[i] = -1;
    O[i] = word;
  };
  for (let i = 0; i < STREAM; i++) {
    switch (name) {
      case 'mmio-seq':
        mmio(i, Math.floor(i / SEQ_DWORDS) % l.n, (i % SEQ_DWORDS) * 4);
        break;
      case 'mmio8-seq':
        mmio(i, Math.floor(i / (SEQ_DWORDS / 2)) % l.n, (i % (SEQ_DWORDS / 2)) * 8);
        break;
      case 'mmio-rand':
        mmio(i, Math.floor(rand() * l.n), Math.floor(rand() * 1024) * 4);
        break;
      case 'ram-seq':
        ram(i, i);
        break;
      case 'ram-rand':
        ram(i, Math.floor(rand() * (RAM_SIZE / 4)));
        break;
      case 'ram-wide': // random dwords of 240 MiB, as a guest's buffers are spread over its RAM
        ram(i, Math.floor(rand() * (WIDE_RAM / 4)));
        break;
      case 'mixed': // a driver: mostly descriptors and buffers in RAM, a register access in four
        if (rand() < 0.25) mmio(i, Math.floor(rand() * l.n), Math.floor(rand() * SEQ_DWORDS) * 4);
        else ram(i, Math.floor(rand() * (RAM_SIZE / 4)));
        break;
      case 'nic-trace': {
        if (!trace || trace.page.length < STREAM) throw new Error('nic-trace: no recorded trace of the stream length');
        // Mapped onto this machine, order, sizes and values kept: a RAM offset to the same offset of
        // the benchmark's RAM; the NIC's j-th BAR page (MSI-X table, registers, doorbell, in the order
        // the driver first touched them) to region base + j, the same offset in it. base is a multiple
        // of four in the middle of the map, so the handlers are a register file, the read-to-clear
        // status and the doorbell, as the real pages' are.
        if (trace.size[i] !== 4)
          throw new Error(`nic-trace: access ${i} is ${trace.size[i]} bytes; the stream is 4-byte`);
        const page = trace.page[i]!;
        if (page < 0) ram(i, Math.floor((trace.offset[i]! % RAM_SIZE) / 4));
        else mmio(i, (4 * Math.floor(l.n / 8) + page) % l.n, trace.offset[i]!);
        K[i] = trace.write[i]!;
        V[i] = trace.value[i]!;
        break;
      }
    }
  }
  return { A, H, O, K, V };
}

/** Which streams a strategy can run at this size (v86 maps at most 32,768 blocks, 4-byte accesses). */
export function runs(strategy: AccessStrategy, stream: StreamName, n: number): boolean {
  if (strategy !== 'v86') return true;
  return n <= 10000 && stream !== 'mmio8-seq';
}

/**
 * The body each strategy runs per access. direct: the handler called with its offset, RAM as a
 * bare Uint32Array; vdm: AddressSpace.read/write; v86: its JS MMIO dispatch (mmap_read32) for MMIO
 * streams and its wasm read32s/write32 (which route MMIO back to that dispatch) for RAM, mixed and
 * the trace.
 */
export function body(strategy: AccessStrategy, stream: StreamName, op: Op): string {
  if (op === 'rw') {
    // A recorded trace: 4-byte loads and stores to RAM and registers, in the recorded order.
    if (strategy === 'direct')
      return (
        '{ const h = H[i]; if (K[i]) { if (h < 0) M[O[i]] = V[i]; else W[h](O[i], V[i], 4); } ' +
        'else s = (s + (h < 0 ? M[O[i]] : R[h](O[i], 4))) | 0; }'
      );
    if (strategy === 'vdm') return 'if (K[i]) as.write(A[i], V[i], 4); else s = (s + as.read(A[i], 4)) | 0;';
    return 'if (K[i]) cpu.write32(A[i], V[i]); else s = (s + cpu.read32s(A[i])) | 0;';
  }
  const w8 = stream === 'mmio8-seq';
  const ramOnly = stream.startsWith('ram');
  const mmioOnly = stream.startsWith('mmio');
  if (strategy === 'direct') {
    const call =
      op === 'read'
        ? w8
          ? '(R[h](O[i], 4) ^ R[h](O[i] + 4, 4))'
          : 'R[h](O[i], 4)'
        : w8
          ? '(W[h](O[i], i, 4), W[h](O[i] + 4, i, 4))'
          : 'W[h](O[i], i, 4)';
    const mem = op === 'read' ? 'M[O[i]]' : '(M[O[i]] = i)';
    if (ramOnly) return op === 'read' ? `s = (s + ${mem}) | 0;` : `${mem};`;
    if (mmioOnly) return op === 'read' ? `{ const h = H[i]; s = (s + ${call}) | 0; }` : `{ const h = H[i]; ${call}; }`;
    return op === 'read'
      ? `{ const h = H[i]; s = (s + (h < 0 ? ${mem} : ${call})) | 0; }`
      : `{ const h = H[i]; if (h < 0) ${mem}; else ${call}; }`;
  }
  if (strategy === 'vdm') {
    if (w8) return op === 'read' ? 's = (s + (as.read(A[i], 8) ^ as.hi)) | 0;' : 'as.write(A[i], i, 8, i);';
    return op === 'read' ? 's = (s + as.read(A[i], 4)) | 0;' : 'as.write(A[i], i, 4);';
  }
  if (mmioOnly) return op === 'read' ? 's = (s + cpu.mmap_read32(A[i])) | 0;' : 'cpu.mmap_write32(A[i], i);';
  return op === 'read' ? 's = (s + cpu.read32s(A[i])) | 0;' : 'cpu.write32(A[i], i);';
}
