import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMachineFile, type MachineSpec } from '../machine/index.ts';
import { boot, formatBootReport, loadGuestFile, type BootResult } from '../guest/index.ts';
import { infoMtree } from '../memory/index.ts';
import type { VfioPciOptions } from '../vfio/index.ts';
import { isVfioDriver } from '../host/index.ts';
import { loadHost } from './host-command.ts';
import { UsageError } from './errors.ts';
import { packageRoot } from './package-root.ts';

/** The host each shipped machine type boots on by default. */
const DEFAULT_HOST: Record<string, string> = { pc: 'x86-4k-ir', q35: 'x86-4k-ir', virt: 'arm64-64k-its', 'virt-gicv2m': 'arm64-gicv2m', pseries: 'power9-64k', ppce500: 'e500-pamu' };

export const BOOT_HELP = `usage: vdm boot [--machine NAME|FILE] [--host NAME|FILE] [--guest NAME|FILE]
                [--device host=ADDR[,x-msix-relocation=barN|auto|off][,x-no-mmap=on][,id=ID]]... [--json]

Builds the machine, assigns the host devices through the simulated VFIO API, boots the synthetic
guest (firmware enumerates PCI and places BARs; the driver enables MSI-X, runs its DMA workload and
takes interrupts) and prints the boot report: BAR layout (mmapped, trapped, overlays), MSI-X and
interrupts, DMA mappings, per-path access counts with a cost estimate, and warnings.

  --machine  machine type (machines/*.json), default q35
  --host     host description (machines/hosts/*.json), default: the machine's usual host
  --guest    guest program (machines/guests/*.json), default nic
  --device   vfio-pci options as QEMU spells them; repeatable; default: the host's first vfio-pci function
  --json     the report as JSON (documented in the README)
`;

export const MACHINES_HELP = `usage: vdm machines

Lists the machine types in machines/ with their interrupt controller, IOMMU type and MSI-X policy.
`;

function resolve(dir: string, name: string): string {
  if (/[/\\.]/.test(name)) return name;
  return join(packageRoot(), 'machines', dir, `${name}.json`);
}

/** Parses "host=0000:01:00.0,x-msix-relocation=bar2,x-no-mmap=on". */
export function parseDevice(text: string): VfioPciOptions {
  const opts: Partial<VfioPciOptions> = {};
  for (const part of text.split(',')) {
    const [k, v] = part.split('=') as [string, string | undefined];
    if (v === undefined) throw new UsageError(`--device ${text}: "${part}" is not key=value`);
    if (k === 'host') opts.host = v;
    else if (k === 'id') opts.id = v;
    else if (k === 'x-no-mmap') opts.noMmap = v === 'on' || v === 'true';
    else if (k === 'x-msix-relocation') {
      const m = /^bar([0-5])$/.exec(v);
      if (m) opts.msixRelocation = Number(m[1]);
      else if (v === 'off' || v === 'auto') opts.msixRelocation = v;
      else throw new UsageError(`--device: x-msix-relocation must be off, auto or bar0..bar5, got "${v}"`);
    } else throw new UsageError(`--device: unknown option "${k}" (host, id, x-msix-relocation, x-no-mmap)`);
  }
  if (!opts.host) throw new UsageError(`--device ${text}: host=DDDD:BB:DD.F is required`);
  return opts as VfioPciOptions;
}

/** Boots from command-line options (shared by boot and mtree --machine). */
export function bootFromArgs(values: { machine?: string; host?: string; guest?: string; device?: string[] }): BootResult {
  const machineName = values.machine ?? 'q35';
  const spec: MachineSpec = loadMachineFile(/[/\\.]/.test(machineName) ? machineName : join(packageRoot(), 'machines', `${machineName}.json`));
  const host = loadHost(values.host ?? DEFAULT_HOST[spec.name] ?? 'x86-4k-ir');
  const guest = loadGuestFile(resolve('guests', values.guest ?? 'nic'));
  let devices = (values.device ?? []).map(parseDevice);
  if (!devices.length) {
    const first = host.functions.find((f) => isVfioDriver(f.spec.driver));
    if (!first) throw new UsageError(`host ${host.spec.name} has no function bound to vfio-pci to assign`);
    devices = [{ host: first.spec.address }];
  }
  return boot(spec, host, guest, devices);
}

/** `vdm boot`. */
export function bootCommand(argv: string[]): { out: string; err: string; code?: number } {
  const { values } = parseArgs({
    args: argv,
    options: { machine: { type: 'string' }, host: { type: 'string' }, guest: { type: 'string' }, device: { type: 'string', multiple: true }, json: { type: 'boolean' } },
    strict: true,
  });
  const r = bootFromArgs(values);
  if (values.json) return { out: JSON.stringify(r.report, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2) + '\n', err: '' };
  return { out: formatBootReport(r.report), err: '' };
}

/** `vdm mtree --machine`: the memory tree after the guest booted. */
export function machineMtree(values: { machine?: string; host?: string; guest?: string; device?: string[]; f?: boolean; D?: boolean; o?: boolean }): string {
  const { machine } = bootFromArgs(values);
  return infoMtree(machine.ioSpace ? [machine.ioSpace, machine.memory] : [machine.memory], { flat: values.f, disabled: values.D, owner: values.o });
}

/** `vdm machines`. */
export function machinesCommand(): { out: string; err: string } {
  const dir = join(packageRoot(), 'machines');
  const lines = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const s = loadMachineFile(join(dir, f));
      return `${s.name.padEnd(12)} ${s.arch.padEnd(8)} ${s.interrupts.controller.padEnd(10)} ${s.iommu.padEnd(10)} MSI-X table ${s.msixEmulation ? 'emulated' : 'not emulated (RTAS)'}; default host ${DEFAULT_HOST[s.name] ?? '-'}`;
    });
  return { out: lines.join('\n') + '\n', err: '' };
}
