/**
 * Largest chunk. A chunk is one lazily allocated ArrayBuffer; the kernel backs its pages only as
 * they are touched, so a large chunk costs address space, not memory, and lets the address space's
 * RAM window cover 16 MiB of guest RAM with one typed array (one load per random access instead of
 * three dependent ones through a table of small chunks).
 */
const MAX_CHUNK = 1 << 24;

/** Whether this host stores typed-array elements little-endian (every platform Node ships for but s390x). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Backing store of a RAM, ROM or ROM-device region (QEMU's RAMBlock). Sparse: chunks of
 * min(block size, 16 MiB) are allocated on first write, so a machine with gigabytes of guest RAM
 * costs only what it touches and a 4 KiB block costs 4 KiB. Each chunk keeps 8-, 16- and 32-bit
 * views of one buffer so the address space can serve an access with one typed-array load.
 * Values are little-endian byte lanes: byte k of an access is at offset + k.
 * In common because the host uses the same storage for device BARs and the VMM's process memory.
 */
export class RamBlock {
  /** Bytes per chunk (every chunk but possibly the last is this long). */
  readonly chunkSize: number;
  readonly chunks8: (Uint8Array | undefined)[];
  readonly chunks16: (Uint16Array | undefined)[];
  readonly chunks32: (Uint32Array | undefined)[];

  /**
   * `maxChunk` caps the chunk (a multiple of 8): storage touched sparsely, as device registers are,
   * wants small chunks, since every chunk is a separate ArrayBuffer the GC accounts for whole.
   */
  constructor(
    readonly size: number,
    maxChunk = MAX_CHUNK,
  ) {
    if (!Number.isInteger(size) || size < 0 || size > 2 ** 48) {
      throw new RangeError(`RAM block size ${size} must be an integer between 0 and 2^48`);
    }
    if (!Number.isInteger(maxChunk) || maxChunk < 8 || maxChunk > MAX_CHUNK || maxChunk % 8 !== 0) {
      throw new RangeError(`RAM block chunk limit ${maxChunk} must be a multiple of 8 from 8 to ${MAX_CHUNK}`);
    }
    // Rounded up to 8 so the 32-bit view covers every byte of a small block.
    this.chunkSize = size >= maxChunk ? maxChunk : Math.max(8, Math.ceil(size / 8) * 8);
    const n = Math.ceil(size / this.chunkSize);
    this.chunks8 = new Array(n);
    this.chunks16 = new Array(n);
    this.chunks32 = new Array(n);
  }

  /** Reads 1, 2 or 4 bytes as an unsigned little-endian number. */
  read(offset: number, size: number): number {
    const idx = Math.floor(offset / this.chunkSize);
    const o = offset - idx * this.chunkSize;
    if (o + size <= this.chunkSize && HOST_LITTLE_ENDIAN) {
      if (this.chunks8[idx] === undefined) return 0;
      if (size === 4 && (o & 3) === 0) return this.chunks32[idx]![o >>> 2]!;
      if (size === 1) return this.chunks8[idx]![o]!;
      if (size === 2 && (o & 1) === 0) return this.chunks16[idx]![o >>> 1]!;
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + this.readByte(offset + i);
    return value;
  }

  /** Writes 1, 2 or 4 bytes of `value` little-endian. */
  write(offset: number, value: number, size: number): void {
    const idx = Math.floor(offset / this.chunkSize);
    const o = offset - idx * this.chunkSize;
    if (o + size <= this.chunkSize && HOST_LITTLE_ENDIAN) {
      if (this.chunks8[idx] === undefined) this.allocate(idx);
      if (size === 4 && (o & 3) === 0) {
        this.chunks32[idx]![o >>> 2] = value;
        return;
      }
      if (size === 1) {
        this.chunks8[idx]![o] = value;
        return;
      }
      if (size === 2 && (o & 1) === 0) {
        this.chunks16[idx]![o >>> 1] = value;
        return;
      }
    }
    for (let i = 0; i < size; i++) this.writeByte(offset + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
  }

  readByte(offset: number): number {
    const idx = Math.floor(offset / this.chunkSize);
    const c = this.chunks8[idx];
    return c === undefined ? 0 : c[offset - idx * this.chunkSize]!;
  }

  writeByte(offset: number, byte: number): void {
    const idx = Math.floor(offset / this.chunkSize);
    (this.chunks8[idx] ?? this.allocate(idx))[offset - idx * this.chunkSize] = byte;
  }

  /** The chunk holding `offset`, allocated if `create`; undefined for a never-written chunk otherwise. */
  chunk(offset: number, create: boolean): Uint8Array | undefined {
    const idx = Math.floor(offset / this.chunkSize);
    return this.chunks8[idx] ?? (create ? this.allocate(idx) : undefined);
  }

  /** Copies `length` bytes at `offset` into `out` at `at`, a chunk at a time. */
  readInto(offset: number, out: Uint8Array, at: number, length: number): void {
    this.copy(offset, out, at, length, false);
  }

  /** Copies `length` bytes of `src` from `at` into the block at `offset`, a chunk at a time. */
  writeFrom(offset: number, src: Uint8Array, at: number, length: number): void {
    this.copy(offset, src, at, length, true);
  }

  /** Copies bytes out of the block. */
  readBytes(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const out = new Uint8Array(length);
    this.readInto(offset, out, 0, length);
    return out;
  }

  /** Copies bytes into the block. */
  writeBytes(offset: number, bytes: ArrayLike<number>): void {
    const src = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes, (b) => b & 0xff);
    this.writeFrom(offset, src, 0, src.length);
  }

  /** Fills a range with one byte value. */
  fill(byte: number, offset = 0, length = this.size - offset): void {
    this.checkRange(offset, length);
    const cs = this.chunkSize;
    for (let done = 0; done < length; ) {
      const pos = offset + done;
      const idx = Math.floor(pos / cs);
      const o = pos - idx * cs;
      const n = Math.min(length - done, cs - o);
      const c = this.chunks8[idx];
      if (c !== undefined || (byte & 0xff) !== 0) (c ?? this.allocate(idx)).fill(byte, o, o + n);
      done += n;
    }
  }

  /**
   * Zeroes the whole block (a reset). Chunks are zeroed in place rather than dropped: address
   * spaces keep a chunk's typed arrays for their RAM fast path, and those must stay the block's.
   */
  clear(): void {
    for (const c of this.chunks8) c?.fill(0);
  }

  /** One chunk-at-a-time loop for both directions; a flag rather than a callback, so it allocates no closure. */
  private copy(offset: number, buf: Uint8Array, at: number, length: number, intoBlock: boolean): void {
    this.checkRange(offset, length);
    const cs = this.chunkSize;
    for (let done = 0; done < length; ) {
      const pos = offset + done;
      const idx = Math.floor(pos / cs);
      const o = pos - idx * cs;
      const n = Math.min(length - done, cs - o);
      const c = this.chunks8[idx];
      if (intoBlock) (c ?? this.allocate(idx)).set(buf.subarray(at + done, at + done + n), o);
      else if (c === undefined) buf.fill(0, at + done, at + done + n);
      else buf.set(c.subarray(o, o + n), at + done);
      done += n;
    }
  }

  private allocate(idx: number): Uint8Array {
    const buf = new ArrayBuffer(this.chunkSize);
    const bytes = new Uint8Array(buf);
    this.chunks8[idx] = bytes;
    this.chunks16[idx] = new Uint16Array(buf);
    this.chunks32[idx] = new Uint32Array(buf);
    return bytes;
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`range ${offset}+${length} is outside the ${this.size}-byte RAM block`);
    }
  }
}
