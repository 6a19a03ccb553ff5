import { VdmError } from '../util/errors.ts';
import {
  PCI_CAP_LIST_ID,
  PCI_CAP_LIST_NEXT,
  PCI_CAPABILITY_LIST,
  PCI_CONFIG_HEADER_SIZE,
  PCI_CONFIG_SPACE_SIZE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCIE_CONFIG_SPACE_SIZE,
} from '../common/pci-regs.ts';

/** A capability that cannot be placed: QEMU's -EINVAL from pci_add_capability / pcie_add_capability. */
export class CapabilityError extends VdmError {
  override name = 'CapabilityError';
}

/**
 * A function's configuration space with QEMU's per-byte masks (hw/pci/pci.c): `wmask` (writable
 * bits), `w1cmask` (write-1-to-clear bits), `cmask` (bits checked on migration) and `used`
 * (bytes owned by a capability). 256 bytes for conventional PCI, 4 KiB for PCI Express.
 */
export class ConfigSpace {
  readonly config: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  readonly cmask: Uint8Array;
  readonly used: Uint8Array;

  constructor(readonly size: number) {
    if (size !== PCI_CONFIG_SPACE_SIZE && size !== PCIE_CONFIG_SPACE_SIZE)
      throw new RangeError(`config space size ${size} must be 256 or 4096`);
    this.config = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1cmask = new Uint8Array(size);
    this.cmask = new Uint8Array(size);
    this.used = new Uint8Array(size);
  }

  get express(): boolean {
    return this.size === PCIE_CONFIG_SPACE_SIZE;
  }

  byte(offset: number): number {
    return this.config[offset]!;
  }

  word(offset: number, bytes: Uint8Array = this.config): number {
    return bytes[offset]! | (bytes[offset + 1]! << 8);
  }

  long(offset: number, bytes: Uint8Array = this.config): number {
    return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
  }

  quad(offset: number, bytes: Uint8Array = this.config): bigint {
    return (BigInt(this.long(offset + 4, bytes)) << 32n) | BigInt(this.long(offset, bytes));
  }

  setByte(offset: number, v: number, bytes: Uint8Array = this.config): void {
    bytes[offset] = v & 0xff;
  }

  setWord(offset: number, v: number, bytes: Uint8Array = this.config): void {
    bytes[offset] = v & 0xff;
    bytes[offset + 1] = (v >>> 8) & 0xff;
  }

  setLong(offset: number, v: number, bytes: Uint8Array = this.config): void {
    for (let i = 0; i < 4; i++) bytes[offset + i] = (v >>> (8 * i)) & 0xff;
  }

  setQuad(offset: number, v: bigint, bytes: Uint8Array = this.config): void {
    const u = BigInt.asUintN(64, v);
    this.setLong(offset, Number(u & 0xffffffffn), bytes);
    this.setLong(offset + 4, Number(u >> 32n), bytes);
  }

  /** Reads `len` (1, 2 or 4) bytes little-endian (pci_default_read_config), of the config or a mask. */
  read(offset: number, len: number, bytes: Uint8Array = this.config): number {
    let v = 0;
    for (let i = len - 1; i >= 0; i--) v = v * 256 + bytes[offset + i]!;
    return v;
  }

  /** pci_default_write_config's byte loop: writable bits take the value, W1C bits clear on 1. */
  write(offset: number, value: number, len: number): void {
    for (let i = 0; i < len; i++, value = Math.floor(value / 256)) {
      const b = value & 0xff;
      const w = this.wmask[offset + i]!;
      this.config[offset + i] = ((this.config[offset + i]! & ~w) | (b & w)) & ~(b & this.w1cmask[offset + i]!);
    }
  }

  /**
   * pci_add_capability: places a standard capability at `offset` (0 = first free run of `size`
   * bytes after the header), links it at the head of the list, and makes it read-only.
   */
  addCapability(id: number, offset: number, size: number): number {
    if (offset === 0) {
      offset = this.findSpace(size);
      if (offset === 0) throw new CapabilityError(`no room for a ${size}-byte capability 0x${id.toString(16)}`);
    } else {
      if (offset < PCI_CONFIG_HEADER_SIZE || offset + size > PCI_CONFIG_SPACE_SIZE) {
        throw new CapabilityError(
          `capability 0x${id.toString(16)} at 0x${offset.toString(16)} (+${size}) is outside 0x40..0xff`,
        );
      }
      for (let i = offset; i < offset + size; i++) {
        const other = this.capabilityAt(i);
        if (other) {
          throw new CapabilityError(
            `attempt to add PCI capability 0x${id.toString(16)} at offset 0x${offset.toString(16)} overlaps ` +
              `existing capability 0x${this.config[other]!.toString(16)} at offset 0x${other.toString(16)}`,
          );
        }
      }
    }
    this.config[offset + PCI_CAP_LIST_ID] = id;
    this.config[offset + PCI_CAP_LIST_NEXT] = this.config[PCI_CAPABILITY_LIST]!;
    this.config[PCI_CAPABILITY_LIST] = offset;
    this.config[PCI_STATUS] = this.config[PCI_STATUS]! | PCI_STATUS_CAP_LIST;
    this.used.fill(0xff, offset, Math.min(offset + Math.ceil(size / 4) * 4, PCI_CONFIG_SPACE_SIZE));
    this.wmask.fill(0, offset, offset + size);
    this.cmask.fill(0xff, offset, offset + size);
    return offset;
  }

