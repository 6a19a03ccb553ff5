import { mtreeCommand, MTREE_HELP } from './mtree-command.ts';
import { demoCommand, DEMO_HELP } from './demo.ts';
import { hostCommand, hostsCommand, HOST_HELP, HOSTS_HELP } from './host-command.ts';
import { EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, UsageError } from './errors.ts';

const HELP = `usage: vdm COMMAND [options]

Commands:
  mtree    print or explain a memory tree imported from a QEMU "info mtree" dump
  host     a host's PCI tree, IOMMU groups, viability and MSI-isolation facts
  hosts    list the host descriptions shipped with vdm
  demo     drive guest accesses through a small PC-like map and show the access paths
  help     this text; "vdm COMMAND --help" for a command

Exit codes: 0 success, 1 guest/device failure, 2 bad input.
`;

const commands: Record<string, { run: (argv: string[]) => { out: string; err: string }; help: string }> = {
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
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return { code: EXIT_BAD_INPUT, out: '', err: `vdm ${name}: ${(e as Error).message}\n` };
    }
    return { code: EXIT_FAILURE, out: '', err: `vdm ${name}: ${(e as Error).stack ?? e}\n` };
  }
}
