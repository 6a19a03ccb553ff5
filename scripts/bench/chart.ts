// SVG chart of dispatch cost: ns per read against region count (both log scales), one line per
// strategy, one panel per (stream, path). Hand-written SVG: a few dozen elements need no library.
import type { DispatchRow } from './dispatch.ts';

const COLORS = ['#222222', '#d62728', '#7f7f7f', '#1f77b4', '#2ca02c', '#9467bd'];
const W = 230;
const H = 240;
const PAD = { left: 44, right: 10, top: 24, bottom: 30 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const log10 = Math.log10;
/** 10^e nanoseconds as a short label: 1ns, 10µs, 1ms. */
const label = (e: number) => (e < 3 ? `${10 ** e}ns` : e < 6 ? `${10 ** (e - 3)}µs` : `${10 ** (e - 6)}ms`);

export function dispatchChart(
  rows: DispatchRow[],
  strategies: { key: keyof DispatchRow['ns']; label: string }[],
  title: (path: string, order: string) => string = (path, order) => `${path} read, ${order}`,
): string {
  const reads = rows.filter((r) => r.op === 'read');
  const orders = [...new Set(reads.map((r) => r.order))];
  const paths = [...new Set(reads.map((r) => r.path))];
  const sizes = [...new Set(reads.map((r) => r.regions))].sort((a, b) => a - b);
  const all = reads.flatMap((r) =>
    strategies.map((s) => r.ns[s.key]).filter((v): v is number => v !== undefined && v > 0),
  );
  if (all.length === 0)
    return '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="20"><text y="14">no read rows</text></svg>';
  const yMin = 10 ** Math.floor(log10(Math.min(...all)));
  const yMax = 10 ** Math.ceil(log10(Math.max(...all)));
  const xMin = Math.min(...sizes);
  const xMax = Math.max(xMin * 10, ...sizes);
  const legendH = 28;
  const width = paths.length * W;
  const height = legendH + orders.length * H;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ` +
      `${height}" font-family="sans-serif" font-size="10">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  strategies.forEach((s, k) => {
    const x = 10 + k * 150;
    out.push(
      `<line x1="${x}" y1="14" x2="${x + 18}" y2="14" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"/>`,
      `<text x="${x + 22}" y="18">${esc(s.label)}</text>`,
    );
  });
  orders.forEach((order, row) => {
    const has = (path: string) => reads.some((r) => r.order === order && r.path === path);
    paths.forEach((path, col) => {
      if (!has(path)) return; // nothing measured there
      const ox = col * W;
      const oy = legendH + row * H;
      const px = (n: number) =>
        ox + PAD.left + ((log10(n) - log10(xMin)) / (log10(xMax) - log10(xMin) || 1)) * (W - PAD.left - PAD.right);
      const py = (ns: number) =>
        oy +
        H -
        PAD.bottom -
        ((log10(ns) - log10(yMin)) / (log10(yMax) - log10(yMin) || 1)) * (H - PAD.top - PAD.bottom);
      out.push(`<text x="${ox + PAD.left}" y="${oy + 14}" font-weight="bold">${esc(title(path, order))}</text>`);
      out.push(
        `<rect x="${ox + PAD.left}" y="${oy + PAD.top}" width="${W - PAD.left - PAD.right}" ` +
          `height="${H - PAD.top - PAD.bottom}" fill="none" stroke="#ccc"/>`,
      );
      for (let e = log10(yMin); e <= log10(yMax); e++) {
        const y = py(10 ** e);
        out.push(
          `<line x1="${ox + PAD.left}" y1="${y}" x2="${ox + W - PAD.right}" y2="${y}" stroke="#eee"/>`,
          `<text x="${ox + PAD.left - 4}" y="${y + 3}" text-anchor="end">${label(e)}</text>`,
        );
      }
      for (const n of sizes)
        out.push(
          `<text x="${px(n)}" y="${oy + H - PAD.bottom + 12}" ` +
            `text-anchor="middle">${n >= 1000 ? `${n / 1000}k` : n}</text>`,
        );
      if (col === paths.findIndex(has) && row === orders.length - 1)
        out.push(`<text x="${ox + W / 2}" y="${oy + H - 4}" text-anchor="middle">regions</text>`);
      strategies.forEach((s, k) => {
        const pts = sizes
          .map((n) => reads.find((r) => r.regions === n && r.order === order && r.path === path))
          .filter((r): r is DispatchRow => r?.ns[s.key] !== undefined)
          .map((r) => `${px(r.regions).toFixed(1)},${py(r.ns[s.key]!).toFixed(1)}`);
        if (pts.length)
          out.push(
            `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[k % COLORS.length]}" ` +
              `stroke-width="1.6"/>`,
          );
        for (const p of pts)
          out.push(
            `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2" fill="${COLORS[k % COLORS.length]}"/>`,
          );
      });
    });
  });
  out.push('</svg>');
  return out.join('\n');
}
