/**
 * Largest chunk: 1 GiB. A chunk is one lazily allocated ArrayBuffer, and the kernel backs its pages
 * only as they are touched, so a large chunk costs address space, not memory. The address space's
 * RAM window is one chunk: a guest access outside it misses, and a miss is a call chain long enough
 * that the CPU stops overlapping the cache misses of consecutive accesses. Random reads over a
 * 256 MiB guest cost ~410 ns each with 16 MiB chunks and ~80 ns (a bare typed array: ~60) with one.
 * 1 GiB keeps every view's length below 2^31, which V8 compares as a 32-bit integer.
 */
const MAX_CHUNK = 1 << 30;

/** Whether this host stores typed-array elements little-endian (every platform Node ships for but s390x). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A chunk's 16- and 32-bit views, made when an address space's RAM window first moves to the chunk. */
interface WideViews {
  readonly v16: Uint16Array;
  readonly v32: Uint32Array;
}

/**
 * Backing store of a RAM, ROM or ROM-device region (QEMU's RAMBlock). Sparse: chunks of
 * min(block size, 1 GiB) are allocated on first write, so a machine with gigabytes of guest RAM
 * costs only the pages it touches. A written chunk is one ArrayBuffer and its byte view; the 16- and
 * 32-bit views the address space's RAM window loads through are made when a window first moves to
 * the chunk and kept. So a written 4 KiB block costs 4 KiB plus about 250 bytes of heap (this
 * object, the buffer's and the byte view's headers), and ~290 more once a window has used it.
 * Values are little-endian byte lanes: byte k of an access is at offset + k.
 * In common because the host uses the same storage for device BARs and the VMM's process memory.
 */
export class RamBlock {
  /** Bytes per chunk (every chunk but possibly the last is this long). */
  readonly chunkSize: number;
  // Chunk 0 in a field and the others in an array: most blocks are one chunk, and an array would
  // add ~56 bytes to each of them.
  private first: Uint8Array | undefined = undefined;
  /** Chunks 1 to n - 1 at idx - 1; null for a one-chunk block. */
  private readonly rest: (Uint8Array | undefined)[] | null;
  /** Per chunk, its wide views once made; null until the first is. */
  private wide: (WideViews | undefined)[] | null = null;

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
    this.rest = n > 1 ? new Array(n - 1) : null;
  }

  /** How many chunks have been allocated (written). */
  get allocatedChunks(): number {
    return (this.first === undefined ? 0 : 1) + (this.rest?.filter((c) => c !== undefined).length ?? 0);
  }

  /**
   * Reads 1, 2 or 4 bytes as an unsigned little-endian number. Within a chunk, from its bytes: the
   * block's own accesses (device registers, the address space's slow paths) make no wide views.
   */
  read(offset: number, size: number): number {
    const idx = Math.floor(offset / this.chunkSize);
    const o = offset - idx * this.chunkSize;
    if (o + size <= this.chunkSize) {
      const c = this.bytes(idx);
      if (c === undefined) return 0;
      if (size === 4) return (c[o]! | (c[o + 1]! << 8) | (c[o + 2]! << 16) | (c[o + 3]! << 24)) >>> 0;
      if (size === 1) return c[o]!;
      if (size === 2) return c[o]! | (c[o + 1]! << 8);
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + this.readByte(offset + i);
    return value;
  }

  /** Writes 1, 2 or 4 bytes of `value` little-endian (its low 32 bits, as a Uint32Array store would). */
  write(offset: number, value: number, size: number): void {
    const idx = Math.floor(offset / this.chunkSize);
    const o = offset - idx * this.chunkSize;
    if (o + size <= this.chunkSize && (size === 4 || size === 1 || size === 2)) {
      const c = this.bytes(idx) ?? this.allocate(idx);
      const v = value >>> 0;
      c[o] = v;
      if (size === 1) return;
      c[o + 1] = v >>> 8;
      if (size === 2) return;
      c[o + 2] = v >>> 16;
      c[o + 3] = v >>> 24;
      return;
    }
    for (let i = 0; i < size; i++) this.writeByte(offset + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
  }

  readByte(offset: number): number {
    const idx = Math.floor(offset / this.chunkSize);
    const c = this.bytes(idx);
    return c === undefined ? 0 : c[offset - idx * this.chunkSize]!;
  }

  writeByte(offset: number, byte: number): void {
    const idx = Math.floor(offset / this.chunkSize);
    (this.bytes(idx) ?? this.allocate(idx))[offset - idx * this.chunkSize] = byte;
  }

  /** The chunk holding `offset`, allocated if `create`; undefined for a never-written chunk otherwise. */
  chunk(offset: number, create: boolean): Uint8Array | undefined {
    const idx = Math.floor(offset / this.chunkSize);
    return this.bytes(idx) ?? (create ? this.allocate(idx) : undefined);
  }

  /** The 16-bit view of chunk `idx` (which must be allocated), made on first use and kept. */
  view16(idx: number): Uint16Array {
    return (this.wide?.[idx] ?? this.widen(idx)).v16;
  }

  /** The 32-bit view of chunk `idx` (which must be allocated), made on first use and kept. */
  view32(idx: number): Uint32Array {
    return (this.wide?.[idx] ?? this.widen(idx)).v32;
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
      const c = this.bytes(idx);
      if (c !== undefined || (byte & 0xff) !== 0) (c ?? this.allocate(idx)).fill(byte, o, o + n);
      done += n;
    }
  }

  /**
   * Zeroes the whole block (a reset). Chunks are zeroed in place rather than dropped: address
   * spaces keep a chunk's typed arrays for their RAM fast path, and those must stay the block's.
   * So it touches every page of every allocated chunk: meant for small blocks (device BARs, whose
   * chunks are capped), not for gigabytes of guest RAM.
   */
  clear(): void {
    this.first?.fill(0);
    if (this.rest !== null) for (const c of this.rest) c?.fill(0);
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
      const c = this.bytes(idx);
      if (intoBlock) (c ?? this.allocate(idx)).set(buf.subarray(at + done, at + done + n), o);
      else if (c === undefined) buf.fill(0, at + done, at + done + n);
      else buf.set(c.subarray(o, o + n), at + done);
      done += n;
    }
  }

  private bytes(idx: number): Uint8Array | undefined {
    return idx === 0 ? this.first : this.rest?.[idx - 1];
  }

  private allocate(idx: number): Uint8Array {
    if (!(idx >= 0 && idx <= (this.rest?.length ?? 0))) {
      throw new RangeError(`offset ${idx * this.chunkSize} is outside the ${this.size}-byte RAM block`);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(this.chunkSize);
    } catch (e) {
      // The host refused the address space (a strict overcommit policy, a ulimit -v).
      throw new RangeError(
        `cannot allocate the ${this.chunkSize}-byte chunk at offset ${idx * this.chunkSize} of the ${this.size}-byte RAM block: ${(e as Error).message}`,
      );
    }
    if (idx === 0) this.first = bytes;
    else this.rest![idx - 1] = bytes;
    return bytes;
  }

  private widen(idx: number): WideViews {
    const c = this.bytes(idx)!;
    const views: WideViews = {
      v16: new Uint16Array(c.buffer, c.byteOffset, c.length >>> 1),
      v32: new Uint32Array(c.buffer, c.byteOffset, c.length >>> 2),
    };
    (this.wide ??= new Array(1 + (this.rest?.length ?? 0)))[idx] = views;
    return views;
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`range ${offset}+${length} is outside the ${this.size}-byte RAM block`);
    }
  }
}
