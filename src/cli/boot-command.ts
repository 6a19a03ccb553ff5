import { loadMachineFile, MachineFileError, type MachineSpec } from '../machine/index.ts';
import { loadGuestFile, type ProgressFn } from '../guest/index.ts';
import { boot, formatBootReport, formatGlossary, type BootResult } from '../run/index.ts';
import type { VfioPciOptions } from '../vfio/index.ts';
import { isVfioDriver, type SimHost } from '../host/index.ts';
import { lspciVerbose, parsePciAddr, parseHostDevAddr, PciBusError } from '../pci/index.ts';
import { loadHost } from './host-command.ts';
import { EXIT_FAILURE, UsageError } from './errors.ts';
import { parseOptions } from './options.ts';
import { progressBar } from './progress.ts';
import { inputFile, shippedNames } from './input-files.ts';

export const BOOT_HELP = `usage: vdm boot [--machine NAME|FILE] [--host NAME|FILE] [--guest NAME|FILE]
                [--device host=ADDR[,x-msix-relocation=barN|auto|off][,x-no-mmap=on][,id=ID]
                          [,x-no-kvm-intx=on][,x-intx-mmap-timeout-ms=MS][,rombar=0|1][,romfile=FILE]]... [--json]

Builds the machine, assigns the host devices through the simulated VFIO API, boots the synthetic
guest (firmware enumerates PCI and places BARs; the driver enables MSI-X, runs its DMA workload and
takes interrupts) and prints the boot report: BAR layout (mmapped, trapped, overlays), MSI-X and
interrupts, DMA mappings, per-path access counts with a cost estimate, and warnings.

  --machine  machine type (machines/*.json), default q35
  --host     host description (machines/hosts/*.json), default: the machine file's defaultHost
  --guest    guest program (machines/guests/*.json), default nic
  --device   vfio-pci options as QEMU spells them; repeatable; default: the host's first vfio-pci function
  --json     the report as JSON (documented in the README)
  --explain-terms  what the report's words mean (irqfd, memslot, overlay, PBA, TCE, type1, ...)
`;

export const MACHINES_HELP = `usage: vdm machines

Lists the machine types in machines/ with their interrupt controller, IOMMU type and MSI-X policy.
`;

/** Parses "host=0000:01:00.0,x-msix-relocation=bar2,x-no-mmap=on". */
export function parseDevice(text: string): VfioPciOptions {
  const opts: Partial<VfioPciOptions> = {};
  for (const part of text.split(',')) {
    const [k, v] = part.split('=') as [string, string | undefined];
    if (v === undefined) throw new UsageError(`--device ${text}: "${part}" is not key=value`);
    if (k === 'host') opts.host = qdevProperty(() => parseHostDevAddr(v));
    else if (k === 'id') opts.id = v;
    else if (k === 'x-no-mmap') opts.noMmap = onOff(k, v);
    else if (k === 'multifunction') opts.multifunction = onOff(k, v);
    else if (k === 'x-no-kvm-intx') opts.noKvmIntx = onOff(k, v);
    else if (k === 'rombar') {
      if (v !== '0' && v !== '1') throw new UsageError(`--device: rombar must be 0 or 1, got "${v}"`);
      opts.romBar = v === '1';
    } else if (k === 'romfile') opts.romFile = v;
    else if (k === 'x-intx-mmap-timeout-ms') {
      if (!/^\d+$/.test(v) || Number(v) > 0xffffffff)
        throw new UsageError(
          `--device: x-intx-mmap-timeout-ms must be a number of milliseconds (0-4294967295), got "${v}"`,
        );
      opts.intxMmapTimeoutMs = Number(v);
    } else if (k === 'addr')
      opts.addr = qdevProperty(() => (parsePciAddr(v, 'vfio-pci'), v), ' (SLOT[.FN] in hex, slot 0-1f, function 0-7)');
    else if (k === 'x-msix-relocation') {
      const m = /^bar([0-5])$/.exec(v);
      if (m) opts.msixRelocation = Number(m[1]);
      else if (v === 'off' || v === 'auto') opts.msixRelocation = v;
      else throw new UsageError(`--device: x-msix-relocation must be off, auto or bar0..bar5, got "${v}"`);
    } else
      throw new UsageError(
        `--device: unknown option "${k}" (host, id, addr, multifunction, x-msix-relocation, x-no-mmap, ` +
          'x-no-kvm-intx, x-intx-mmap-timeout-ms, rombar, romfile)',
      );
  }
  if (!opts.host) throw new UsageError(`--device ${text}: host=DDDD:BB:DD.F is required`);
  return opts as VfioPciOptions;
}

