// Terminal output: a progress line on stderr (redrawn in place on a terminal, a line every few
// seconds otherwise) and plain-text tables on stdout that clear the progress line first.

export class Progress {
  private done = 0;
  private total = 0;
  private lastLine = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly t0 = performance.now();

  /** Adds a phase's `steps` to the expected total (call once per phase, before it runs). */
  plan(steps: number): void {
    this.total += steps;
  }

  /** One unit of work has started. */
  step(what: string): void {
    this.done++;
    this.update(what);
  }

  update(what: string): void {
    const elapsed = ((performance.now() - this.t0) / 1000).toFixed(0).padStart(3);
    const line = `[${elapsed}s ${String(this.done).padStart(3)}/${this.total}] ${what}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (performance.now() - this.lastLine > 5000) {
      process.stderr.write(`${line}\n`);
      this.lastLine = performance.now();
    }
  }

  /** Prints a line of results without tearing the progress line. */
  print(line: string): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stdout.write(`${line}\n`);
  }

  finish(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

/** One line of fixed-width cells: a positive width right-aligns (numbers), a negative one left-aligns. */
export function line(cells: (string | number)[], widths: number[]): string {
  return cells
    .map((c, k) => (widths[k]! < 0 ? String(c).padEnd(-widths[k]!) : String(c).padStart(widths[k]!)))
    .join('  ')
    .trimEnd();
}

/** Markdown table of the same cells (for the README). */
export function markdown(header: string[], rows: (string | number)[][]): string[] {
  const align = header.map((_, k) =>
    rows.every((r) => typeof r[k] === 'number' || /^[\d.,]+/.test(String(r[k]))) ? '---:' : '---',
  );
  return [`| ${header.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

export const thousands = (n: number): string => n.toLocaleString('en-US').replace(/,/g, ' ');
export const fixed = (n: number, digits = 1): string => n.toFixed(digits);
