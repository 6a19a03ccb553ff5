import {
  importQemuMtree,
  infoMtree,
  explainAddress,
  formatExplanation,
  formatExplanationData,
  MtreeImportError,
  type AddressSpace,
} from '../memory/index.ts';
import { explainGuestAccess } from '../machine/index.ts';
import { FileError, readInputFile } from '../util/json-reader.ts';
import { UsageError } from './errors.ts';
import { bootFromArgs, withVerdict, BOOT_OPTIONS } from './boot-command.ts';
import type { BootResult } from '../run/index.ts';
import { parseOptions } from './options.ts';

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
export function mtreeCommand(argv: string[]): { out: string; err: string; code?: number } {
  const { values } = parseOptions('vdm mtree', argv, {
    'import-qemu': { type: 'string' },
    f: { type: 'boolean', short: 'f' },
    D: { type: 'boolean', short: 'D' },
    o: { type: 'boolean', short: 'o' },
    explain: { type: 'string' },
    as: { type: 'string' },
    ...BOOT_OPTIONS,
  });
  const file = values['import-qemu'];
  if (values.machine !== undefined && file !== undefined)
    throw new UsageError('--machine and --import-qemu are two sources of a memory tree: give one');
  if (values.machine === undefined && file === undefined)
    throw new UsageError('--machine NAME or --import-qemu FILE is required');
  if (file !== undefined) {
    for (const k of ['host', 'guest', 'device'] as const)
      if (values[k] !== undefined)
        throw new UsageError(`--${k} applies to --machine (a booted machine), not to --import-qemu`);
  }
  if (values.as !== undefined && values.explain === undefined)
    throw new UsageError('--as names the address space for --explain ADDR; give --explain too');
  if (values.explain !== undefined && (values.f || values.D || values.o))
    throw new UsageError('--explain answers for one address; -f, -D and -o shape a whole tree: give one or the other');
  const address = values.explain === undefined ? undefined : parseAddress(values.explain);
  let spaces: AddressSpace[];
  let err = '';
  let booted: BootResult | null = null;
  if (file === undefined) {
    booted = bootFromArgs(values);
    const m = booted.machine;
    spaces = m.addressSpaceIo ? [m.addressSpaceIo, m.addressSpaceMemory] : [m.addressSpaceMemory];
  } else {
    const text = readInputFile(file, 'QEMU "info mtree" dump', FileError);
    let imported: ReturnType<typeof importQemuMtree>;
    try {
      imported = importQemuMtree(text, file);
    } catch (e) {
      if (e instanceof MtreeImportError) throw new UsageError(e.message, { cause: e });
      throw e;
    }
    spaces = imported.spaces;
    err = imported.notes.map((n) => `note: ${file}: ${n}\n`).join('');
  }
  // A booted machine whose device did not work still prints, and exits 1 saying why.
  const done = (out: string) => (booted ? withVerdict('vdm mtree', booted, out, err) : { out, err });
  if (address === undefined) return done(infoMtree(spaces, { flat: values.f, disabled: values.D, owner: values.o }));
  const name = values.as ?? (spaces.some((s) => s.name === 'memory') ? 'memory' : spaces[0]?.name);
  const as = spaces.find((s) => s.name === name);
  if (!as)
    throw new UsageError(
      `--as ${name}: ${file ?? 'the booted machine'} has no such address space (have: ` +
        `${spaces.map((s) => s.name).join(', ')})`,
    );
  // On a booted machine the answer also says whether the access exits, what it costs and what fixes it.
  return done(
    booted
      ? formatExplanationData(explainGuestAccess(booted.machine, as, address))
      : formatExplanation(explainAddress(as, address)),
  );
}

/** Parses 0x-prefixed hex or decimal into a 64-bit address. */
export function parseAddress(text: string): bigint {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t))
    throw new UsageError(`"${text}" is not an address (use hex like 0xfee00000 or decimal)`);
  const v = BigInt(t);
  if (v >= 1n << 64n) throw new UsageError(`address ${text} is past the 64-bit space`);
  return v;
}
