import { BadInputError } from '../util/errors.ts';
import { MemorySystem } from './memory-system.ts';
import type { MemoryRegion } from './region.ts';
import type { AddressSpace } from './address-space.ts';
import { unassignedIoOps, type MemoryRegionOps } from './ops.ts';
import { U64_SPAN } from './constants.ts';

/** Bad importer input: names the file and line. */
export class MtreeImportError extends BadInputError {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'MtreeImportError';
  }
}

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

interface Segment {
  command: string | null;
  lines: { text: string; no: number }[];
}

interface Node {
  name: string;
  start: bigint;
  size: bigint;
  priority: number;
  type: string;
  nonvolatile: boolean;
  disabled: boolean;
  owner?: string;
  parent?: string;
  alias?: { target: string; offset: bigint };
  children: Node[];
  line: number;
  hidden: boolean;
  up?: Node;
  region?: MemoryRegion;
}

const TYPES = new Set(['ram', 'rom', 'romd', 'ramd', 'i/o', 'container']);
const REGION_LINE = /^(\[DETECTED OVERFLOW!\] )?( *)([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), (nv-)?([^)]*)\): (.*)$/;
const LOOKS_LIKE_REGION = /^(\[DETECTED OVERFLOW!\] )?\s*[0-9a-f]{4,}/;
const OWNER_SUFFIX = /(?: owner:\{([^}]*)\})?(?: parent:\{([^}]*)\})?$/;
const ALIAS = /^alias (.+) @(.+) ([0-9a-f]{16})-([0-9a-f]{16})$/;
const FLAT_RANGE = /^  [0-9a-f]{16}-[0-9a-f]{16} \(prio -?\d+, (?:nv-)?[^)]*\): (.*)$/;
const FLAT_AS = /^ AS "(.*)", root: /;
const HIDDEN = '(hidden disabled region)';
/** Placeholder behaviour for imported devices: the dump has their layout, not their registers. */
const INERT_OPS: MemoryRegionOps = { read: () => 0, write: () => {} };

/**
 * Rebuilds regions, aliases, priorities, types and disabled flags from the text of QEMU's
 * `info mtree` (optionally with -D and -o; `(qemu)` prompts and other commands' output are skipped).
 * A `-f` dump in the same file, when present, settles what the tree alone cannot: which `i/o`
 * regions terminate (fill their holes) and the address spaces' registration order.
 */
export function importQemuMtree(text: string, file = '<input>'): ImportedMtree {
  const segments = splitSegments(text);
  const trees = segments.filter((s) => isTree(s));
  if (trees.length === 0) throw new MtreeImportError(file, 1, 'no `info mtree` tree output found (expected lines starting with "address-space:")');
  const score = (s: Segment) => (/-D\b/.test(s.command ?? '') ? 2 : 0) + (/-o\b/.test(s.command ?? '') ? 1 : 0);
  const tree = trees.reduce((best, s) => (score(s) > score(best) ? s : best));
  const flat = collectFlatEvidence(segments);
  const notes: string[] = [];

  const { groups, sections } = parseTree(tree, file);
  const mem = new MemorySystem();
  const byName = new Map<string, Node[]>();
  const visit = (n: Node): void => {
    if (!n.hidden && !n.alias) byName.set(n.name, [...(byName.get(n.name) ?? []), n]);
    n.children.forEach(visit);
  };
  groups.forEach((g) => visit(g.root));

  // A memory-region section re-prints a region already in an address-space tree, or defines one.
  const sectionRoot = new Map<string, Node>();
  for (const s of sections) {
    const same = s.root.hidden ? undefined : byName.get(s.name)?.find((n) => n.size === s.root.size && relativeStart(n) === s.root.start);
    if (same) {
      sectionRoot.set(s.name, same);
    } else {
      sectionRoot.set(s.name, s.root);
      visit(s.root);
    }
  }

  const roots = [...groups.map((g) => g.root), ...sections.map((s) => sectionRoot.get(s.name)!)].filter((n, i, a) => a.indexOf(n) === i);
  const ioRoots = new Set(groups.filter((g) => g.names.includes('I/O')).map((g) => g.root));
  const create = (n: Node): void => {
    if (!n.alias) n.region = makeRegion(mem, n, terminates(n, flat.names, ioRoots, notes), ioRoots.has(n));
    n.children.forEach(create);
  };
  roots.forEach(create);
  const createAliases = (n: Node): void => {
    if (n.alias) {
      // A memory-region section names the target exactly; otherwise the first region of that name.
      const target = sectionRoot.get(n.alias.target) ?? byName.get(n.alias.target)?.[0];
      if (!target?.region) {
        throw new MtreeImportError(file, n.line, `alias ${n.name} targets "${n.alias.target}", but no region of that name is printed (no "memory-region: ${n.alias.target}" section)`);
      }
      if (target.region.typeName() !== n.type && n.type !== 'container') {
        notes.push(`line ${n.line}: alias ${n.name} is printed as ${n.type} but its target ${n.alias.target} is ${target.region.typeName()}`);
      }
      n.region = mem.alias(n.name, target.region, n.alias.offset, n.size);
      applyFlags(n);
    }
    n.children.forEach(createAliases);
  };
  roots.forEach(createAliases);
  mem.transaction(() => roots.forEach((r) => assemble(r)));

  const order = new Map(flat.asOrder.map((name, i) => [name, i]));
  const entries = groups.flatMap((g) => g.names.map((name) => ({ name, root: g.root.region! })));
  entries.sort((a, b) => (order.get(a.name) ?? Infinity) - (order.get(b.name) ?? Infinity));
  const spaces = entries.map((e) => mem.addressSpace(e.name, e.root));
  return { mem, spaces, treeCommand: tree.command ?? 'info mtree', notes };
}