  /** pci_find_capability: offset of the first capability with this id, or 0. */
  findCapability(id: number): number {
    const seen = new Set<number>();
    for (
      let p = this.config[PCI_CAPABILITY_LIST]! & ~3;
      p !== 0 && !seen.has(p);
      p = this.config[p + PCI_CAP_LIST_NEXT]! & ~3
    ) {
      seen.add(p); // a looping list (bad guest or device data) must not hang us
      if (this.config[p + PCI_CAP_LIST_ID] === id) return p;
    }
    return 0;
  }

  /** Standard capabilities in list order, as [id, offset]. */
  capabilities(): [number, number][] {
    const out: [number, number][] = [];
    const seen = new Set<number>();
    for (
      let p = this.config[PCI_CAPABILITY_LIST]! & ~3;
      p !== 0 && !seen.has(p);
      p = this.config[p + PCI_CAP_LIST_NEXT]! & ~3
    ) {
      seen.add(p);
      out.push([this.config[p]!, p]);
    }
    return out;
  }

  /** pcie_add_capability: an extended capability at offset >= 0x100, appended to the chain. */
  addExtCapability(id: number, version: number, offset: number, size: number): number {
    if (!this.express) throw new CapabilityError('extended capabilities need a 4 KiB (PCI Express) config space');
    if (offset < PCI_CONFIG_SPACE_SIZE || offset + size > PCIE_CONFIG_SPACE_SIZE || size < 8 || offset % 4 !== 0) {
      throw new CapabilityError(
        `extended capability 0x${id.toString(16)} at 0x${offset.toString(16)} (+${size}) is outside 0x100..0xfff`,
      );
    }
    if (offset !== PCI_CONFIG_SPACE_SIZE) {
      const chain = this.extCapabilities();
      if (chain.length === 0) throw new CapabilityError('the first extended capability must sit at 0x100');
      const last = chain[chain.length - 1]![1];
      this.setLong(last, (this.long(last) & 0x000fffff) | (offset << 20));
    }
    this.setLong(offset, (id & 0xffff) | ((version & 0xf) << 16));
    this.wmask.fill(0, offset, offset + size);
    this.w1cmask.fill(0, offset, offset + size);
    this.cmask.fill(0xff, offset, offset + size);
    return offset;
  }

  /** Extended capabilities in chain order, as [id, offset]. */
  extCapabilities(): [number, number][] {
    if (!this.express) return [];
    const out: [number, number][] = [];
    const seen = new Set<number>();
    for (let p = PCI_CONFIG_SPACE_SIZE; p !== 0 && !seen.has(p); ) {
      seen.add(p);
      const header = this.long(p);
      if (header === 0 || header === 0xffffffff) break;
      out.push([header & 0xffff, p]);
      p = (header >>> 20) & 0xffc;
    }
    return out;
  }

  /** pcie_find_capability. */
  findExtCapability(id: number): number {
    return this.extCapabilities().find(([cid]) => cid === id)?.[1] ?? 0;
  }

  /** pci_find_space. */
  private findSpace(size: number): number {
    let offset = PCI_CONFIG_HEADER_SIZE;
    for (let i = PCI_CONFIG_HEADER_SIZE; i < PCI_CONFIG_SPACE_SIZE; i++) {
      if (this.used[i]) offset = i + 1;
      else if (i - offset + 1 === size) return offset;
    }
    return 0;
  }

  /** pci_find_capability_at_offset: the start of the capability covering `offset`, or 0. */
  private capabilityAt(offset: number): number {
    let found = 0;
    for (const [, p] of this.capabilities()) if (p <= offset && p > found) found = p;
    if (!found || !this.used[offset]) return 0;
    // The covering capability is the closest one below whose used bytes reach `offset`.
    return found;
  }
}
