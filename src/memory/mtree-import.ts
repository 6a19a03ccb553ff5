import { MemorySystem } from './memory-system.ts';
import type { MemoryRegion } from './region.ts';
import type { AddressSpace } from './address-space.ts';
import { unassignedIoOps, type MemoryRegionOps } from './ops.ts';
import {
  MtreeImportError,
  MAX_MTREE_DEPTH,
  splitSegments,
  isTree,
  parseTree,
  preorder,
  relativeStart,
  type MtreeNode,
} from './mtree-parse.ts';
import {
  collectFlatEvidence,
  settleReadonlyAliases,
  checkFlatViews,
  restoreHiddenBusMasters,
} from './mtree-evidence.ts';

export { MtreeImportError, MAX_MTREE_DEPTH } from './mtree-parse.ts';

/** A QEMU dump rebuilt as live regions and address spaces. */
export interface ImportedMtree {
  mem: MemorySystem;
  /** In QEMU's registration order where the dump shows it (the -f output), else tree order. */
  spaces: AddressSpace[];
  /** Which monitor command's output the tree came from. */
  treeCommand: string;
  /** Things the dump cannot tell, and the guess made. */
  notes: string[];
}

/** Placeholder behaviour for imported devices: the dump has their layout, not their registers. */
const INERT_OPS: MemoryRegionOps = { read: () => 0, write: () => {} };
/** RamBlock's limit: larger RAM cannot be backed, even sparsely. */
const MAX_RAM = 2n ** 48n;

/**
 * Rebuilds regions, aliases, priorities, types and disabled flags from the text of QEMU's
 * `info mtree` (optionally with -D and -o; `(qemu)` prompts and other commands' output are skipped).
 * A `-f` dump in the same file, when present, settles what the tree alone cannot: which `i/o`
 * regions terminate (fill their holes), which aliases are read-only, and the address spaces'
 * registration order. Cycles, inverted ranges and nesting past MAX_MTREE_DEPTH are refused with
 * the line; nothing here recurses, so no input can overflow the stack.
 */
