import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs, strict, with its errors turned into usage errors (exit 2). A string option followed by
 * something that starts with "-" but is no option of this command takes it as its value, so
 * `--explain -1` reaches the address check instead of Node's "argument is ambiguous".
 */
export function parseOptions<O extends Options>(command: string, argv: string[], options: O, positionals = false) {
  const flags = new Set(Object.entries(options).flatMap(([k, o]) => [`--${k}`, ...(o.short ? [`-${o.short}`] : [])]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const opt = a.startsWith('--') ? options[a.slice(2)] : undefined;
    if (opt?.type === 'string' && next !== undefined && next.startsWith('-') && !flags.has(next.split('=')[0]!)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(`${(e as Error).message} ("${command} --help" lists its options)`, { cause: e });
    throw e;
  }
}
