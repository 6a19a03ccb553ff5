import { MemoryRegion, type RamDeviceBacking, type TopologyHost } from './region.ts';
import { RamBlock } from '../common/ram-block.ts';
import type { MemoryRegionOps } from './ops.ts';
import { unassignedMemOps } from './ops.ts';
import { AddressSpace } from './address-space.ts';
import { FlatView, type FlatRange, type MemoryRegionSection } from './flat-view.ts';
import { renderFlatView } from './render.ts';
import { renderWindows, coalesce } from './render-windows.ts';
import { patchView, NO_CHANGE, type ViewPatch } from './view-patch.ts';
import { checkCommit, checkDispatches } from './render-check.ts';
import type { MemoryListener } from './listener.ts';
import { toBig, U64_SPAN } from './constants.ts';

export interface MemorySystemOptions {
  /** Byte order of the target, used by devices declared 'native' (QEMU's DEVICE_NATIVE_ENDIAN). */
  targetEndian?: 'little' | 'big';
  /**
   * Re-render only where regions changed and patch the views in place (the default). False renders
   * every view from scratch on every commit, as QEMU's flatviews_reset does; so does the
   * environment variable VDM_FULL_RENDER=1 when the option is not given.
   */
  incremental?: boolean;
  /**
   * After every commit, also render every view from scratch and compare: ranges, listener events
   * and dispatch answers; a difference throws a RenderMismatchError. Default: the environment
   * variable VDM_CHECK_RENDER=1. Slow: for tests and for hunting a suspected render bug.
   */
  checkRender?: boolean;
}

/** Counters of the topology machinery, for reports and benchmarks. */
export interface TopologyStats {
  /** Outermost commits that rebuilt the views. */
  rebuilds: number;
  /** FlatViews rendered from scratch (a root seen for the first time, or a commit that falls back). */
  renders: number;
  /** Views patched in place by an incremental render (at most one per view per rebuild). */
  patches: number;
  /**
   * Full renders that rendering from scratch would have cost: one per distinct root per rebuild,
   * plus address-space creation (what `renders` counted before incremental rendering).
   */
  fullRenderEquivalents: number;
  /** Time spent in those rebuilds (render, patch, listener events), in ms. */
  commitMs: number;
}

/** Upward steps one change may take to find where it renders before the commit renders everything. */
const WINDOW_BUDGET = 100_000;
/** Windows pending before a full render is cheaper than patching them one by one. */
const MAX_WINDOWS = 50_000;

function envFlag(name: string): boolean {
  return typeof process !== 'undefined' && process.env?.[name] === '1';
}

/**
 * One machine's memory: region factory, the transaction depth and pending flags, the address spaces
 * and the global listener list. QEMU keeps these as globals in memory.c; vdm keeps one object per
 * machine so several machines (and tests) can live side by side.
 */
export class MemorySystem implements TopologyHost {
  readonly targetBigEndian: boolean;
  readonly addressSpaces: AddressSpace[] = [];
  /** Every registered listener, by priority: begin/commit go to all of them. */
  readonly globalListeners: MemoryListener[] = [];
  readonly stats: TopologyStats = { rebuilds: 0, renders: 0, patches: 0, fullRenderEquivalents: 0, commitMs: 0 };
  readonly checkRender: boolean;
  private incrementalOn: boolean;
  private depth = 0;
  private updatePending = false;
  private seq = 0;
  /** memory.c's flat_views hash: the current view of each flatview root. */
  private views = new Map<MemoryRegion | null, FlatView>();
  private readonly emptyView = new FlatView(null, []);
  /** Where each view must be re-rendered at the next commit (windows of the changed regions). */
  private dirty = new Map<FlatView, [bigint, bigint][]>();
  private dirtyWindows = 0;
  /** Set when a change's windows are too costly to track: the next commit renders from scratch. */
  private renderAll = false;

