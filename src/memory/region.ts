import type { MemoryRegionOps, DeviceEndian } from './ops.ts';
import { unassignedMemOps } from './ops.ts';
import type { RamBlock } from '../common/ram-block.ts';
import { U64_SPAN } from './constants.ts';
import type { ChildIndex } from './child-index.ts';

/** What a region is; decides rendering (terminates or not) and the access path. */
export type RegionKind = 'container' | 'io' | 'reservation' | 'ram' | 'rom' | 'romd' | 'ramd' | 'alias';

/**
 * The memory behind a RAM-device region: an mmapped device range (QEMU's ram_device regions over a
 * VFIO mmap). Accesses are 1, 2 or 4 bytes, little-endian lanes; a host device may react to them.
 */
export interface RamDeviceBacking {
  read(offset: number, size: number): number;
  write(offset: number, value: number, size: number): void;
}

/** The transaction machinery a region reports its changes to (the MemorySystem). */
export interface TopologyHost {
  begin(): void;
  commit(): void;
  /** memory_region_update_pending |= flag. */
  markUpdate(flag: boolean): void;
  /** Global insertion counter, so that "newest first among equal priorities" is checkable. */
  nextSeq(): number;
  /**
   * Called around every change of mr's place, extent or contents: the host notes where mr renders
   * now, so the next commit re-renders only there. A change of place or extent calls it before and
   * after, a change of contents once.
   */
  noteChange(mr: MemoryRegion): void;
  readonly targetBigEndian: boolean;
}

/** Owner text for `info mtree -o`: the part inside `owner:{...}` / `parent:{...}`. */
export interface RegionOwner {
  owner?: string;
  parent?: string;
}

/** Shared by every region without an owner text, children or aliases: no per-region empty objects. */
const NO_OWNER: RegionOwner = Object.freeze({});
const NO_REGIONS = Object.freeze([]) as readonly MemoryRegion[] as MemoryRegion[];

/** What few regions have: one object per region that has any, a shared frozen default for the rest. */
interface RareParts {
  ramBlock: RamBlock | null;
  ramDeviceBacking: RamDeviceBacking | null;
  alias: MemoryRegion | null;
  aliasOffset: bigint;
  aliasedBy: MemoryRegion[];
  childIndex: ChildIndex | null;
  owner: RegionOwner;
}
const NO_PARTS: RareParts = Object.freeze({
  ramBlock: null,
  ramDeviceBacking: null,
  alias: null,
  aliasOffset: 0n,
  aliasedBy: NO_REGIONS,
  childIndex: null,
  owner: NO_OWNER,
});

// Bits of MemoryRegion.flags: the region's boolean state in one small integer, not a field each
// (a 100,000-region tree pays 8 bytes per field per region).
const ENABLED = 1;
const READONLY = 2;
const NONVOLATILE = 4;
const UNMERGEABLE = 8;
const ROMD_MODE = 16;
const TERMINATES = 32;
const IS_RAM = 64;
const IS_ROM_DEVICE = 128;
const IS_RAM_DEVICE = 256;
// Compiled from the ops by setOps.
const VALID_UNALIGNED = 512;
const BIG_ENDIAN = 1024;
const COUNTS_AS_UNASSIGNED = 2048;
const IMPL_UNALIGNED = 4096;
const FROM_OPS = VALID_UNALIGNED | BIG_ENDIAN | COUNTS_AS_UNASSIGNED | IMPL_UNALIGNED;

/**
 * A node of the memory tree (QEMU's MemoryRegion). Mutators follow system/memory.c: each one runs in
 * a transaction and marks the topology dirty under the same conditions as QEMU.
 */
export class MemoryRegion {
  addr = 0n;
  priority = 0;
  container: MemoryRegion | null = null;
  /**
   * QEMU's subregion list stored back to front: ascending priority, oldest first among equals.
   * The common insertion (newest, at the front of its priority group) is then a push at the end
   * rather than a memmove of every sibling, which keeps building 100k-region trees linear.
   * Leaves share one frozen empty list; a region's own list is made at its first insertion.
   */
  readonly children: MemoryRegion[] = NO_REGIONS;
  /** Sequence number of the last (re-)insertion into a container. */
  insertSeq = 0;
  /** ramBlock, ramDeviceBacking, alias, aliasOffset, aliasedBy, childIndex and owner, behind the accessors below. */
  private rare: RareParts = NO_PARTS;
  /** The boolean state (the bits above), behind the accessors below. */
  private flags: number;