function splitSegments(text: string): Segment[] {
  const segments: Segment[] = [{ command: null, lines: [] }];
  text.split(/\r?\n/).forEach((raw, i) => {
    const prompt = /^\(qemu\) ?(.*)$/.exec(raw);
    if (prompt) segments.push({ command: prompt[1]!.trim(), lines: [] });
    else segments[segments.length - 1]!.lines.push({ text: raw, no: i + 1 });
  });
  return segments;
}

function isTree(s: Segment): boolean {
  if (s.command !== null) return /^info mtree\b/.test(s.command) && !/-f\b/.test(s.command);
  return s.lines.some((l) => l.text.startsWith('address-space: '));
}

/** Names of rendered ranges and the address-space order, from any `-f` output in the file. */
function collectFlatEvidence(segments: Segment[]): { names: Set<string> | null; asOrder: string[] } {
  const flats = segments.filter((s) => (s.command !== null ? /^info mtree\b.*-f\b/.test(s.command) : s.lines.some((l) => l.text.startsWith('FlatView #'))));
  if (flats.length === 0) return { names: null, asOrder: [] };
  const names = new Set<string>();
  const asOrder: string[] = [];
  for (const s of flats) {
    for (const { text } of s.lines) {
      const as = FLAT_AS.exec(text);
      if (as && !asOrder.includes(as[1]!)) asOrder.push(as[1]!);
      const r = FLAT_RANGE.exec(text);
      if (!r) continue;
      let rest = r[1]!.replace(/ orphan$/, '').replace(OWNER_SUFFIX, '');
      rest = rest.replace(/ (kvm|hvf|whpx|nvmm|hax|xen|tcg)$/, '').replace(/ @[0-9a-f]{16}$/, '');
      names.add(rest);
    }
  }
  return { names, asOrder };
}

function parseTree(seg: Segment, file: string) {
  const groups: { names: string[]; root: Node }[] = [];
  const sections: { name: string; root: Node }[] = [];
  let pendingNames: string[] = [];
  let current: { kind: 'as' | 'section'; name: string; line: number; stack: Node[]; root?: Node } | null = null;

  const finish = (): void => {
    if (!current) return;
    if (!current.root) throw new MtreeImportError(file, current.line, `${current.kind === 'as' ? 'address-space' : 'memory-region'} "${current.name}" has no tree: the file looks truncated`);
    if (current.kind === 'as') groups.push({ names: pendingNames, root: current.root });
    else sections.push({ name: current.name, root: current.root });
    pendingNames = [];
    current = null;
  };

  for (const { text, no } of seg.lines) {
    if (text.startsWith('address-space: ')) {
      if (current?.root) finish();
      pendingNames.push(text.slice('address-space: '.length));
      current ??= { kind: 'as', name: pendingNames[0]!, line: no, stack: [] };
      continue;
    }
    if (text.startsWith('memory-region: ')) {
      finish();
      current = { kind: 'section', name: text.slice('memory-region: '.length), line: no, stack: [] };
      continue;
    }
    if (text.trim() === '') {
      finish();
      continue;
    }
    if (!LOOKS_LIKE_REGION.test(text)) continue; // another command's output or a banner
    if (!current) throw new MtreeImportError(file, no, 'region line outside any "address-space:" or "memory-region:" block');
    const { node, level } = parseRegionLine(text, no, file);
    const stack = current.stack; // stack[i] is the open region at level i + 1
    if (level < 1) throw new MtreeImportError(file, no, 'region line is not indented');
    if (!current.root) {
      // Without -D a disabled region's line is left out and its children print one level deeper;
      // a section's hidden root is the section's own region.
      current.root = level === 1 ? node : hiddenNode(current.kind === 'section' ? current.name : HIDDEN, 0n, no);
      if (level > 1) stack[0] = current.root;
    } else if (level === 1) {
      throw new MtreeImportError(file, no, `a second root line in the tree of "${current.name}"`);
    }
    for (let l = stack.length + 1; l < level; l++) {
      const hidden = hiddenNode(HIDDEN, stack[l - 2]!.start, no);
      adopt(stack[l - 2]!, hidden);
      stack[l - 1] = hidden;
    }
    stack.length = level - 1;
    if (level > 1) adopt(stack[level - 2]!, node);
    stack.push(node);
  }
  finish();
  // Hidden regions get the extent of what they hold (the dump does not print theirs).
  const fit = (n: Node): void => {
    n.children.forEach(fit);
    if (n.hidden && n.children.length) {
      const end = n.children.reduce((m, c) => (c.start + c.size > m ? c.start + c.size : m), 0n);
      if (end > n.start) n.size = end - n.start;
    }
  };
  groups.forEach((g) => fit(g.root));
  sections.forEach((sct) => fit(sct.root));
  return { groups, sections };
}

