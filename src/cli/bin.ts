import { runCli } from './main.ts';

const { code, out, err } = runCli(process.argv.slice(2));
process.stderr.write(err);
process.stdout.write(out);
process.exitCode = code;