  constructor(options: MemorySystemOptions = {}) {
    this.targetBigEndian = options.targetEndian === 'big';
    this.incrementalOn = options.incremental ?? !envFlag('VDM_FULL_RENDER');
    this.checkRender = options.checkRender ?? envFlag('VDM_CHECK_RENDER');
    this.views.set(null, this.emptyView);
  }

  /** Whether commits patch the views (true) or render them from scratch. */
  get incremental(): boolean {
    return this.incrementalOn;
  }

  /**
   * Switches between patching and rendering from scratch, between transactions (benchmarks compare
   * both on one tree). The next commit renders from scratch either way: nothing was noted meanwhile.
   */
  setIncremental(on: boolean): void {
    if (this.depth > 0) throw new Error('setIncremental inside a memory transaction');
    this.incrementalOn = on;
    this.dirty.clear();
    this.dirtyWindows = 0;
    this.renderAll = true;
  }

  /** A pure container (memory_region_init). */
  container(name: string, size: number | bigint): MemoryRegion {
    return new MemoryRegion(this, name, 'container', toBig(size, `region ${name} size`));
  }

  /** An MMIO or I/O region with callbacks (memory_region_init_io). */
  io(name: string, size: number | bigint, ops: MemoryRegionOps): MemoryRegion {
    const mr = new MemoryRegion(this, name, 'io', toBig(size, `region ${name} size`));
    mr.setOps(ops);
    return mr;
  }

  /** A reservation: terminates, refuses every access (memory_region_init_io with NULL ops). */
  reservation(name: string, size: number | bigint): MemoryRegion {
    const mr = new MemoryRegion(this, name, 'reservation', toBig(size, `region ${name} size`));
    mr.setOps(unassignedMemOps);
    return mr;
  }

  /** Guest RAM (memory_region_init_ram). */
  ram(name: string, size: number | bigint): MemoryRegion {
    const s = toBig(size, `region ${name} size`);
    return new MemoryRegion(this, name, 'ram', s, new RamBlock(Number(s)));
  }

  /** ROM: RAM that is readonly (memory_region_init_rom). */
  rom(name: string, size: number | bigint): MemoryRegion {
    const s = toBig(size, `region ${name} size`);
    return new MemoryRegion(this, name, 'rom', s, new RamBlock(Number(s)));
  }

  /** A ROM device: reads from RAM in romd mode, writes to callbacks (memory_region_init_rom_device). */
  romDevice(name: string, size: number | bigint, ops: MemoryRegionOps): MemoryRegion {
    const s = toBig(size, `region ${name} size`);
    const mr = new MemoryRegion(this, name, 'romd', s, new RamBlock(Number(s)));
    mr.setOps(ops);
    return mr;
  }

  /** Memory standing for an mmapped device range (memory_region_init_ram_device_ptr), shown as `ramd`. */
  ramDevice(name: string, size: number | bigint, backing?: RamDeviceBacking): MemoryRegion {
    const s = toBig(size, `region ${name} size`);
    return new MemoryRegion(this, name, 'ramd', s, null, backing ?? new RamBlock(Number(s)));
  }

  /** An alias of `target` starting at `offset` (memory_region_init_alias). */
  alias(name: string, target: MemoryRegion, offset: number | bigint, size: number | bigint): MemoryRegion {
    if (target.host !== this) throw new Error(`alias ${name}: target ${target.name} belongs to another memory system`);
    const mr = new MemoryRegion(this, name, 'alias', toBig(size, `alias ${name} size`), null, null, target);
    mr.aliasOffset = toBig(offset, `alias ${name} offset`);
    return mr;
  }