export function importQemuMtree(text: string, file = '<input>'): ImportedMtree {
  const segments = splitSegments(text);
  const trees = segments.filter((s) => isTree(s));
  if (trees.length === 0)
    throw new MtreeImportError(
      file,
      1,
      'no `info mtree` tree output found (expected lines starting with "address-space:")',
    );
  const score = (s: { command: string | null }) =>
    (/-D\b/.test(s.command ?? '') ? 2 : 0) + (/-o\b/.test(s.command ?? '') ? 1 : 0);
  const tree = trees.reduce((best, s) => (score(s) > score(best) ? s : best));
  const flat = collectFlatEvidence(segments);
  const notes: string[] = [];

  const parsed = parseTree(tree, file);
  const { groups, sections } = parsed;
  if (groups.length === 0)
    throw new MtreeImportError(
      file,
      sections[0]?.line ?? 1,
      'the tree has no "address-space:" block, only memory-region sections: the file looks truncated',
    );
  const mem = new MemorySystem();
  const byName = new Map<string, MtreeNode[]>();
  const index = (root: MtreeNode): void => {
    for (const n of preorder([root])) {
      if (n.hidden || n.alias) continue;
      const same = byName.get(n.name);
      if (same) same.push(n);
      else byName.set(n.name, [n]);
    }
  };
  groups.forEach((g) => index(g.root));

  // A memory-region section re-prints a region already in an address-space tree, or defines one.
  const sectionRoot = new Map<string, MtreeNode>();
  for (const s of sections) {
    const same = s.root.hidden
      ? undefined
      : byName.get(s.name)?.find((n) => n.size === s.root.size && relativeStart(n) === s.root.start);
    if (same) {
      sectionRoot.set(s.name, same);
    } else {
      sectionRoot.set(s.name, s.root);
      index(s.root);
    }
  }
  restoreHiddenBusMasters(parsed, /-D\b/.test(tree.command ?? ''), (name) => sectionRoot.get(name), notes);

  const roots = [...groups.map((g) => g.root), ...sections.map((s) => sectionRoot.get(s.name)!)];
  const nodes = preorder(roots);
  // A memory-region section names the target exactly; otherwise the first region of that name.
  const targetOf = new Map<MtreeNode, MtreeNode>();
  for (const n of nodes) {
    if (!n.alias) continue;
    const target = sectionRoot.get(n.alias.target) ?? byName.get(n.alias.target)?.[0];
    if (!target)
      throw new MtreeImportError(
        file,
        n.line,
        `alias ${n.name} targets "${n.alias.target}", but no region of that name is printed (no ` +
          `"memory-region: ${n.alias.target}" section)`,
      );
    targetOf.set(n, target);
  }
  checkShape(roots, targetOf, file);

  const ioRoots = new Set(groups.filter((g) => g.names.includes('I/O')).map((g) => g.root));
  const regionOf = new Map<MtreeNode, MemoryRegion>();
  for (const n of nodes)
    if (!n.alias) regionOf.set(n, makeRegion(mem, n, terminates(n, flat.names, ioRoots, notes), ioRoots.has(n), file));
  for (const n of nodes) if (n.alias) createAlias(mem, n, targetOf, regionOf, notes);
  mem.transaction(() => {
    for (const n of nodes) {
      const mr = regionOf.get(n)!;
      // In reverse printed order, so exact ties keep the printed (list) order.
      for (let i = n.children.length - 1; i >= 0; i--) {
        const c = n.children[i]!;
        if (!regionOf.get(c)!.container) mr.addSubregionOverlap(relativeStart(c), regionOf.get(c)!, c.priority);
      }
    }
  });

  const order = new Map(flat.asOrder.map((name, i) => [name, i]));
  const entries = groups.flatMap((g) => g.names.map((name) => ({ name, root: regionOf.get(g.root)! })));
  entries.sort((a, b) => (order.get(a.name) ?? Infinity) - (order.get(b.name) ?? Infinity));
  const spaces = entries.map((e) => mem.addressSpace(e.name, e.root));
  const lineOf = new Map([...regionOf].map(([n, mr]) => [mr, n.line]));
  mem.transaction(() => settleReadonlyAliases(spaces, flat, lineOf, notes)); // one re-render, however many aliases
  checkFlatViews(spaces, flat, notes);
  return { mem, spaces, treeCommand: tree.command ?? 'info mtree', notes };
}

/**
 * Refuses what QEMU could never render: a cycle through aliases and containment (an alias to
 * itself, or to a region that holds it), and nesting deeper than MAX_MTREE_DEPTH counting alias
 * hops. An iterative depth-first walk, remembering each node's depth below it.
 */
function checkShape(roots: readonly MtreeNode[], targetOf: Map<MtreeNode, MtreeNode>, file: string): void {
  const below = new Map<MtreeNode, number>();
  const onPath = new Set<MtreeNode>();
  const edgesOf = (n: MtreeNode): MtreeNode[] => (targetOf.has(n) ? [...n.children, targetOf.get(n)!] : n.children);
  for (const root of roots) {
    if (below.has(root)) continue;
    const stack: { n: MtreeNode; edges: MtreeNode[]; next: number }[] = [{ n: root, edges: edgesOf(root), next: 0 }];
    onPath.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.next === top.edges.length) {
        stack.pop();
        onPath.delete(top.n);
        below.set(top.n, 1 + top.edges.reduce((m, e) => Math.max(m, below.get(e)!), 0));
        continue;
      }
      const e = top.edges[top.next++]!;
      if (onPath.has(e)) {
        const what = e === top.n ? 'itself' : `"${e.name}" (line ${e.line}), which leads back to this alias`;
        throw new MtreeImportError(
          file,
          top.n.line,
          `alias ${top.n.name} targets ${what}: a cycle (QEMU would recurse forever rendering it)`,
        );
      }
      const known = below.get(e);
      if (known === undefined) {
        stack.push({ n: e, edges: edgesOf(e), next: 0 });
        onPath.add(e);
      }
      if (stack.length + (known ?? 0) > MAX_MTREE_DEPTH) {
        throw new MtreeImportError(
          file,
          top.n.line,
          `nesting through ${top.n.alias ? `alias ${top.n.name}` : top.n.name} goes deeper than ` +
            `${MAX_MTREE_DEPTH} levels (counting alias hops); QEMU's machines nest under 20`,
        );
      }
    }
  }
}

