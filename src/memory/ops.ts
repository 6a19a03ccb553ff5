/** How a device serialises the integers it reads and writes (QEMU's enum device_endian). */
export type DeviceEndian = 'little' | 'big' | 'native';

/** Access-size constraints, QEMU's MemoryRegionOps.valid / .impl. 0 means "unset" exactly as in QEMU. */
export interface AccessConstraints {
  minAccessSize?: number;
  maxAccessSize?: number;
  unaligned?: boolean;
}

/** The guest-side validity rule, with QEMU's optional `accepts` hook. */
export interface ValidConstraints extends AccessConstraints {
  accepts?: (offset: number, size: number, isWrite: boolean) => boolean;
}

/**
 * Callbacks of an MMIO/I/O region (QEMU's MemoryRegionOps). Offsets are region-relative.
 * Values written of 1, 2 and 4 bytes are unsigned numbers; an 8-byte value is a bigint, so only
 * devices that implement 8-byte accesses ever see one. A read may answer with either: the access
 * keeps its low 8 * size bits (memory.c:access_with_adjusted_size masks what the device returned).
 */
export interface MemoryRegionOps {
  read?: (offset: number, size: number) => number | bigint;
  write?: (offset: number, value: number | bigint, size: number) => void;
  endianness?: DeviceEndian;
  valid?: ValidConstraints;
  impl?: AccessConstraints;
  /** vdm only: accesses reaching these ops are counted as "unassigned" (QEMU's unassigned_io_ops). */
  countsAsUnassigned?: boolean;
}

/** QEMU's unassigned_mem_ops: every access is refused, so reads give 0 and a decode error. */
export const unassignedMemOps: MemoryRegionOps = Object.freeze({
  endianness: 'native',
  valid: Object.freeze({ accepts: () => false }),
  countsAsUnassigned: true,
});

/** system/ioport.c:unassigned_io_ops: reads return all ones, writes are ignored, the result is OK. */
export const unassignedIoOps: MemoryRegionOps = Object.freeze({
  read: (_offset: number, size: number) =>
    size === 8 ? (1n << 64n) - 1n : size === 4 ? 0xffffffff : (1 << (size * 8)) - 1,
  write: () => {},
  endianness: 'native',
  countsAsUnassigned: true,
});
