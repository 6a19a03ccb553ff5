// The text of `--explain`, from plain data: the CLI and the browser map (src/map/web) both format
// with this, so a click on the map says exactly what `vdm mtree --explain` says.

/** 16 hex digits, as `info mtree` prints addresses (constants.ts:hex16, kept here so the page bundle stays small). */
function hex16(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** One region that covers the address, with the way to it already described. */
export interface CandidateData {
  name: string;
  /** The type as `info mtree` prints it ("ram", "i/o", "ramd", "rom", ...). */
  type: string;
  offset: bigint;
  /** One description per step from the root: "system (i/o, prio 0, at 0x...)", "alias ... -> ...". */
  path: string[];
}

/** Everything `--explain` prints, as plain data (serialisable; no live regions). */
export interface ExplanationData {
  as: string;
  root: string;
  addr: bigint;
  winner: CandidateData | null;
  hidden: CandidateData[];
  flat: { start: bigint; end: bigint; name: string; offsetInRegion: bigint } | null;
  /** The dispatch path ("RAM: direct loads and stores ..."), or on a booted machine the verdict. */
  access: string;
  /** Further lines about the access on a booted machine: exit, cost, the option that would fix it. */
  notes: string[];
}

function describePath(c: CandidateData): string {
  return c.path.join('\n      -> ');
}

/** Human-readable form of an explanation. */
export function formatExplanationData(e: ExplanationData): string {
  const lines = [`address 0x${hex16(e.addr)} in address space "${e.as}" (root ${e.root})`];
  if (!e.winner) {
    lines.push('  served by: nothing (unassigned)');
  } else {
    const w = e.winner;
    lines.push(`  served by: ${w.name} (${w.type}) at offset 0x${w.offset.toString(16)}`);
    lines.push(`  via:  ${describePath(w)}`);
    const fr = e.flat;
    if (fr)
      lines.push(
        `  flat range: ${hex16(fr.start)}-${hex16(fr.end)} ` +
          `${fr.name}${fr.offsetInRegion ? ` @${hex16(fr.offsetInRegion)}` : ''}`,
      );
  }
  lines.push(`  access: ${e.access}`);
  for (const n of e.notes) lines.push(`    ${n}`);
  if (e.hidden.length) {
    lines.push('  hides (lower precedence here):');
    for (const h of e.hidden)
      lines.push(`    ${h.name} (${h.type}) at offset 0x${h.offset.toString(16)}\n      via:  ${describePath(h)}`);
  } else {
    lines.push('  hides: nothing');
  }
  return lines.join('\n') + '\n';
}

/**
 * The explanation of `addr + delta`, from the one at `addr`: valid while both lie in a stretch where
 * the same regions cover the address (the map cuts the axis at every region edge), since only the
 * address and the offsets into the regions move.
 */
export function shiftExplanation(e: ExplanationData, delta: bigint): ExplanationData {
  const move = (c: CandidateData): CandidateData => ({ ...c, offset: c.offset + delta });
  return { ...e, addr: e.addr + delta, winner: e.winner && move(e.winner), hidden: e.hidden.map(move) };
}
