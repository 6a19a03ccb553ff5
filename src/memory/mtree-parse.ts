// Text of QEMU's `info mtree` (system/memory.c:mtree_info) to a tree of plain nodes, without
// recursion: a dump can nest as deep as its indentation, and one line can open thousands of
// hidden levels.
import { BadInputError } from '../util/errors.ts';
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

/**
 * How deep a tree may nest, counting alias hops. QEMU's own machines stay under 20; render
 * (memory.c:render_memory_region, and ours in render.ts) recurses once per level, so the import
 * refuses deeper trees with the line where the limit is crossed instead of overflowing the stack.
 */
export const MAX_MTREE_DEPTH = 1000;

/** One printed (or implied) region line. */
export interface MtreeNode {
  name: string;
  /** Absolute start as printed. */
  start: bigint;
  size: bigint;
  priority: number;
  type: string;
  nonvolatile: boolean;
  disabled: boolean;
  owner?: string;
  parent?: string;
  alias?: { target: string; offset: bigint };
  children: MtreeNode[];
  line: number;
  /** Not printed: a disabled region the dump left out (no -D), known only by its children. */
  hidden: boolean;
  up?: MtreeNode;
}

/** The output of one monitor command. */
export interface Segment {
  command: string | null;
  lines: { text: string; no: number }[];
}

export interface ParsedTree {
  /** Address-space groups: the names sharing one root, in printed order. */
  groups: { names: string[]; root: MtreeNode; line: number }[];
  /** `memory-region:` sections in printed order. */
  sections: { name: string; root: MtreeNode; line: number }[];
}

const TYPES = new Set(['ram', 'rom', 'romd', 'ramd', 'i/o', 'container']);
const REGION_LINE =
  /^(\[DETECTED OVERFLOW!\] )?( *)([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), (nv-)?([^)]*)\): (.*)$/;
const LOOKS_LIKE_REGION = /^(\[DETECTED OVERFLOW!\] )?\s*[0-9a-f]{4,}/;
export const OWNER_SUFFIX = /(?: owner:\{([^}]*)\})?(?: parent:\{([^}]*)\})?$/;
const ALIAS = /^alias (.+) @(.+) ([0-9a-f]{16})-([0-9a-f]{16})$/;
const HIDDEN = '(hidden disabled region)';
/** QEMU prints priorities as a C int. */
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

export function splitSegments(text: string): Segment[] {
  const segments: Segment[] = [{ command: null, lines: [] }];
  text.split(/\r?\n/).forEach((raw, i) => {
    const prompt = /^\(qemu\) ?(.*)$/.exec(raw);
    if (prompt) segments.push({ command: prompt[1]!.trim(), lines: [] });
    else segments[segments.length - 1]!.lines.push({ text: raw, no: i + 1 });
  });
  return segments;
}

export function isTree(s: Segment): boolean {
  if (s.command !== null) return /^info mtree\b/.test(s.command) && !/-f\b/.test(s.command);
  return s.lines.some((l) => l.text.startsWith('address-space: '));
}

/** Every node under `roots` once, parents before children, without recursion. */
export function preorder(roots: readonly MtreeNode[]): MtreeNode[] {
  const out: MtreeNode[] = [];
  const seen = new Set<MtreeNode>();
  const stack = [...roots].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue; // a section that re-prints a region of another tree
    seen.add(n);
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
  return out;
}