  /** address_space_init: renders its own view at once, sharing one with the same flatview root. */
  addressSpace(name: string, root: MemoryRegion): AddressSpace {
    if (root.host !== this)
      throw new Error(`address space ${name}: root ${root.name} belongs to another memory system`);
    const as = new AddressSpace(this, name, root);
    this.addressSpaces.push(as);
    const renders = this.stats.renders;
    as.setFlatView(this.viewOf(flatViewRoot(root)));
    this.stats.fullRenderEquivalents += this.stats.renders - renders; // QEMU also renders only a new root
    return as;
  }

  /** address_space_destroy. */
  removeAddressSpace(as: AddressSpace): void {
    const i = this.addressSpaces.indexOf(as);
    if (i < 0) throw new Error(`address space ${as.name} is not registered`);
    for (const l of [...as.listeners]) as.removeListener(l);
    this.addressSpaces.splice(i, 1);
    // address_space_destroy commits it with no root: an empty view that later commits never patch
    // (keeping the shared one would leave its fast paths to name sections those commits free).
    as.setFlatView(this.emptyView);
  }

  /** Runs fn inside one transaction: the views are rebuilt once, at the outermost commit. */
  transaction<T>(fn: () => T): T {
    this.begin();
    try {
      return fn();
    } finally {
      this.commit();
    }
  }

  /** memory_region_transaction_begin. */
  begin(): void {
    this.depth++;
  }

  /**
   * memory_region_transaction_commit: at depth 0 with an update pending, bring every view up to
   * date and notify. QEMU renders every view from scratch here; vdm re-renders only the windows
   * where changed regions render and patches the views in place, with the same result and the
   * same listener events (checkRender proves it commit by commit).
   */
  commit(): void {
    if (this.depth === 0) throw new Error('memory transaction commit without a matching begin');
    if (--this.depth > 0 || !this.updatePending) return;
    const t0 = performance.now();
    this.stats.rebuilds++;
    const roots = this.addressSpaces.map((as) => flatViewRoot(as.root));
    const needed = new Set(roots);
    needed.delete(null);
    this.stats.fullRenderEquivalents += needed.size;
    const before = this.checkRender ? this.addressSpaces.map((as) => as.view.ranges.slice()) : null;
    const patches = new Map<FlatView, ViewPatch>();
    // Address spaces moving to another root keep the ranges they had, if that view gets patched.
    const previous: (readonly FlatRange[] | undefined)[] = [];
    if (this.incremental && !this.renderAll) {
      // The views and their dispatches are patched in place below, while the listeners this commit
      // calls may still access an address space that has not been given its new view yet: its fast
      // paths (page index, offsets, callbacks, windows) would name sections that are gone or reused.
      for (const as of this.addressSpaces) as.closeWindows();
      this.addressSpaces.forEach((as, i) => {
        if (as.listeners.length > 0 && as.view.root !== roots[i] && this.dirty.has(as.view))
          previous[i] = as.view.ranges.slice();
      });
      for (const [root, view] of this.views) {
        if (root === null) continue;
        if (!needed.has(root)) {
          this.views.delete(root); // flatviews_reset drops it; a later user renders it afresh
          continue;
        }
        const dirty = this.dirty.get(view);
        if (!dirty) {
          patches.set(view, NO_CHANGE);
          continue;
        }
        // When the changes meet a large part of a large view, one render of all of it is cheaper.
        const windows = coalesce(dirty);
        const patch = patchView(
          view,
          view.ranges.length >= 1024 && windows.length > view.ranges.length / 4 ? [[0n, U64_SPAN]] : windows,
        );
        patches.set(view, patch);
        this.stats.patches++;
        // The view's dispatch, if compiled, is patched for the same intervals (tables outside them kept).
        if (patch.slices.length > 0) view.dispatch?.update(view, patch.changed);
      }
    } else {
      this.views = new Map([[null, this.emptyView]]); // flatviews_reset: every view from scratch
    }
    this.dirty.clear();
    this.dirtyWindows = 0;
    this.renderAll = false;
    const next = roots.map((root) => this.viewOf(root));
    const update = (i: number): ViewPatch | null =>
      this.addressSpaces[i]!.view === next[i] ? (patches.get(next[i]!) ?? null) : null;
    if (before) checkCommit(this.addressSpaces, before, next, update, previous);
    for (const l of this.globalListeners) l.emit('begin');
    this.addressSpaces.forEach((as, i) => as.setFlatView(next[i]!, update(i), previous[i]));
    if (before) checkDispatches(this.addressSpaces);
    this.updatePending = false;
    for (const l of this.globalListeners) l.emit('commit');
    this.stats.commitMs += performance.now() - t0;
  }