/** A qdev property checked up front, so a typo is bad input (exit 2) rather than a machine that failed. */
function qdevProperty<T>(parse: () => T, hint = ''): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof PciBusError) throw new UsageError(`--device: ${e.message}${hint}`, { cause: e });
    throw e;
  }
}

/** A qdev boolean property: on/off, true/false, yes/no. */
function onOff(key: string, v: string): boolean {
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  throw new UsageError(`--device: ${key} must be on or off, got "${v}"`);
}

/** The options every command that boots a machine takes. */
export const BOOT_OPTIONS = {
  machine: { type: 'string' },
  host: { type: 'string' },
  guest: { type: 'string' },
  device: { type: 'string', multiple: true },
} as const;

/** The machine file's defaultHost; a missing or unknown one is the machine file's error, with its field. */
function defaultHost(spec: MachineSpec): SimHost {
  if (!spec.defaultHost)
    throw new MachineFileError(
      spec.file,
      'defaultHost',
      'missing: name a host here (a shipped name or a path) or pass --host NAME|FILE',
    );
  try {
    return loadHost(spec.defaultHost);
  } catch (e) {
    if (e instanceof UsageError) throw new MachineFileError(spec.file, 'defaultHost', e.message);
    throw e;
  }
}

/** Boots from command-line options (shared by boot and mtree --machine). */
export function bootFromArgs(
  values: { machine?: string; host?: string; guest?: string; device?: string[] },
  progress?: ProgressFn,
): BootResult {
  const machineFile = inputFile('machine', values.machine ?? 'q35');
  const spec: MachineSpec = loadMachineFile(machineFile.path, machineFile.display);
  const host = values.host !== undefined ? loadHost(values.host) : defaultHost(spec);
  const guestFile = inputFile('guest', values.guest ?? 'nic');
  const guest = loadGuestFile(guestFile.path, guestFile.display);
  let devices = (values.device ?? []).map(parseDevice);
  if (!devices.length) {
    const first = host.functions.find((f) => isVfioDriver(f.spec.driver));
    if (!first) throw new UsageError(`host ${host.spec.name} has no function bound to vfio-pci to assign`);
    devices = [{ host: first.spec.address }];
  }
  // Long guests and many-device boots show a bar on a terminal (stderr); piped or --json output is untouched.
  const bar = progress ? null : progressBar(`guest ${guest.name}`);
  try {
    return boot(spec, host, guest, devices, progress ?? bar?.update);
  } finally {
    bar?.stop();
  }
}

/** `vdm boot`. */
export function bootCommand(argv: string[]): { out: string; err: string; code?: number } {
  const { values } = parseOptions('vdm boot', argv, {
    ...BOOT_OPTIONS,
    json: { type: 'boolean' },
    'explain-terms': { type: 'boolean' },
  });
  if (values['explain-terms']) return { out: formatGlossary(), err: '' };
  const r = bootFromArgs(values);
  const out = values.json
    ? JSON.stringify(r.report, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2) + '\n'
    : formatBootReport(r.report);
  return withVerdict('vdm boot', r, out);
}

/**
 * A command that boots (boot, pci, mtree --machine, map) prints what it was asked for, and when
 * an assigned device did not work exits 1 with the reason on stderr: each device that did not
 * work, then the run. What it printed is the booted machine as it is, failed device and all.
 */
export function withVerdict(
  command: string,
  r: BootResult,
  out: string,
  err = '',
): { out: string; err: string; code?: number } {
  const v = r.report.verdict;
  if (v.working) return { out, err };
  const why =
    [
      ...v.devices.filter((d) => !d.working).map((d) => `${command}: ${d.id} (host ${d.host}): ${d.summary}`),
      `${command}: run ${v.summary}`,
    ].join('\n') + '\n';
  return { out, err: err + why, code: EXIT_FAILURE };
}

