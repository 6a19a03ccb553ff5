/**
 * Rows of cells as aligned text columns: each column as wide as its widest cell, so nothing
 * overflows whatever the numbers grow to. `right[i]` right-aligns column i (numbers).
 */
export function alignColumns(rows: string[][], right: boolean[], indent = '', gap = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (right[i] ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join(gap)
        .trimEnd(),
  );
}