/** Which `i/o` regions fill their holes: the -f evidence, else QEMU's usual shapes. */
function terminates(n: MtreeNode, flatNames: Set<string> | null, ioRoots: Set<MtreeNode>, notes: string[]): boolean {
  if (n.type !== 'i/o') return n.type !== 'container';
  if (n.hidden) return false;
  if (flatNames) return flatNames.has(n.name);
  if (ioRoots.has(n)) return true; // the "io" root uses unassigned_io_ops (system/ioport.c)
  if (n.children.length > 0) {
    notes.push(
      `line ${n.line}: ${n.name} has children and no -f output says whether it terminates; taken as a pure container`,
    );
    return false;
  }
  return !/container/.test(n.name);
}

function makeRegion(mem: MemorySystem, n: MtreeNode, term: boolean, isIoRoot: boolean, file: string): MemoryRegion {
  if (['ram', 'rom', 'romd', 'ramd'].includes(n.type) && n.size > MAX_RAM) {
    throw new MtreeImportError(
      file,
      n.line,
      `${n.type} region ${n.name} of 0x${n.size.toString(16)} bytes is larger than vdm can back (2^48 bytes)`,
    );
  }
  let mr: MemoryRegion;
  switch (n.type) {
    case 'ram':
      mr = mem.ram(n.name, n.size);
      break;
    case 'rom':
      mr = mem.rom(n.name, n.size);
      break;
    case 'romd':
      mr = mem.romDevice(n.name, n.size, INERT_OPS);
      break;
    case 'ramd':
      mr = mem.ramDevice(n.name, n.size);
      break;
    default:
      mr = term ? mem.io(n.name, n.size, isIoRoot ? unassignedIoOps : INERT_OPS) : mem.container(n.name, n.size);
  }
  applyFlags(n, mr);
  return mr;
}

/** Creates `n`'s alias after any alias it targets (an alias of an alias), without recursion. */
function createAlias(
  mem: MemorySystem,
  n: MtreeNode,
  targetOf: Map<MtreeNode, MtreeNode>,
  regionOf: Map<MtreeNode, MemoryRegion>,
  notes: string[],
): void {
  const chain: MtreeNode[] = [];
  // acyclic: checkShape
  for (let a: MtreeNode | undefined = n; a && !regionOf.has(a); a = targetOf.get(a)) chain.push(a);
  for (let i = chain.length - 1; i >= 0; i--) {
    const a = chain[i]!;
    const target = regionOf.get(targetOf.get(a)!)!;
    if (target.typeName() !== a.type && a.type !== 'container') {
      notes.push(
        `line ${a.line}: alias ${a.name} is printed as ${a.type} but its target ${a.alias!.target} is ` +
          `${target.typeName()}`,
      );
    }
    const mr = mem.alias(a.name, target, a.alias!.offset, a.size);
    applyFlags(a, mr);
    regionOf.set(a, mr);
  }
}

function applyFlags(n: MtreeNode, mr: MemoryRegion): void {
  if (n.disabled) mr.setEnabled(false);
  if (n.nonvolatile) mr.setNonvolatile(true);
  mr.owner = { owner: n.owner, parent: n.parent };
}