  /** Notes where mr renders now, in every current view, for the next commit (TopologyHost). */
  noteChange(mr: MemoryRegion): void {
    if (!this.incremental || this.renderAll || this.views.size === 1) return;
    const ok = renderWindows(
      mr,
      (r) => this.views.has(r),
      (root, start, end) => {
        const view = this.views.get(root)!;
        let list = this.dirty.get(view);
        if (!list) this.dirty.set(view, (list = []));
        list.push([start, end]);
        this.dirtyWindows++;
      },
      WINDOW_BUDGET,
    );
    if (!ok || this.dirtyWindows > MAX_WINDOWS) {
      this.renderAll = true;
      this.dirty.clear();
    }
  }

  markUpdate(flag: boolean): void {
    if (flag) this.updatePending = true;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * memory_region_find: the first range of the root's view that overlaps [addr, addr+size), clipped
   * to it. Returns null when no address space has mr's root as its root, or nothing is there.
   */
  find(
    mr: MemoryRegion,
    addr: number | bigint,
    size: number | bigint,
  ): (MemoryRegionSection & { as: AddressSpace }) | null {
    // QEMU sums the addr of mr and of every ancestor, the root's own included.
    let root = mr;
    let base = mr.addr;
    while (root.container) {
      root = root.container;
      base += root.addr;
    }
    const as = this.addressSpaces.find((a) => a.root === root);
    if (!as) return null;
    const start = base + BigInt(addr);
    const end = start + BigInt(size);
    const ranges = as.view.ranges;
    const i = as.view.firstEndingAfter(start);
    const fr = ranges[i];
    if (!fr || fr.start >= end) return null;
    const s = fr.start > start ? fr.start : start;
    const e = fr.start + fr.size < end ? fr.start + fr.size : end;
    return {
      as,
      mr: fr.mr,
      offsetWithinRegion: fr.offsetInRegion + (s - fr.start),
      size: e - s,
      offsetWithinAddressSpace: s,
      readonly: fr.readonly,
      nonvolatile: fr.nonvolatile,
      unmergeable: fr.unmergeable,
    };
  }

  /** The current view of a flatview root, rendering it if there is none. */
  private viewOf(physRoot: MemoryRegion | null): FlatView {
    let view = this.views.get(physRoot);
    if (!view) {
      view = renderFlatView(physRoot);
      this.stats.renders++;
      this.views.set(physRoot, view);
    }
    return view;
  }
}

/**
 * memory.c:memory_region_get_flatview_root — walk down whole-covering aliases and single enabled
 * children so address spaces can share views; null (the shared empty view) when nothing is enabled.
 */
export function flatViewRoot(mr: MemoryRegion): MemoryRegion | null {
  for (;;) {
    if (!mr.enabled) return null;
    if (mr.alias) {
      if (mr.aliasOffset === 0n && mr.size >= mr.alias.size) {
        mr = mr.alias;
        continue;
      }
    } else if (!mr.terminates) {
      let found = 0;
      let next: MemoryRegion | null = null;
      for (const child of mr.children) {
        if (!child.enabled) continue;
        if (++found > 1) {
          next = null;
          break;
        }
        if (child.addr === 0n && mr.size >= child.size) next = child;
      }
      if (found === 0) return null;
      if (next) {
        mr = next;
        continue;
      }
    }
    return mr;
  }
}
