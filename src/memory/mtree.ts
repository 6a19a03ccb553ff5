import type { MemoryRegion } from './region.ts';
import type { AddressSpace } from './address-space.ts';
import type { FlatView } from './flat-view.ts';
import { hex16 } from './constants.ts';

/** `info mtree` flags: -f, -o, -D. */
export interface MtreeOptions {
  flat?: boolean;
  owner?: boolean;
  disabled?: boolean;
}

const INDENT = '  ';

/** MR_SIZE: the printed end is start + size - 1, or start itself for a zero size. */
function lastOffset(size: bigint): bigint {
  return size === 0n ? 0n : size - 1n;
}

/** memory.c:mtree_print_mr_owner. */
export function ownerText(mr: MemoryRegion): string {
  const { owner, parent } = mr.owner;
  if (!owner && !parent) return ' orphan';
  let s = owner ? ` owner:{${owner}}` : '';
  if (parent && parent !== owner) s += ` parent:{${parent}}`;
  return s;
}

/** `info mtree [-f] [-o] [-D]` over a set of address spaces, in QEMU 7.2's exact format. */
export function infoMtree(spaces: readonly AddressSpace[], opts: MtreeOptions = {}): string {
  return opts.flat ? mtreeFlat(spaces, opts) : mtreeTree(spaces, opts);
}

/** Tree mode: one group per root region, then every alias target under `memory-region:`. */
function mtreeTree(spaces: readonly AddressSpace[], opts: MtreeOptions): string {
  const out: string[] = [];
  const groups = new Map<MemoryRegion, string[]>();
  for (const as of spaces) {
    const names = groups.get(as.root) ?? [];
    names.push(as.name);
    groups.set(as.root, names);
  }
  const queue = new AliasQueue();
  for (const [root, names] of groups) {
    for (const n of [...names].sort(strcmp)) out.push(`address-space: ${n}\n`);
    printRegion(out, root, queue, opts);
    out.push('\n');
  }
  // The queue grows while it is printed: aliases inside these trees add their targets.
  for (let i = 0; i < queue.list.length; i++) {
    out.push(`memory-region: ${queue.list[i]!.name}\n`);
    printRegion(out, queue.list[i]!, queue, opts);
    out.push('\n');
  }
  return out.join('');
}

/** mtree_print_mr's alias_print_queue: each target once, in the order first met (a set beside it, for big dumps). */
class AliasQueue {
  readonly list: MemoryRegion[] = [];
  private readonly seen = new Set<MemoryRegion>();

  add(mr: MemoryRegion): void {
    if (this.seen.has(mr)) return;
    this.seen.add(mr);
    this.list.push(mr);
  }
}

/** memory.c:mtree_print_mr, with an explicit stack: an imported tree may nest deeper than the JS stack. */
function printRegion(out: string[], top: MemoryRegion, queue: AliasQueue, opts: MtreeOptions): void {
  const stack: { mr: MemoryRegion; level: number; base: bigint }[] = [{ mr: top, level: 1, base: 0n }];
  while (stack.length) {
    const { mr, level, base } = stack.pop()!;
    const start = BigInt.asUintN(64, base + mr.addr);
    const end = BigInt.asUintN(64, start + lastOffset(mr.size));
    const overflow = start < base || end < start ? '[DETECTED OVERFLOW!] ' : '';
    const visible = mr.enabled || opts.disabled;
    const head =
      `${overflow}${INDENT.repeat(level)}${hex16(start)}-${hex16(end)} (prio ${mr.priority}, ` +
      `${mr.nonvolatile ? 'nv-' : ''}${mr.typeName()}): `;
    const tail = `${mr.enabled ? '' : ' [disabled]'}${opts.owner ? ownerText(mr) : ''}\n`;
    if (mr.alias) {
      queue.add(mr.alias);
      if (visible) {
        const from = mr.aliasOffset;
        const to = BigInt.asUintN(64, from + lastOffset(mr.size));
        out.push(`${head}alias ${mr.name} @${mr.alias.name} ${hex16(from)}-${hex16(to)}${tail}`);
      }
    } else if (visible) {
      out.push(`${head}${mr.name}${tail}`);
    }
    // Children by address, then higher priority first; exact ties keep list order. A hidden
    // (disabled) region's children still print, one level deeper than their visible parent.
    const children = [...mr.subregions].sort((a, b) =>
      a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : b.priority - a.priority,
    );
    for (let i = children.length - 1; i >= 0; i--) stack.push({ mr: children[i]!, level: level + 1, base: start });
  }
}

/** Flat mode: one block per distinct FlatView, listing the address spaces that share it. */
function mtreeFlat(spaces: readonly AddressSpace[], opts: MtreeOptions): string {
  const out: string[] = [];
  const views = new Map<FlatView, AddressSpace[]>();
  for (const as of spaces) {
    const list = views.get(as.view) ?? [];
    list.push(as);
    views.set(as.view, list);
  }
  let n = 0;
  for (const [view, list] of views) {
    out.push(`FlatView #${n++}\n`);
    for (const as of list) {
      out.push(` AS "${as.name}", root: ${as.root.name}${as.root.alias ? `, alias ${as.root.alias.name}` : ''}\n`);
    }
    out.push(` Root memory region: ${view.root ? view.root.name : '(none)'}\n`);
    if (view.ranges.length === 0) {
      out.push(`${INDENT}No rendered FlatView\n\n`);
      continue;
    }
    for (const r of view.ranges) {
      const type = r.readonly ? 'rom' : r.mr.typeName();
      const off = r.offsetInRegion !== 0n ? ` @${hex16(r.offsetInRegion)}` : '';
      out.push(
        `${INDENT}${hex16(r.start)}-${hex16(r.start + lastOffset(r.size))} (prio ${r.mr.priority}, ` +
          `${r.nonvolatile ? 'nv-' : ''}${type}): ${r.mr.name}${off}${opts.owner ? ownerText(r.mr) : ''}\n`,
      );
    }
    out.push('\n');
  }
  return out.join('');
}

/** g_strcmp0 on ASCII names: byte order, so upper case sorts before lower case. */
function strcmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
