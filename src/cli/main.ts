import { mtreeCommand, MTREE_HELP } from './mtree-command.ts';
import { demoCommand, DEMO_HELP } from './demo.ts';
import { hostCommand, hostsCommand, HOST_HELP, HOSTS_HELP } from './host-command.ts';
import { bootCommand, machinesCommand, pciCommand, BOOT_HELP, MACHINES_HELP, PCI_HELP } from './boot-command.ts';
import { EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, UsageError } from './errors.ts';
import { FileError } from '../util/json-reader.ts';
import { VfioError, KernelBug } from '../host/index.ts';
import { VfioRealizeError } from '../vfio/index.ts';
import { MachineError } from '../machine/index.ts';
import { GuestError } from '../guest/index.ts';

const HELP = `usage: vdm COMMAND [options]

Commands:
  boot     boot a machine with a host device assigned and print the boot report (npm start)
  machines list the machine types with their interrupt controller, IOMMU and MSI-X policy
  pci      the booted machine's PCI devices and BARs, like QEMU's "info pci"
  mtree    the memory tree of a booted machine, or of an imported QEMU "info mtree" dump
  host     a host's PCI tree, IOMMU groups, viability and MSI-isolation facts
  hosts    list the host descriptions shipped with vdm
  demo     drive guest accesses through a small PC-like map and show the access paths
  help     this text; "vdm COMMAND --help" for a command

Exit codes: 0 success, 1 guest/device failure, 2 bad input.
`;

const commands: Record<string, { run: (argv: string[]) => { out: string; err: string }; help: string }> = {
  boot: { run: bootCommand, help: BOOT_HELP },
  machines: { run: () => machinesCommand(), help: MACHINES_HELP },
  pci: { run: pciCommand, help: PCI_HELP },
  mtree: { run: mtreeCommand, help: MTREE_HELP },
  demo: { run: () => demoCommand(), help: DEMO_HELP },
  host: { run: hostCommand, help: HOST_HELP },
  hosts: { run: () => hostsCommand(), help: HOSTS_HELP },
};

/** What one CLI invocation printed and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI without touching the process, so tests can call it directly. */
export function runCli(argv: string[]): CliResult {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    return { code: name ? EXIT_OK : EXIT_BAD_INPUT, out: HELP, err: '' };
  }
  const cmd = commands[name];
  if (!cmd) return { code: EXIT_BAD_INPUT, out: '', err: `vdm: unknown command "${name}"\n\n${HELP}` };
  if (rest.includes('--help') || rest.includes('-h')) return { code: EXIT_OK, out: cmd.help, err: '' };
  try {
    return { code: EXIT_OK, ...cmd.run(rest) };
  } catch (e) {
    if (e instanceof UsageError || e instanceof FileError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return { code: EXIT_BAD_INPUT, out: '', err: `vdm ${name}: ${(e as Error).message}\n` };
    }
    if (e instanceof VfioError || e instanceof VfioRealizeError || e instanceof MachineError || e instanceof KernelBug || e instanceof GuestError) {
      return { code: EXIT_FAILURE, out: '', err: `vdm ${name}: ${(e as Error).message}\n` };
    }
    return { code: EXIT_FAILURE, out: '', err: `vdm ${name}: ${(e as Error).stack ?? e}\n` };
  }
}
