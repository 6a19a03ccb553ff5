const CHUNK_BITS = 16;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;

/**
 * Backing store of a RAM, ROM or ROM-device region (QEMU's RAMBlock). Sparse: 64 KiB chunks are
 * allocated on first write, so a machine with gigabytes of guest RAM costs only what it touches.
 * Values are little-endian byte lanes: byte k of an access is at offset + k.
 * In common because the host uses the same storage for device BARs and the VMM's process memory.
 */
export class RamBlock {
  private readonly chunks: (DataView | undefined)[];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0 || size > 2 ** 48) {
      throw new RangeError(`RAM block size ${size} must be an integer between 0 and 2^48`);
    }
    this.chunks = new Array(Math.ceil(size / CHUNK_SIZE));
  }

  /** Reads 1, 2 or 4 bytes as an unsigned little-endian number. */
  read(offset: number, size: number): number {
    const inChunk = offset & CHUNK_MASK;
    if (inChunk + size <= CHUNK_SIZE) {
      const v = this.chunks[Math.floor(offset / CHUNK_SIZE)];
      if (v === undefined) return 0;
      if (size === 4) return v.getUint32(inChunk, true);
      if (size === 1) return v.getUint8(inChunk);
      return v.getUint16(inChunk, true);
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + this.readByte(offset + i);
    return value;
  }

  /** Writes 1, 2 or 4 bytes of `value` little-endian. */
  write(offset: number, value: number, size: number): void {
    const inChunk = offset & CHUNK_MASK;
    if (inChunk + size <= CHUNK_SIZE) {
      const v = this.chunks[Math.floor(offset / CHUNK_SIZE)] ?? this.allocate(Math.floor(offset / CHUNK_SIZE));
      if (size === 4) v.setUint32(inChunk, value, true);
      else if (size === 1) v.setUint8(inChunk, value);
      else v.setUint16(inChunk, value, true);
      return;
    }
    for (let i = 0; i < size; i++) this.writeByte(offset + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
  }

  readByte(offset: number): number {
    const v = this.chunks[Math.floor(offset / CHUNK_SIZE)];
    return v === undefined ? 0 : v.getUint8(offset & CHUNK_MASK);
  }

  writeByte(offset: number, byte: number): void {
    const idx = Math.floor(offset / CHUNK_SIZE);
    (this.chunks[idx] ?? this.allocate(idx)).setUint8(offset & CHUNK_MASK, byte);
  }

  /** Copies bytes out of the block (cold path: loaders, tests, DMA helpers). */
  readBytes(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.readByte(offset + i);
    return out;
  }

  /** Copies bytes into the block (cold path: loaders, tests, DMA helpers). */
  writeBytes(offset: number, bytes: ArrayLike<number>): void {
    this.checkRange(offset, bytes.length);
    for (let i = 0; i < bytes.length; i++) this.writeByte(offset + i, bytes[i]! & 0xff);
  }

  /** Fills a range with one byte value. */
  fill(byte: number, offset = 0, length = this.size - offset): void {
    this.checkRange(offset, length);
    for (let i = 0; i < length; i++) this.writeByte(offset + i, byte);
  }

  /** Zeroes the whole block by dropping its chunks (a reset). */
  clear(): void {
    this.chunks.fill(undefined);
  }

  private allocate(idx: number): DataView {
    const view = new DataView(new ArrayBuffer(CHUNK_SIZE));
    this.chunks[idx] = view;
    return view;
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`range ${offset}+${length} is outside the ${this.size}-byte RAM block`);
    }
  }
}
