// What the tree of `info mtree` cannot say, settled from other evidence in the same dump: the
// `-f` flat views (read-only aliases, terminating i/o regions, address-space order) and the
// `memory-region:` sections that only a hidden alias refers to.
import type { AddressSpace } from './address-space.ts';
import type { MemoryRegion } from './region.ts';
import { explainAddress } from './explain.ts';
import { infoMtree } from './mtree.ts';
import { OWNER_SUFFIX, preorder, type MtreeNode, type ParsedTree, type Segment } from './mtree-parse.ts';

/** One range line of an `info mtree -f` block, normalised to vdm's printing without -o. */
interface FlatLine {
  start: bigint;
  type: string;
  text: string;
  line: number;
}

export interface FlatEvidence {
  /** Names of every rendered range (regions that terminate), or null without -f output. */
  names: Set<string> | null;
  /** Address spaces in QEMU's registration order. */
  asOrder: string[];
  /** The first -f output's blocks: which address spaces share the view, and its ranges. */
  blocks: { spaces: string[]; ranges: FlatLine[]; line: number }[];
}

const FLAT_RANGE = /^  ([0-9a-f]{16})-[0-9a-f]{16} \(prio -?\d+, (?:nv-)?([^)]*)\): (.*)$/;
const FLAT_AS = /^ AS "(.*)", root: /;

/** Names, address-space order and blocks from any `-f` output in the file. */
export function collectFlatEvidence(segments: Segment[]): FlatEvidence {
  const flats = segments.filter((s) =>
    s.command !== null ? /^info mtree\b.*-f\b/.test(s.command) : s.lines.some((l) => l.text.startsWith('FlatView #')),
  );
  if (flats.length === 0) return { names: null, asOrder: [], blocks: [] };
  const names = new Set<string>();
  const asOrder: string[] = [];
  const blocks: FlatEvidence['blocks'] = [];
  flats.forEach((s, i) => {
    for (const { text, no } of s.lines) {
      if (text.startsWith('FlatView #') && i === 0) blocks.push({ spaces: [], ranges: [], line: no });
      const block = i === 0 ? blocks[blocks.length - 1] : undefined;
      const as = FLAT_AS.exec(text);
      if (as) {
        if (!asOrder.includes(as[1]!)) asOrder.push(as[1]!);
        block?.spaces.push(as[1]!);
      }
      const r = FLAT_RANGE.exec(text);
      if (!r) continue;
      let rest = r[3]!.replace(/ orphan$/, '').replace(OWNER_SUFFIX, '');
      rest = rest.replace(/ (kvm|hvf|whpx|nvmm|hax|xen|tcg)$/, '');
      names.add(rest.replace(/ @[0-9a-f]{16}$/, ''));
      block?.ranges.push({
        start: BigInt('0x' + r[1]!),
        type: r[2]!,
        text: text.slice(0, text.indexOf('): ') + 3) + rest,
        line: no,
      });
    }
  });
  return { names, asOrder, blocks };
}

/**
 * A read-only alias (memory_region_set_readonly on an alias, as hw/pci-host/pam.c:init_pam does
 * for `pam-rom`) prints in the tree with its target's type, `ram`; only the flat view shows the
 * range as `rom`. Marks the innermost alias on the path to each such range read-only (all at once,
 * in the caller's transaction: the views are not yet updated while this runs).
 */
export function settleReadonlyAliases(
  spaces: readonly AddressSpace[],
  flat: FlatEvidence,
  lineOf: Map<MemoryRegion, number>,
  notes: string[],
): void {
  const settled = new Map<MemoryRegion, { line: number; ranges: string[] }>();
  for (const block of flat.blocks) {
    const as = spaces.find((s) => block.spaces.includes(s.name));
    if (!as) continue;
    for (const r of block.ranges) {
      if (r.type !== 'rom') continue;
      const fr = as.lookup(r.start);
      if (!fr || fr.readonly || fr.mr.typeName() !== 'ram') continue;
      const aliases =
        explainAddress(as, r.start)
          .winner?.path.map((s) => s.region)
          .filter((mr) => mr.alias) ?? [];
      const alias = aliases[aliases.length - 1]; // the narrowest: an outer alias may cover a whole address space
      if (!alias) continue;
      alias.setReadonly(true);
      const entry = settled.get(alias) ?? { line: r.line, ranges: [] };
      const range = r.text.trim().split(' ')[0]!;
      if (!entry.ranges.includes(range)) entry.ranges.push(range); // views are re-rendered after all of them
      settled.set(alias, entry);
    }
  }
  for (const [alias, { line, ranges }] of settled) {
    notes.push(
      `line ${lineOf.get(alias) ?? '?'}: alias ${alias.name} is printed as ${alias.alias!.typeName()} (the ` +
        `tree shows its target's type), but the -f output (line ${line}) shows ${ranges.join(', ')} as rom: ` +
        'taken as a read-only alias',
    );
  }
}

