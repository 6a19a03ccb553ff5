// One fuzz case: a shipped host, machine or guest file mutated from a seed, run through the CLI
// entry point in-process, and the outcome checked against what vdm promises: exit 0, 1 or 2; never
// a stack trace or an internal error; every exit 2 names the file and the field; a boot's verdict
// agrees with its report. Shared by tests/fuzz/files.test.ts and scripts/fuzz.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../../src/cli/main.ts';
import type { BootReport } from '../../src/index.ts';
import { Rng, mutateJson } from './mutator.ts';
import { MACHINES_DIR } from '../vfio/helpers.ts';

const MACHINES = MACHINES_DIR;
const read = (p: string) => readFileSync(MACHINES + p, 'utf8');

/** Each shipped host with the machine it is booted on. */
const HOSTS: [string, string][] = [
  ['x86-4k-ir', 'q35'],
  ['x86-acs-topology', 'q35'],
  ['arm64-64k-its', 'virt'],
  ['arm64-gicv2m', 'virt-gicv2m'],
  ['power9-64k', 'pseries'],
  ['e500-pamu', 'ppce500'],
];
const MACHINE_NAMES = ['pc', 'q35', 'virt', 'virt-gicv2m', 'pseries', 'ppce500'];
/** A short workload, so a case that boots stays in milliseconds. */
const TINY_GUEST = JSON.stringify({
  name: 'tiny',
  description: 'fuzz',
  vectors: 2,
  ringSize: 4,
  bufferSize: 64,
  iterations: 3,
  statusReads: 1,
  maskEvery: 2,
});
const GUESTS = [TINY_GUEST, JSON.stringify({ ...JSON.parse(read('guests/nic-misbehaving.json')), iterations: 3 })];

export interface FileCase {
  seed: number;
  kind: 'host' | 'machine' | 'guest';
  base: string;
  mutations: string[];
  argv: string[];
  result: CliResult;
  /** What was wrong with the outcome, or null. */
  problem: string | null;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Checks one outcome; `file` is the mutated file the CLI was given. */
export function judge(argv: string[], file: string, r: CliResult): string | null {
  if (![0, 1, 2].includes(r.code)) return `exit ${r.code}`;
  if (/\n\s+at /.test(r.err) || /\n\s+at /.test(r.out)) return 'a stack trace reached the user';
  if (/internal error/.test(r.err)) return `internal error: ${r.err.split('\n')[0]}`;
  if (r.code === 2 && !new RegExp(`${escapeRegExp(file)}: [^:\\n]+: `).test(r.err))
    return `exit 2 without file and field: ${r.err.split('\n')[0]}`;
  if (argv[0] === 'boot' && r.out) {
    let rep: BootReport;
    try {
      rep = JSON.parse(r.out) as BootReport;
    } catch {
      return 'boot --json printed something that is not JSON';
    }
    const v = rep.verdict;
    if (v.working !== (r.code === 0)) return `verdict ${v.working ? 'working' : 'NOT working'} but exit ${r.code}`;
    if (v.devices.some((d) => d.working !== (d.reasons.length === 0)))
      return 'a device verdict disagrees with its reasons';
    if (v.working !== v.devices.every((d) => d.working)) return 'the run verdict disagrees with the devices';
    for (const d of v.devices) {
      const m = /(\d[\d,]*)\/(\d[\d,]*) transmits completed/.exec(d.summary);
      if (d.working && m && m[1] !== m[2]) return `${d.id} working, yet ${m[1]} of ${m[2]} transmits completed`;
    }
    // The totals include a misbehaving guest's deliberate extra descriptor, which faults.
    if (
      v.working &&
      rep.driver &&
      rep.driver.completions < rep.driver.transmits &&
      !rep.warnings.some((w) => /IOMMU faults/.test(w))
    )
      return `working, yet ${rep.driver.completions} of ${rep.driver.transmits} transmits completed`;
    if (!v.working && !/^vdm boot: .*NOT working/.test(r.err))
      return 'NOT working, but stderr does not start with the reason';
  }
  return null;
}

/** Runs case `seed`, writing its mutated file into `dir`. */
export function runFileCase(seed: number, dir: string): FileCase {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const kind = (['host', 'host', 'machine', 'guest'] as const)[seed % 4]!;
  let base: string;
  let text: string;
  let machine = 'q35';
  if (kind === 'host') {
    const [h, m] = rng.pick(HOSTS);
    [base, machine, text] = [`hosts/${h}.json`, m, read(`hosts/${h}.json`)];
  } else if (kind === 'machine') {
    base = `${rng.pick(MACHINE_NAMES)}.json`;
    text = read(base);
  } else {
    base = 'guests/tiny.json';
    text = rng.pick(GUESTS);
  }
  const { text: mutated, applied } = mutateJson(text, rng);
  const file = join(dir, `${kind}.json`);
  writeFileSync(file, mutated);
  const guest = join(dir, 'tiny.json');
  if (kind !== 'guest') writeFileSync(guest, TINY_GUEST);
  const argv =
    kind === 'host'
      ? rng.int(3) === 0
        ? ['host', file, ...(rng.int(2) ? ['--json'] : [])]
        : ['boot', '--json', '--machine', machine, '--host', file, '--guest', guest]
      : kind === 'machine'
        ? ['boot', '--json', '--machine', file, '--guest', guest]
        : ['boot', '--json', '--guest', file];
  const result = runCli(argv);
  return { seed, kind, base, mutations: applied, argv, result, problem: judge(argv, file, result) };
}
