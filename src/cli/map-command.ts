import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importQemuMtree, MtreeImportError } from '../memory/index.ts';
import { Axis, importedMap, machineMap, mapPage, renderSvg, type MapModel } from '../map/index.ts';
import { FileError, readInputFile } from '../util/json-reader.ts';
import { bootFromArgs, withVerdict, BOOT_OPTIONS } from './boot-command.ts';
import type { BootResult } from '../run/index.ts';
import { UsageError } from './errors.ts';
import { parseOptions } from './options.ts';
import { packageRoot } from './package-root.ts';

export const MAP_HELP = `usage: vdm map [--machine NAME|FILE] [--host NAME|FILE] [--guest NAME|FILE] [--device ...] [-o FILE] [--svg FILE]
       vdm map --import-qemu FILE [-o FILE] [--svg FILE]

Writes the memory map of a booted machine (options as for "vdm boot") or of an imported QEMU
"info mtree" dump as one self-contained HTML page: a lane per address space, the tree's
containers, aliases and regions by depth and priority, and the row of what answers each address,
coloured by path (guest RAM, mmapped, trapped to the VMM, trapped to the kernel, MSI-X overlay,
unassigned); mmapped host pages that exit because they share a page with an MSI-X overlay are
hatched. Open it in a browser (file://, no network): wheel or +/- to zoom, drag or arrow keys to
pan, click an address (or type it) for the same explanation "vdm mtree --explain" prints.

  -o, --out FILE   the HTML page (default vdm-map.html)
  --svg FILE       also write a static SVG picture of the whole space
  --import-qemu FILE  map a QEMU dump instead of booting a machine
`;

/** The page script built by `npm run build` (esbuild.config.mjs). */
export function mapScript(): string {
  const file = join(packageRoot(), 'dist', 'map-web.js');
  if (!existsSync(file)) throw new UsageError(`${file} is missing: run "npm run build" first`);
  return readFileSync(file, 'utf8');
}

/** `vdm map`. */
export function mapCommand(argv: string[]): { out: string; err: string; code?: number } {
  const { values } = parseOptions('vdm map', argv, {
    out: { type: 'string', short: 'o' },
    svg: { type: 'string' },
    'import-qemu': { type: 'string' },
    ...BOOT_OPTIONS,
  });
  const file = values['import-qemu'];
  if (file !== undefined) {
    for (const k of ['machine', 'host', 'guest', 'device'] as const)
      if (values[k] !== undefined) throw new UsageError(`--${k} applies to a booted machine, not to --import-qemu`);
  }
  let model: MapModel;
  let booted: BootResult | null = null;
  if (file !== undefined) {
    const text = readInputFile(file, 'QEMU "info mtree" dump', FileError);
    try {
      model = importedMap(importQemuMtree(text, file).spaces, `vdm map: ${file}`);
    } catch (e) {
      if (e instanceof MtreeImportError) throw new UsageError(e.message, { cause: e });
      throw e;
    }
  } else {
    booted = bootFromArgs(values);
    model = machineMap(booted.machine, `vdm map: machine ${booted.machine.spec.name}`);
  }
  const out = values.out ?? 'vdm-map.html';
  writeFileSync(out, mapPage(model, mapScript()));
  const lines = [
    `wrote ${out} (${model.lanes.map((l) => `${l.name}: ${l.boxes.length} regions`).join(', ')}); open it in a browser`,
  ];
  if (values.svg !== undefined) {
    const axis = new Axis(model);
    writeFileSync(values.svg, renderSvg(model, axis, { u0: 0, u1: axis.total, width: 1280 }));
    lines.push(`wrote ${values.svg}`);
  }
  const text = lines.join('\n') + '\n';
  // The map of a machine whose device did not work is still written; the command exits 1 saying why.
  return booted ? withVerdict('vdm map', booted, text) : { out: text, err: '' };
}