export function parseTree(seg: Segment, file: string): ParsedTree {
  const groups: ParsedTree['groups'] = [];
  const sections: ParsedTree['sections'] = [];
  let pendingNames: string[] = [];
  let current: { kind: 'as' | 'section'; name: string; line: number; stack: MtreeNode[]; root?: MtreeNode } | null =
    null;

  const finish = (): void => {
    if (!current) return;
    if (!current.root)
      throw new MtreeImportError(
        file,
        current.line,
        `${current.kind === 'as' ? 'address-space' : 'memory-region'} "${current.name}" has no tree: the file ` +
          'looks truncated',
      );
    if (current.kind === 'as') groups.push({ names: pendingNames, root: current.root, line: current.line });
    else sections.push({ name: current.name, root: current.root, line: current.line });
    pendingNames = [];
    current = null;
  };

  for (const { text, no } of seg.lines) {
    if (text.startsWith('address-space: ')) {
      if (current?.root) finish();
      if (current?.kind === 'section')
        throw new MtreeImportError(
          file,
          current.line,
          `memory-region "${current.name}" has no tree: the file looks truncated`,
        );
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
    if (!current)
      throw new MtreeImportError(file, no, 'region line outside any "address-space:" or "memory-region:" block');
    const { node, level } = parseRegionLine(text, no, file);
    const stack = current.stack; // stack[i] is the open region at level i + 1
    if (level < 1) throw new MtreeImportError(file, no, 'region line is not indented');
    if (level > MAX_MTREE_DEPTH)
      throw new MtreeImportError(
        file,
        no,
        `region nested ${level} levels deep; vdm renders at most ${MAX_MTREE_DEPTH} (QEMU's machines nest under 20)`,
      );
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
  // Hidden regions get the extent of what they hold (the dump does not print theirs): children
  // first, so walk the preorder backwards.
  const all = preorder([...groups.map((g) => g.root), ...sections.map((s) => s.root)]);
  for (let i = all.length - 1; i >= 0; i--) {
    const n = all[i]!;
    if (n.hidden && n.children.length) {
      const end = n.children.reduce((m, c) => (c.start + c.size > m ? c.start + c.size : m), 0n);
      if (end > n.start) n.size = end - n.start < U64_SPAN ? end - n.start : U64_SPAN;
    }
  }
  return { groups, sections };
}

function adopt(parent: MtreeNode, child: MtreeNode): void {
  parent.children.push(child);
  child.up = parent;
}

/** A region's own `addr` (relative to its container), from the absolute starts QEMU prints. */
export function relativeStart(n: MtreeNode): bigint {
  return n.up ? BigInt.asUintN(64, n.start - n.up.start) : n.start;
}

function parseRegionLine(text: string, no: number, file: string): { node: MtreeNode; level: number } {
  const m = REGION_LINE.exec(text);
  if (!m)
    throw new MtreeImportError(
      file,
      no,
      `cannot parse region line (truncated?): "${text.length > 200 ? text.slice(0, 200) + '...' : text}"`,
    );
  const [, overflow, indent, startHex, endHex, prio, nv, type, rest0] = m;
  if (indent!.length % 2 !== 0) throw new MtreeImportError(file, no, 'indentation is not a multiple of two spaces');
  if (!TYPES.has(type!))
    throw new MtreeImportError(
      file,
      no,
      `unknown region type "${type}" (expected ram, rom, romd, ramd, i/o or container)`,
    );
  const priority = Number(prio);
  if (priority < INT_MIN || priority > INT_MAX)
    throw new MtreeImportError(file, no, `priority ${prio} is outside a C int`);
  const start = BigInt('0x' + startHex);
  const end = BigInt('0x' + endHex);
  // mtree_print_mr prints start + size - 1; only a range that wraps past 2^64 ends below its
  // start, and QEMU marks that line "[DETECTED OVERFLOW!]".
  if (end < start && !overflow)
    throw new MtreeImportError(file, no, `range ends (0x${endHex}) before it starts (0x${startHex})`);
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
  const node: MtreeNode = {
    name: rest,
    start,
    size: BigInt.asUintN(64, end - start) + 1n,
    priority,
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
      throw new MtreeImportError(
        file,
        no,
        `alias ${node.name}: target window ${alias[3]}-${alias[4]} does not match its size`,
      );
    }
  }
  return { node, level: indent!.length / 2 };
}

export function hiddenNode(name: string, start: bigint, line: number): MtreeNode {
  return {
    name,
    start,
    size: U64_SPAN,
    priority: 0,
    type: 'i/o',
    nonvolatile: false,
    disabled: true,
    children: [],
    line,
    hidden: true,
  };
}