  // Access rules compiled from the ops once, so the dispatch path reads plain fields (the
  // booleans only the general path reads are bits of flags).
  validMin = 0;
  validMax = 0;
  accepts: ((offset: number, size: number, isWrite: boolean) => boolean) | null = null;
  implMin = 1;
  implMax = 4;
  /**
   * Bit set of the sizes 1, 2 and 4 whose naturally aligned accesses need none of the general
   * machinery: valid by size, no accepts hook, one callback (impl), no byte swap. The address-space
   * fast path calls the callback directly for these.
   */
  directSizes = 0;
  readFn: ((offset: number, size: number) => number | bigint) | null = null;
  writeFn: ((offset: number, value: number | bigint, size: number) => void) | null = null;

  constructor(
    readonly host: TopologyHost,
    readonly name: string,
    readonly kind: RegionKind,
    public size: bigint,
    ramBlock: RamBlock | null = null,
    ramDeviceBacking: RamDeviceBacking | null = null,
    alias: MemoryRegion | null = null,
  ) {
    if (size < 0n || size > U64_SPAN) throw new RangeError(`region ${name}: size ${size} is outside 0..2^64`);
    // Enabled, and romd mode on (QEMU's initial value; only meaningful for ROM devices).
    this.flags =
      ENABLED |
      ROMD_MODE |
      (kind !== 'container' && kind !== 'alias' ? TERMINATES : 0) |
      (kind === 'rom' ? READONLY : 0) |
      (kind === 'ram' || kind === 'rom' || kind === 'ramd' ? IS_RAM : 0) |
      (kind === 'romd' ? IS_ROM_DEVICE : 0) |
      (kind === 'ramd' ? IS_RAM_DEVICE : 0);
    this.setOps(unassignedMemOps); // every region starts with unassigned_mem_ops (memory_region_initfn)
    if (ramBlock) this.ownParts().ramBlock = ramBlock;
    if (ramDeviceBacking) this.ownParts().ramDeviceBacking = ramDeviceBacking;
    if (alias) {
      this.ownParts().alias = alias;
      const target = alias.ownParts();
      if (target.aliasedBy === NO_REGIONS) target.aliasedBy = [];
      target.aliasedBy.push(this);
    }
  }

  /** The memory of RAM, ROM and ROM-device regions (QEMU's RAMBlock). */
  get ramBlock(): RamBlock | null {
    return this.rare.ramBlock;
  }
  get ramDeviceBacking(): RamDeviceBacking | null {
    return this.rare.ramDeviceBacking;
  }
  /** The region this one is an alias of (memory_region_init_alias). */
  get alias(): MemoryRegion | null {
    return this.rare.alias;
  }
  get aliasOffset(): bigint {
    return this.rare.aliasOffset;
  }
  set aliasOffset(offset: bigint) {
    if (offset !== this.rare.aliasOffset) this.ownParts().aliasOffset = offset;
  }
  /** Every alias whose target is this region: the paths a change here renders through. */
  get aliasedBy(): MemoryRegion[] {
    return this.rare.aliasedBy;
  }
  /** The children by address, built by the renderer once a clipped render meets many of them. */
  get childIndex(): ChildIndex | null {
    return this.rare.childIndex;
  }
  set childIndex(index: ChildIndex | null) {
    if (index !== this.rare.childIndex) this.ownParts().childIndex = index;
  }
  /** Replaced whole, never changed in place (regions without one share a frozen empty object). */
  get owner(): RegionOwner {
    return this.rare.owner;
  }
  set owner(owner: RegionOwner) {
    this.ownParts().owner = owner;
  }

  private ownParts(): RareParts {
    if (this.rare === NO_PARTS) this.rare = { ...NO_PARTS };
    return this.rare;
  }

  get enabled(): boolean {
    return (this.flags & ENABLED) !== 0;
  }
  set enabled(on: boolean) {
    this.setFlag(ENABLED, on);
  }
  get readonly(): boolean {
    return (this.flags & READONLY) !== 0;
  }
  set readonly(on: boolean) {
    this.setFlag(READONLY, on);
  }
  get nonvolatile(): boolean {
    return (this.flags & NONVOLATILE) !== 0;
  }
  set nonvolatile(on: boolean) {
    this.setFlag(NONVOLATILE, on);
  }
  get unmergeable(): boolean {
    return (this.flags & UNMERGEABLE) !== 0;
  }
  set unmergeable(on: boolean) {
    this.setFlag(UNMERGEABLE, on);
  }
  /** Only meaningful for ROM devices; QEMU's initial value is true. */
  get romdMode(): boolean {
    return (this.flags & ROMD_MODE) !== 0;
  }
  set romdMode(on: boolean) {
    this.setFlag(ROMD_MODE, on);
  }
  /** True for leaves: they fill the gaps their children leave (memory.c:render_memory_region). */
  get terminates(): boolean {
    return (this.flags & TERMINATES) !== 0;
  }

