import type { MemoryRegion } from './region.ts';
import { MEMTX_DECODE_ERROR, MEMTX_OK } from './constants.ts';

/**
 * Side results of the last region access, in one reusable object so the hot path allocates
 * nothing: the high 32 bits of an 8-byte read, the MemTxResult, and whether the access was refused
 * by the region's `valid` rules (memory.c:memory_region_access_valid).
 */
export const lastAccess = { hi: 0, result: MEMTX_OK, rejected: false };

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

export function bswap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** memory.c:memory_region_access_valid, in QEMU's order: accepts, alignment, then sizes. */
export function accessValid(mr: MemoryRegion, offset: number, size: number, isWrite: boolean): boolean {
  if (mr.accepts !== null && !mr.accepts(offset, size, isWrite)) return false;
  if (!mr.validUnaligned && (offset & (size - 1)) !== 0) return false;
  if (mr.validMax === 0) return true; // "compatibility": unset max accepts every size
  return size <= mr.validMax && size >= mr.validMin;
}

/**
 * memory.c:memory_region_dispatch_read. `bigEndianOp` is the byte order of the access (MemOp); the
 * address-space path uses host order, which vdm fixes as little-endian. Returns the low 32 bits;
 * the high half of an 8-byte value is in lastAccess.hi.
 */
export function regionRead(mr: MemoryRegion, offset: number, size: number, bigEndianOp: boolean): number {
  while (mr.alias !== null) {
    offset += Number(mr.aliasOffset);
    mr = mr.alias;
  }
  lastAccess.hi = 0;
  if (!accessValid(mr, offset, size, false)) {
    lastAccess.result = MEMTX_DECODE_ERROR;
    lastAccess.rejected = true;
    return 0;
  }
  let lo = readAdjusted(mr, offset, size);
  // Set after the callbacks, which may access memory themselves (and so this object).
  lastAccess.result = MEMTX_OK;
  lastAccess.rejected = false;
  if (size > 1 && mr.bigEndian !== bigEndianOp) lo = swap(lo, size);
  return lo;
}

/** memory.c:memory_region_dispatch_write. `hi` is the upper half of an 8-byte value. */
export function regionWrite(
  mr: MemoryRegion,
  offset: number,
  lo: number,
  hi: number,
  size: number,
  bigEndianOp: boolean,
): number {
  while (mr.alias !== null) {
    offset += Number(mr.aliasOffset);
    mr = mr.alias;
  }
  if (!accessValid(mr, offset, size, true)) {
    lastAccess.rejected = true;
    return (lastAccess.result = MEMTX_DECODE_ERROR);
  }
  if (size > 1 && mr.bigEndian !== bigEndianOp) {
    lastAccess.hi = hi;
    lo = swap(lo, size);
    hi = lastAccess.hi;
  }
  writeAdjusted(mr, offset, lo, hi, size);
  lastAccess.rejected = false; // after the callbacks, as regionRead
  return (lastAccess.result = MEMTX_OK);
}

/** Byte-swaps a 2/4/8-byte value; for 8 bytes the halves travel through lastAccess.hi. */
function swap(lo: number, size: number): number {
  if (size === 2) return bswap16(lo);
  if (size === 4) return bswap32(lo);
  const newLo = bswap32(lastAccess.hi);
  lastAccess.hi = bswap32(lo);
  return newLo;
}

/** Bit position of chunk i (memory.c:access_with_adjusted_size): LE from the bottom, BE from the top. */
function chunkShift(mr: MemoryRegion, i: number, size: number, accessSize: number): number {
  return mr.bigEndian ? (size - accessSize - i) * 8 : i * 8;
}

