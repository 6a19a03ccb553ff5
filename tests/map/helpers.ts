// Builds map pages for tests: the page script bundled fresh from src/map/web (not a stale dist/).
import { build } from 'esbuild';
import { mapWebOptions } from '../../scripts/map-web-build.mjs';
import { bootFromArgs } from '../../src/cli/boot-command.ts';
import { machineMap, mapPage, type MapModel } from '../../src/map/index.ts';
import type { Machine } from '../../src/machine/index.ts';

let script: Promise<string> | null = null;

/** The page script, bundled once per test run. */
export function pageScript(): Promise<string> {
  script ??= build({ ...mapWebOptions, write: false }).then((r) => r.outputFiles![0]!.text);
  return script;
}

/** A booted machine, its map model and its page. */
export async function machinePage(
  name: string,
  device?: string[],
): Promise<{ machine: Machine; model: MapModel; html: string }> {
  const { machine } = bootFromArgs({ machine: name, device });
  const model = machineMap(machine, `vdm map: machine ${name}`);
  return { machine, model, html: mapPage(model, await pageScript()) };
}
