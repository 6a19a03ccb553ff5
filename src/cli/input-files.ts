import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from './errors.ts';
import { packageRoot } from './package-root.ts';

/** An input file: where to open it, and the name errors and reports show. */
export interface InputFile {
  path: string;
  display: string;
}

const DIRS = { machine: 'machines', host: 'machines/hosts', guest: 'machines/guests' } as const;

/**
 * The directory the user ran vdm from. `npm run vdm` runs in the package root and leaves the
 * user's directory in INIT_CWD; run directly (or as an installed bin) it is the process's own.
 */
export function userCwd(): string {
  return process.env.INIT_CWD ?? process.cwd();
}

/** The shipped names of one kind of file (machines/*.json, machines/hosts/*.json, ...). */
export function shippedNames(kind: keyof typeof DIRS): string[] {
  return readdirSync(join(packageRoot(), DIRS[kind]))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/**
 * A name shipped with vdm ("q35", "x86-4k-ir") or a path, relative to the user's directory (not
 * the package's). An unknown name lists the valid ones.
 */
export function inputFile(kind: keyof typeof DIRS, name: string): InputFile {
  if (/[/\\.]/.test(name)) return { path: isAbsolute(name) ? name : resolve(userCwd(), name), display: name };
  const path = join(packageRoot(), DIRS[kind], `${name}.json`);
  if (!existsSync(path))
    throw new UsageError(
      `unknown ${kind} "${name}": shipped ${kind}s are ${shippedNames(kind).join(', ')}; or give the path of ` +
        'a .json file',
    );
  return { path, display: `${DIRS[kind]}/${name}.json` };
}
