// Helpers to compare vdm's output with the real QEMU 7.2 dumps in tests/fixtures/qemu, treating as
// unordered what QEMU orders by hash table (address-space groups, memory-region sections,
// FlatView numbering; see tests/fixtures/qemu/README.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const QEMU_DIR = fileURLToPath(new URL('../fixtures/qemu/', import.meta.url));

export function qemuFile(name: string): string {
  return readFileSync(QEMU_DIR + name, 'utf8');
}

/** The output of one monitor command in a dump. */
export function commandOutput(text: string, command: string): string {
  const marker = `(qemu) ${command}\n`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`no "${command}" in the dump`);
  const rest = text.slice(at + marker.length);
  const next = rest.indexOf('(qemu) ');
  return next < 0 ? rest : rest.slice(0, next);
}

/** Tree output as a sorted list of its blank-line-separated blocks. */
export function treeBlocks(text: string): string[] {
  return text
    .split('\n\n')
    .map((b) => b.replace(/^\n+|\n+$/g, ''))
    .filter(Boolean)
    .sort();
}

/** Flat output as a sorted list of its FlatView blocks without their numbers. */
export function flatBlocks(text: string): string[] {
  return text
    .split(/^FlatView #\d+\n/m)
    .slice(1)
    .map((b) => b.replace(/\n+$/, ''))
    .sort();
}