/** `vdm machines`. */
export function machinesCommand(): { out: string; err: string } {
  const lines = shippedNames('machine').map((name) => {
    const f = inputFile('machine', name);
    const s = loadMachineFile(f.path, f.display);
    return (
      `${s.name.padEnd(12)} ${s.arch.padEnd(8)} ${s.interrupts.controller.padEnd(10)} ` +
      `${s.iommu.padEnd(10)} MSI-X table ${s.msixEmulation ? 'emulated' : 'not emulated (RTAS)'}; default ` +
      `host ${s.defaultHost ?? '-'}`
    );
  });
  return { out: lines.join('\n') + '\n', err: '' };
}

export const PCI_HELP = `usage: vdm pci [--machine NAME] [--host NAME|FILE] [--guest NAME] [--device ...] [-v]

Boots like "vdm boot" and prints the PCI devices as QEMU's "info pci" does: bus, slot, ids, IRQ
pin, and each BAR where the guest's firmware put it. With -v, like "lspci -vvv" in the guest: command
and status bits, BARs with their 64-bit/prefetchable flags, and each capability decoded (PM,
MSI, MSI-X with its table and PBA, PCI Express device and link, ACS).
`;

/** \`vdm pci\`: QEMU's "info pci" for the booted machine. */
export function pciCommand(argv: string[]): { out: string; err: string; code?: number } {
  const { values } = parseOptions('vdm pci', argv, { ...BOOT_OPTIONS, verbose: { type: 'boolean', short: 'v' } });
  const booted = bootFromArgs(values);
  const { machine } = booted;
  const out: string[] = [];
  if (values.verbose) {
    // lspci -vvv from the guest's side: config reads as the guest makes them, BARs where firmware put them.
    const h2 = (v: number) => v.toString(16).padStart(2, '0');
    const text = machine.pciHost.devices().map(
      (d) =>
        lspciVerbose({
          slot: `${h2(d.bus!.number())}:${h2(d.devfn >> 3)}.${d.devfn & 7}`,
          read: (o, len) => d.configRead(o, len),
          bars: d.bars.slice(0, 6).map((b) => b && { addr: b.addr, size: b.size }),
          configSize: d.cfg.size,
        }) + `\tvdm: id "${d.name}"\n`,
    );
    return withVerdict('vdm pci', booted, text.join('\n'));
  }
  for (const d of machine.pciHost.devices()) {
    out.push(`  Bus  ${d.bus!.number()}, device ${(d.devfn >> 3).toString().padStart(3)}, function ${d.devfn & 7}:`);
    out.push(
      `    Class ${d.cfg.word(0x0a).toString(16).padStart(4, '0')}: PCI device ` +
        `${d.vendorId.toString(16).padStart(4, '0')}:${d.deviceId.toString(16).padStart(4, '0')}`,
    );
    const pin = d.cfg.byte(0x3d);
    if (pin) out.push(`      IRQ ${d.cfg.byte(0x3c)}, pin ${String.fromCharCode(64 + pin)}.`);
    d.bars.forEach((b, n) => {
      if (!b) return;
      const io = (b.type & 1) !== 0;
      const kind = io ? 'I/O' : `${b.type & 4 ? '64' : '32'} bit${b.type & 8 ? ' prefetchable' : ''} memory`;
      // hmp_info_pci_device prints the address even when unmapped (PCI_BAR_UNMAPPED), the end wrapping.
      const at =
        `at 0x${b.addr.toString(16).padStart(io ? 4 : 8, '0')} ` +
        `[0x${((b.addr + b.size - 1n) & 0xffffffffffffffffn).toString(16).padStart(io ? 4 : 8, '0')}]`;
      out.push(`      BAR${n}: ${kind} ${at}.`);
    });
    out.push(`      id "${d.name}"`);
  }
  return withVerdict('vdm pci', booted, out.join('\n') + '\n');
}
