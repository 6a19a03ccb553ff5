/**
 * MemTxResult bits, as in QEMU's include/exec/memattrs.h. The hot path uses the const enum, which the
 * bundler writes in as numbers; the constants below are the same values for everyone else.
 */
export const enum MemTx {
  Ok = 0,
  /** The device reported an error. */
  Error = 1,
  /** Nothing decodes the address, or the access was refused as invalid (memory.c:memory_region_access_valid). */
  DecodeError = 2,
  /** Access denied (e.g. the re-entrancy guard). */
  AccessError = 4,
}
export const MEMTX_OK = MemTx.Ok;
export const MEMTX_ERROR = MemTx.Error;
export const MEMTX_DECODE_ERROR = MemTx.DecodeError;
export const MEMTX_ACCESS_ERROR = MemTx.AccessError;

/** 2^64: the size of a region that spans the whole 64-bit space (QEMU stores it as Int128). */
export const U64_SPAN = 1n << 64n;
/** Number limits of the hot path, as a const enum so the bundler writes them in. */
export const enum Limit {
  /** The largest address the number-based dispatch path handles exactly (2^53). */
  Dispatch = 9007199254740992,
  /** Region offsets the MMIO window covers (2^30): below it they are small integers V8 keeps unboxed. */
  IoWindow = 1073741824,
}
/** The largest address the number-based dispatch path handles exactly (2^53). */
export const DISPATCH_LIMIT = Limit.Dispatch;
/** Target page size used by the dispatch table, as TARGET_PAGE_BITS = 12 on every machine vdm models. */
export const PAGE_BITS = 12;
export const PAGE_SIZE = 1 << PAGE_BITS;

/** Formats a value the way QEMU's HWADDR_FMT_plx does: 16 lowercase hex digits, modulo 2^64. */
export function hex16(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, '0');
}

// The last number toBig converted, and its bigint: regions made in a row with the same size (BARs,
// MSI-X tables) then share one bigint instead of 24 bytes of heap each. Bigints are immutable.
let lastNumber = 0;
let lastBig = 0n;

/** Accepts a number or bigint address/size from API callers and checks it is a non-negative integer. */
export function toBig(v: number | bigint, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (v === lastNumber) return lastBig;
  if (!Number.isInteger(v)) throw new RangeError(`${what} must be an integer, got ${v}`);
  if (v > Number.MAX_SAFE_INTEGER) throw new RangeError(`${what} ${v} is past 2^53; pass a bigint`);
  lastBig = BigInt(v);
  lastNumber = v;
  return lastBig;
}