/** After every fix: where the rebuilt flat views still differ from the -f output, say so. */
export function checkFlatViews(spaces: readonly AddressSpace[], flat: FlatEvidence, notes: string[]): void {
  for (const block of flat.blocks) {
    const as = spaces.find((s) => block.spaces.includes(s.name));
    if (!as) continue;
    const ours = infoMtree([as], { flat: true })
      .split('\n')
      .filter((l) => FLAT_RANGE.test(l));
    const theirs = block.ranges.map((r) => r.text);
    const missing = theirs.filter((t) => !ours.includes(t));
    const extra = ours.filter((t) => !theirs.includes(t));
    if (missing.length || extra.length) {
      const first = missing.length ? `the dump has "${missing[0]!.trim()}"` : `vdm has "${extra[0]!.trim()}"`;
      notes.push(
        `line ${block.line}: the rebuilt flat view of "${as.name}" differs from the -f output in ` +
          `${missing.length + extra.length} range(s); first: ${first}`,
      );
    }
  }
}

/**
 * QEMU queues an alias's target for a `memory-region:` section even when the alias is disabled and
 * not printed (memory.c:mtree_print_mr). In a plain tree a section no printed alias refers to was
 * therefore queued by a hidden one: on PCI machines, each device's disabled `bus master` alias
 * (hw/pci/pci.c:pci_init_bus_master: alias of the DMA root, whole size, in the device's
 * `bus master container`). Adds those aliases back so the section survives a round trip.
 */
export function restoreHiddenBusMasters(
  tree: ParsedTree,
  withDisabled: boolean,
  sectionRoot: (name: string) => MtreeNode | undefined,
  notes: string[],
): MtreeNode[] {
  const referenced = new Set<string>();
  for (const n of preorder([...tree.groups.map((g) => g.root), ...tree.sections.map((s) => s.root)]))
    if (n.alias) referenced.add(n.alias.target);
  const orphans = tree.sections.filter((s) => !referenced.has(s.name));
  if (orphans.length === 0) return [];
  const holders = tree.groups
    .map((g) => g.root)
    .filter((r) => r.name === 'bus master container' && !r.alias && r.children.length === 0);
  if (withDisabled || holders.length === 0) {
    for (const s of orphans)
      notes.push(
        `line ${s.line}: memory-region ${s.name} is referenced by no alias in the tree; it is not printed back`,
      );
    return [];
  }
  const added: MtreeNode[] = [];
  holders.forEach((holder, i) => {
    const section = orphans[Math.min(i, orphans.length - 1)]!;
    const target = sectionRoot(section.name) ?? section.root;
    const alias: MtreeNode = {
      name: 'bus master',
      start: holder.start,
      size: target.size,
      priority: 0,
      type: 'container', // not printed: no type to check against the target's
      nonvolatile: false,
      disabled: true,
      alias: { target: section.name, offset: 0n },
      children: [],
      line: holder.line,
      hidden: false,
      up: holder,
    };
    holder.children.push(alias);
    added.push(alias);
  });
  const which =
    orphans.length === 1
      ? `${holders.length} such container(s) in the tree`
      : `which device's alias targets which section is not in the tree: taken in printed order`;
  notes.push(
    `memory-region ${orphans.map((s) => `${s.name} (line ${s.line})`).join(', ')} is referenced by no printed ` +
      `alias: taken as the target of the hidden disabled "bus master" alias in each "bus master container" ` +
      `(hw/pci/pci.c:pci_init_bus_master); ${which}`,
  );
  return added;
}
