// V8's own account of when it compiled optimised code and when it threw it away: a benchmark
// process started with codeEventFlags(file) has V8 append a line per event to `file` (flushed per
// event), and CodeEvents counts what was appended since its last look. A timed round during which
// anything was deoptimised or (re)optimised did not time one piece of code from start to end.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** node flags that send --trace-opt/--trace-deopt lines to `file` instead of stdout. */
export function codeEventFlags(file: string): string[] {
  return ['--trace-opt', '--trace-deopt', '--redirect-code-traces', `--redirect-code-traces-to=${file}`];
}

export interface CodeEventCount {
  /** Deoptimisations ("[bailout ..."): eager, lazy or soft, of any function. */
  deopts: number;
  /** Optimised code installed ("[completed optimizing ..."), OSR included. */
  opts: number;
}

export function countCodeEvents(text: string): CodeEventCount {
  const count = (what: string) => {
    let n = 0;
    for (let i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + what.length)) n++;
    return n;
  };
  return { deopts: count('[bailout'), opts: count('[completed optimizing') };
}

/** Reads the log from where the last call stopped; no file (not traced) counts nothing. */
export class CodeEvents {
  private at = 0;

  constructor(private readonly file: string | undefined) {
    this.take();
  }

  /** Events logged since the previous call. */
  take(): CodeEventCount {
    if (!this.file) return { deopts: 0, opts: 0 };
    const end = statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
    if (end <= this.at) return { deopts: 0, opts: 0 };
    const buf = Buffer.alloc(end - this.at);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.at);
    } finally {
      closeSync(fd);
    }
    this.at = end;
    return countCodeEvents(buf.toString('latin1'));
  }
}
