import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importQemuMtree, infoMtree, explainAddress, formatExplanation, MtreeImportError } from '../memory/index.ts';
import { UsageError } from './errors.ts';
import { machineMtree } from './boot-command.ts';

export const MTREE_HELP = `usage: vdm mtree --machine NAME [--host NAME|FILE] [--guest NAME] [--device ...] [-f] [-D] [-o]
       vdm mtree --import-qemu FILE [-f] [-D] [-o] [--explain ADDR [--as NAME]]

With --machine: boots the machine with its device(s) assigned (as "vdm boot" does) and prints
its memory tree after the guest ran, in QEMU 7.2's "info mtree" format; with --explain ADDR, which
region of the booted machine answers ADDR (a BAR's mmap, its trapped region, an MSI-X overlay, ...).

Rebuilds the memory tree from a QEMU monitor dump (the text of "info mtree", "info mtree -D",
optionally with "info mtree -f" in the same file; "(qemu)" prompts and other output are skipped)
and prints it in QEMU 7.2's format.

  --import-qemu FILE  the dump to read
  -f                  print the rendered flat views instead of the tree
  -D                  include disabled regions (tree form)
  -o                  print owners
  --explain ADDR      say which region serves ADDR (hex or decimal), through which aliases and
                      containers, at what offset, and what it hides there
  --as NAME           address space for --explain (default: "memory", else the first)
`;

/** `vdm mtree`: print or explain an imported QEMU memory tree. */
export function mtreeCommand(argv: string[]): { out: string; err: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      'import-qemu': { type: 'string' },
      f: { type: 'boolean', short: 'f' },
      D: { type: 'boolean', short: 'D' },
      o: { type: 'boolean', short: 'o' },
      explain: { type: 'string' },
      as: { type: 'string' },
      machine: { type: 'string' },
      host: { type: 'string' },
      guest: { type: 'string' },
      device: { type: 'string', multiple: true },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.machine !== undefined) return { out: machineMtree(values, values.explain === undefined ? undefined : parseAddress(values.explain)), err: '' };
  const file = values['import-qemu'];
  if (!file) throw new UsageError('vdm mtree: --machine NAME or --import-qemu FILE is required');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as Error).message}`);
  }
  let imported;
  try {
    imported = importQemuMtree(text, file);
  } catch (e) {
    if (e instanceof MtreeImportError) throw new UsageError(e.message);
    throw e;
  }
  const notes = imported.notes.map((n) => `note: ${file}: ${n}\n`).join('');
  if (values.explain !== undefined) {
    const addr = parseAddress(values.explain);
    const name = values.as ?? (imported.spaces.some((s) => s.name === 'memory') ? 'memory' : imported.spaces[0]?.name);
    const as = imported.spaces.find((s) => s.name === name);
    if (!as) throw new UsageError(`--as ${name}: no such address space (have: ${imported.spaces.map((s) => s.name).join(', ')})`);
    return { out: formatExplanation(explainAddress(as, addr)), err: notes };
  }
  return { out: infoMtree(imported.spaces, { flat: values.f, disabled: values.D, owner: values.o }), err: notes };
}

/** Parses 0x-prefixed hex or decimal into a 64-bit address. */
export function parseAddress(text: string): bigint {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new UsageError(`"${text}" is not an address (use hex like 0xfee00000 or decimal)`);
  const v = BigInt(t);
  if (v >= 1n << 64n) throw new UsageError(`address ${text} is past the 64-bit space`);
  return v;
}