/** access_with_adjusted_size for reads: impl sizes decide how many callbacks, in ascending order. */
function readAdjusted(mr: MemoryRegion, offset: number, size: number): number {
  const read = mr.readFn;
  if (read === null) return 0;
  const accessSize = Math.max(Math.min(size, mr.implMax), mr.implMin);
  if (accessSize === size) {
    const v = read(offset, size);
    if (size === 8) return splitBig(v);
    return (deviceLow32(v) & MASK[size]!) >>> 0;
  }
  let lo = 0;
  let hi = 0;
  if (accessSize < size) {
    const mask = MASK[accessSize]!;
    for (let i = 0; i < size; i += accessSize) {
      const v = read(offset + i, accessSize);
      const chunk = (deviceLow32(v) & mask) >>> 0;
      const shift = chunkShift(mr, i, size, accessSize);
      if (shift >= 32) hi = (hi | (chunk << (shift - 32))) >>> 0;
      else lo = (lo | (chunk << shift)) >>> 0;
    }
    lastAccess.hi = hi;
    return lo;
  }
  // Smaller than impl.min (a QEMU FIXME): one wide call at the unaligned offset; keep our bytes.
  const wide = read(offset, accessSize);
  const shift = chunkShift(mr, 0, size, accessSize); // <= 0
  const big = (typeof wide === 'bigint' ? wide : BigInt(wide)) & ((1n << BigInt(accessSize * 8)) - 1n);
  const v = shift < 0 ? big >> BigInt(-shift) : big;
  return splitBig(BigInt.asUintN(size * 8, v));
}

/** access_with_adjusted_size for writes. */
function writeAdjusted(mr: MemoryRegion, offset: number, lo: number, hi: number, size: number): void {
  const write = mr.writeFn;
  if (write === null) return;
  const accessSize = Math.max(Math.min(size, mr.implMax), mr.implMin);
  if (accessSize === size) {
    write(offset, size === 8 ? joinBig(lo, hi) : (lo & MASK[size]!) >>> 0, size);
    return;
  }
  if (accessSize < size) {
    const mask = MASK[accessSize]!;
    for (let i = 0; i < size; i += accessSize) {
      const shift = chunkShift(mr, i, size, accessSize);
      const chunk = shift >= 32 ? (hi >>> (shift - 32)) & mask : (lo >>> shift) & mask;
      write(offset + i, chunk >>> 0, accessSize);
    }
    return;
  }
  // Smaller than impl.min: a wide write with our bytes at the bottom (LE) or top (BE), no RMW.
  const value = size === 8 ? joinBig(lo, hi) : BigInt((lo & MASK[size]!) >>> 0);
  const shift = chunkShift(mr, 0, size, accessSize);
  const wide = BigInt.asUintN(accessSize * 8, shift < 0 ? value << BigInt(-shift) : value);
  write(offset, accessSize === 8 ? wide : Number(wide), accessSize);
}

/**
 * The low 32 bits of what a device's read returned (callers mask to the access's size): a device
 * may answer any size with a bigint, and memory.c:access_with_adjusted_size keeps the access's
 * bytes of whatever it returned; BigInt.asUintN keeps them exact where Number() would round a
 * value past 2^53. A number passes through untouched (its `& mask` or `>>> 0` takes the low bits).
 */
export function deviceLow32(v: number | bigint): number {
  return typeof v === 'number' ? v : Number(BigInt.asUintN(32, v));
}

function splitBig(v: number | bigint): number {
  const big = typeof v === 'bigint' ? BigInt.asUintN(64, v) : BigInt(v);
  lastAccess.hi = Number(big >> 32n);
  return Number(big & 0xffffffffn);
}

export function joinBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Result of a direct region access through the convenience API. */
export interface DispatchResult {
  value: bigint;
  result: number;
}

/**
 * memory_region_dispatch_read with an explicit MemOp byte order: the convenience form (allocates;
 * not for hot paths). `endian` is the access's byte order, as MO_LE / MO_BE.
 */
export function dispatchRead(
  mr: MemoryRegion,
  offset: number,
  size: number,
  endian: 'le' | 'be' = 'le',
): DispatchResult {
  const lo = regionRead(mr, offset, size, endian === 'be');
  return { value: size === 8 ? joinBig(lo, lastAccess.hi) : BigInt(lo), result: lastAccess.result };
}

/** memory_region_dispatch_write with an explicit MemOp byte order; returns the MemTxResult. */
export function dispatchWrite(
  mr: MemoryRegion,
  offset: number,
  value: number | bigint,
  size: number,
  endian: 'le' | 'be' = 'le',
): number {
  const v = BigInt.asUintN(64, BigInt(value));
  return regionWrite(mr, offset, Number(v & 0xffffffffn), Number(v >> 32n), size, endian === 'be');
}