  get isRam(): boolean {
    return (this.flags & IS_RAM) !== 0;
  }
  get isRomDevice(): boolean {
    return (this.flags & IS_ROM_DEVICE) !== 0;
  }
  get isRamDevice(): boolean {
    return (this.flags & IS_RAM_DEVICE) !== 0;
  }
  /** Compiled from the ops by setOps. */
  get validUnaligned(): boolean {
    return (this.flags & VALID_UNALIGNED) !== 0;
  }
  get bigEndian(): boolean {
    return (this.flags & BIG_ENDIAN) !== 0;
  }
  get countsAsUnassigned(): boolean {
    return (this.flags & COUNTS_AS_UNASSIGNED) !== 0;
  }
  get implUnaligned(): boolean {
    return (this.flags & IMPL_UNALIGNED) !== 0;
  }

  private setFlag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }

  /** Installs MMIO callbacks and compiles their access rules (memory_region_init_io). */
  setOps(ops: MemoryRegionOps): void {
    const valid = ops.valid ?? {};
    const impl = ops.impl ?? {};
    if (impl.unaligned && !valid.unaligned) {
      throw new Error(`region ${this.name}: impl.unaligned requires valid.unaligned (memory.c:memory_region_init_io)`);
    }
    this.validMin = valid.minAccessSize ?? 0;
    this.validMax = valid.maxAccessSize ?? 0;
    this.accepts = valid.accepts ?? null;
    this.implMin = impl.minAccessSize || 1;
    this.implMax = impl.maxAccessSize || 4;
    const endian: DeviceEndian = ops.endianness ?? 'native';
    const bigEndian = endian === 'big' || (endian === 'native' && this.host.targetBigEndian);
    // Nothing is there (reservations, unassigned I/O); RAM and ROM refusing a store is "invalid".
    const countsAsUnassigned = (ops.countsAsUnassigned ?? false) && !this.isRam;
    this.flags =
      (this.flags & ~FROM_OPS) |
      (valid.unaligned ? VALID_UNALIGNED : 0) |
      (impl.unaligned ? IMPL_UNALIGNED : 0) |
      (bigEndian ? BIG_ENDIAN : 0) |
      (countsAsUnassigned ? COUNTS_AS_UNASSIGNED : 0);
    this.readFn = ops.read ?? null;
    this.writeFn = ops.write ?? null;
    this.directSizes = 0;
    for (const size of [1, 2, 4]) {
      const validBySize = this.validMax === 0 || (size >= this.validMin && size <= this.validMax);
      const oneCall = size >= this.implMin && size <= this.implMax;
      const noSwap = size === 1 || !bigEndian;
      if (validBySize && oneCall && noSwap && !this.accepts && this.readFn && this.writeFn && !countsAsUnassigned)
        this.directSizes |= size;
    }
  }

  /** The subregion list in QEMU's order: descending priority, newest first among equals (a copy). */
  get subregions(): MemoryRegion[] {
    return [...this.children].reverse();
  }

  /** QEMU 7.2's memory_region_type(): the word `info mtree` prints. */
  typeName(): string {
    if (this.alias) return this.alias.typeName();
    if (this.isRamDevice) return 'ramd';
    if (this.isRomDevice && this.romdMode) return 'romd';
    if (this.isRam && this.readonly) return 'rom';
    if (this.isRam) return 'ram';
    return 'i/o';
  }

  /** memory_region_add_subregion: priority 0. */
  addSubregion(offset: number | bigint, sub: MemoryRegion): void {
    this.addSubregionOverlap(offset, sub, 0);
  }

  /** memory_region_add_subregion_overlap: insert before the first sibling of lower-or-equal priority. */
  addSubregionOverlap(offset: number | bigint, sub: MemoryRegion, priority: number): void {
    if (sub.container) throw new Error(`region ${sub.name} is already a subregion of ${sub.container.name}`);
    if (sub.host !== this.host) throw new Error(`region ${sub.name} belongs to another memory system`);
    for (let p: MemoryRegion | null = this; p; p = p.container) {
      if (p === sub) throw new Error(`adding ${sub.name} under ${this.name} would make a cycle`);
    }
    if (!Number.isInteger(priority)) throw new RangeError(`priority ${priority} must be an integer`);
    sub.container = this;
    sub.addr = BigInt(offset);
    sub.priority = priority;
    this.insertSubregion(sub);
  }

  /** memory_region_del_subregion. */
  delSubregion(sub: MemoryRegion): void {
    if (sub.container !== this) throw new Error(`region ${sub.name} is not a subregion of ${this.name}`);
    this.host.begin();
    this.host.noteChange(sub);
    this.childIndex?.remove(sub);
    sub.container = null;
    this.children.splice(this.childPosition(sub), 1);
    this.host.markUpdate(this.enabled && sub.enabled);
    this.host.commit();
  }

  /** memory_region_set_address: a move re-inserts the region at the front of its priority group. */
  setAddress(addr: number | bigint): void {
    const a = BigInt(addr);
    if (a === this.addr) return;
    const container = this.container;
    if (!container) {
      // A root renders at its own address (memory.c:render_memory_region adds mr->addr).
      this.host.noteChange(this);
      this.addr = a;
      this.host.noteChange(this);
      return;
    }
    this.host.begin();
    container.delSubregion(this);
    this.container = container;
    this.addr = a;
    container.insertSubregion(this);
    this.host.commit();
  }

  /** memory_region_set_enabled. */
  setEnabled(enabled: boolean): void {
    if (enabled === this.enabled) return;
    this.host.begin();
    this.enabled = enabled;
    this.host.noteChange(this);
    this.host.markUpdate(true);
    this.host.commit();
  }

  /** memory_region_set_size. */
  setSize(size: number | bigint): void {
    const s = BigInt(size);
    if (s === this.size) return;
    if (s < 0n || s > U64_SPAN) throw new RangeError(`region ${this.name}: size ${s} is outside 0..2^64`);
    this.host.begin();
    this.host.noteChange(this);
    this.container?.childIndex?.remove(this);
    this.size = s;
    this.container?.childIndex?.add(this);
    this.host.noteChange(this);
    this.host.markUpdate(true);
    this.host.commit();
  }

  /** memory_region_set_alias_offset. */
  setAliasOffset(offset: number | bigint): void {
    if (!this.alias) throw new Error(`region ${this.name} is not an alias`);
    this.changeFlag(() => {
      const o = BigInt(offset);
      if (o === this.aliasOffset) return false;
      this.aliasOffset = o;
      return true;
    });
  }

  /** memory_region_set_readonly. */
  setReadonly(readonly: boolean): void {
    this.changeFlag(() => this.readonly !== readonly && ((this.readonly = readonly), true));
  }

  /** memory_region_set_nonvolatile. */
  setNonvolatile(nonvolatile: boolean): void {
    this.changeFlag(() => this.nonvolatile !== nonvolatile && ((this.nonvolatile = nonvolatile), true));
  }

  /** memory_region_set_unmergeable. */
  setUnmergeable(unmergeable: boolean): void {
    this.changeFlag(() => this.unmergeable !== unmergeable && ((this.unmergeable = unmergeable), true));
  }

  /** memory_region_rom_device_set_romd: false routes reads to the read callback. */
  setRomdMode(romd: boolean): void {
    if (!this.isRomDevice) throw new Error(`region ${this.name} is not a ROM device`);
    this.changeFlag(() => this.romdMode !== romd && ((this.romdMode = romd), true));
  }

  toString(): string {
    return `MemoryRegion(${this.name})`;
  }

  /**
   * Where sub is in `children`, found by binary search on (priority, insertSeq), the order the list
   * is kept in: a BAR move under a container of 100,000 children should not scan them all.
   */
  private childPosition(sub: MemoryRegion): number {
    const list = this.children;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = list[mid]!;
      if (c.priority < sub.priority || (c.priority === sub.priority && c.insertSeq < sub.insertSeq)) lo = mid + 1;
      else hi = mid;
    }
    return list[lo] === sub ? lo : list.lastIndexOf(sub);
  }

  private insertSubregion(sub: MemoryRegion): void {
    this.host.begin();
    sub.insertSeq = this.host.nextSeq();
    // In QEMU's order: before the first sibling of lower-or-equal priority. Back to front: after
    // the last sibling of lower-or-equal priority, found by binary search.
    const list = this.children;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.priority <= sub.priority) lo = mid + 1;
      else hi = mid;
    }
    if (list === NO_REGIONS) (this as { children: MemoryRegion[] }).children = [sub];
    else if (lo === list.length) list.push(sub);
    else list.splice(lo, 0, sub);
    this.childIndex?.add(sub);
    this.host.noteChange(sub);
    this.host.markUpdate(this.enabled && sub.enabled);
    this.host.commit();
  }

  /** Flag setters: a transaction that marks an update only while the region is enabled. */
  private changeFlag(apply: () => boolean): void {
    this.host.begin();
    if (apply()) {
      this.host.noteChange(this);
      this.host.markUpdate(this.enabled);
    }
    this.host.commit();
  }
}
