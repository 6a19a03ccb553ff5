import { mtreeCommand, MTREE_HELP } from './mtree-command.ts';
import { mapCommand, MAP_HELP } from './map-command.ts';
import { demoCommand, DEMO_HELP } from './demo.ts';
import { hostCommand, hostsCommand, HOST_HELP, HOSTS_HELP } from './host-command.ts';
import { bootCommand, machinesCommand, pciCommand, BOOT_HELP, MACHINES_HELP, PCI_HELP } from './boot-command.ts';
import { EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK } from './errors.ts';
import { VdmError } from '../util/errors.ts';
import { parseOptions } from './options.ts';

const HELP = `usage: vdm COMMAND [options]

Commands:
  boot     boot a machine with a host device assigned and print the boot report (npm start)
  machines list the machine types with their interrupt controller, IOMMU and MSI-X policy
  pci      the booted machine's PCI devices and BARs, like QEMU's "info pci"
  mtree    the memory tree of a booted machine, or of an imported QEMU "info mtree" dump
  map      the same as an interactive page for a browser (one HTML file), or an SVG picture
  host     a host's PCI tree, IOMMU groups, viability and MSI-isolation facts
  hosts    list the host descriptions shipped with vdm
  demo     drive guest accesses through a small PC-like map and show the access paths
  help     this text; "vdm COMMAND --help" for a command

Exit codes: 0 success, 1 guest/device failure, 2 bad input.
--debug (anywhere on the line) adds the stack trace to an error.
`;

const commands: Record<string, { run: (argv: string[]) => { out: string; err: string }; help: string }> = {
  boot: { run: bootCommand, help: BOOT_HELP },
  machines: { run: (argv) => (noOptions('machines', argv), machinesCommand()), help: MACHINES_HELP },
  pci: { run: pciCommand, help: PCI_HELP },
  mtree: { run: mtreeCommand, help: MTREE_HELP },
  map: { run: mapCommand, help: MAP_HELP },
  demo: { run: (argv) => (noOptions('demo', argv), demoCommand()), help: DEMO_HELP },
  host: { run: hostCommand, help: HOST_HELP },
  hosts: { run: (argv) => (noOptions('hosts', argv), hostsCommand()), help: HOSTS_HELP },
};

/** What one CLI invocation printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** A command that takes no options refuses any it is given. */
function noOptions(command: string, argv: string[]): void {
  parseOptions(`vdm ${command}`, argv, {});
}

/**
 * Runs the CLI without touching the process, so tests and the fuzz suite call it directly. Errors
 * are mapped here and only here: a VdmError prints its message and exits with its code; anything
 * else is a vdm bug, reported in one line (the stack only with --debug).
 */
export function runCli(argv: string[]): CliResult {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv.filter((a) => a !== '--debug');
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    return { code: name ? EXIT_OK : EXIT_BAD_INPUT, out: HELP, err: '' };
  }
  const cmd = commands[name];
  if (!cmd) return { code: EXIT_BAD_INPUT, out: '', err: `vdm: unknown command "${name}"\n\n${HELP}` };
  if (rest.includes('--help') || rest.includes('-h')) return { code: EXIT_OK, out: cmd.help, err: '' };
  try {
    return { code: EXIT_OK, ...cmd.run(rest) };
  } catch (e) {
    return errorResult(name, e, debug);
  }
}

/** The one place an error becomes output: its message and exit code, the stack only with --debug. */
export function errorResult(command: string, e: unknown, debug: boolean): CliResult {
  const trace = debug ? `${(e as Error)?.stack ?? String(e)}\n` : '';
  if (e instanceof VdmError) return { code: e.exitCode, out: '', err: `vdm ${command}: ${e.describe()}\n${trace}` };
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return {
    code: EXIT_FAILURE,
    out: '',
    err:
      `vdm ${command}: internal error (a bug in vdm, please report it): ` +
      `${what}\n${trace || 'run again with --debug for the stack trace\n'}`,
  };
}