function adopt(parent: Node, child: Node): void {
  parent.children.push(child);
  child.up = parent;
}

/** A region's own `addr` (relative to its container), from the absolute starts QEMU prints. */
function relativeStart(n: Node): bigint {
  return n.up ? BigInt.asUintN(64, n.start - n.up.start) : n.start;
}

function parseRegionLine(text: string, no: number, file: string): { node: Node; level: number } {
  const m = REGION_LINE.exec(text);
  if (!m) throw new MtreeImportError(file, no, `cannot parse region line (truncated?): "${text}"`);
  const [, , indent, startHex, endHex, prio, nv, type, rest0] = m;
  if (indent!.length % 2 !== 0) throw new MtreeImportError(file, no, 'indentation is not a multiple of two spaces');
  if (!TYPES.has(type!)) throw new MtreeImportError(file, no, `unknown region type "${type}" (expected ram, rom, romd, ramd, i/o or container)`);
  const start = BigInt('0x' + startHex);
  const end = BigInt('0x' + endHex);
  let rest = rest0!;
  let owner: string | undefined;
  let parent: string | undefined;
  if (rest.endsWith(' orphan')) rest = rest.slice(0, -' orphan'.length);
  else {
    const o = OWNER_SUFFIX.exec(rest)!;
    owner = o[1];
    parent = o[2];
    rest = rest.slice(0, o.index);
  }
  const disabled = rest.endsWith(' [disabled]');
  if (disabled) rest = rest.slice(0, -' [disabled]'.length);
  const node: Node = {
    name: rest,
    start,
    size: BigInt.asUintN(64, end - start) + 1n,
    priority: Number(prio),
    type: type!,
    nonvolatile: !!nv,
    disabled,
    owner,
    parent,
    children: [],
    line: no,
    hidden: false,
  };
  const alias = ALIAS.exec(rest);
  if (alias) {
    node.name = alias[1]!;
    const from = BigInt('0x' + alias[3]!);
    const to = BigInt('0x' + alias[4]!);
    node.alias = { target: alias[2]!, offset: from };
    if (BigInt.asUintN(64, to - from) + 1n !== node.size) {
      throw new MtreeImportError(file, no, `alias ${node.name}: target window ${alias[3]}-${alias[4]} does not match its size`);
    }
  }
  return { node, level: indent!.length / 2 };
}

function hiddenNode(name: string, start: bigint, line: number): Node {
  return { name, start, size: U64_SPAN, priority: 0, type: 'i/o', nonvolatile: false, disabled: true, children: [], line, hidden: true };
}

/** Which `i/o` regions fill their holes: the -f evidence, else QEMU's usual shapes. */
function terminates(n: Node, flatNames: Set<string> | null, ioRoots: Set<Node>, notes: string[]): boolean {
  if (n.type !== 'i/o') return n.type !== 'container';
  if (n.hidden) return false;
  if (flatNames) return flatNames.has(n.name);
  if (ioRoots.has(n)) return true; // the "io" root uses unassigned_io_ops (system/ioport.c)
  if (n.children.length > 0) {
    notes.push(`line ${n.line}: ${n.name} has children and no -f output says whether it terminates; taken as a pure container`);
    return false;
  }
  return !/container/.test(n.name);
}

function makeRegion(mem: MemorySystem, n: Node, term: boolean, isIoRoot: boolean): MemoryRegion {
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
  n.region = mr;
  applyFlags(n);
  return mr;
}

function applyFlags(n: Node): void {
  const mr = n.region!;
  if (n.disabled) mr.setEnabled(false);
  if (n.nonvolatile) mr.setNonvolatile(true);
  mr.owner = { owner: n.owner, parent: n.parent };
}

/** Adds children in reverse printed order, so exact ties keep the printed (list) order. */
function assemble(n: Node): void {
  const mr = n.region!;
  for (const c of [...n.children].reverse()) {
    if (c.region!.container) continue; // already placed (a re-printed section)
    mr.addSubregionOverlap(relativeStart(c), c.region!, c.priority);
  }
  n.children.forEach((c) => assemble(c));
}
