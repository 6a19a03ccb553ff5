// The explanation data as JSON (bigints as "0x..." strings) and back: Node encodes, the page decodes.
import type { CandidateData, ExplanationData } from '../memory/explain-format.ts';

type CandidateJson = Omit<CandidateData, 'offset'> & { offset: string };

/** ExplanationData with every bigint as a hex string. */
export interface ExplanationJson {
  as: string;
  root: string;
  addr: string;
  winner: CandidateJson | null;
  hidden: CandidateJson[];
  flat: { start: string; end: string; name: string; offsetInRegion: string } | null;
  access: string;
  notes: string[];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

export function encodeExplanation(e: ExplanationData): ExplanationJson {
  const c = (x: CandidateData): CandidateJson => ({ name: x.name, type: x.type, offset: hex(x.offset), path: x.path });
  return {
    as: e.as,
    root: e.root,
    addr: hex(e.addr),
    winner: e.winner && c(e.winner),
    hidden: e.hidden.map(c),
    flat: e.flat && {
      start: hex(e.flat.start),
      end: hex(e.flat.end),
      name: e.flat.name,
      offsetInRegion: hex(e.flat.offsetInRegion),
    },
    access: e.access,
    notes: e.notes,
  };
}

export function decodeExplanation(j: ExplanationJson): ExplanationData {
  const c = (x: CandidateJson): CandidateData => ({
    name: x.name,
    type: x.type,
    offset: BigInt(x.offset),
    path: x.path,
  });
  return {
    as: j.as,
    root: j.root,
    addr: BigInt(j.addr),
    winner: j.winner && c(j.winner),
    hidden: j.hidden.map(c),
    flat: j.flat && {
      start: BigInt(j.flat.start),
      end: BigInt(j.flat.end),
      name: j.flat.name,
      offsetInRegion: BigInt(j.flat.offsetInRegion),
    },
    access: j.access,
    notes: j.notes,
  };
}
