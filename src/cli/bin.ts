import { runCli } from './main.ts';

const { code, out, err } = runCli(process.argv.slice(2));
process.exitCode = code;
// A reader that went away (`vdm mtree ... | head -1`) ends the output, not the run with a stack trace.
const quietOnEpipe = (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(code);
  throw e;
};
process.stdout.on('error', quietOnEpipe);
process.stderr.on('error', quietOnEpipe);
process.stderr.write(err);
process.stdout.write(out);
