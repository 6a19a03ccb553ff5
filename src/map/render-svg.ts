// Draws a memory map as SVG text: the same drawing for `vdm map --svg` and, redrawn on every zoom
// or pan, for the page. No DOM here, so Node and the browser share it.
import type { AccessPath } from '../machine/access-path.ts';
import type { Axis } from './axis.ts';
import type { MapModel } from './map-model.ts';

/** Colour of each path (the legend's order). */
export const PATH_STYLE: Record<AccessPath, { fill: string; label: string }> = {
  ram: { fill: '#4e79a7', label: 'guest RAM' },
  mmap: { fill: '#59a14f', label: 'mmapped (no exit)' },
  mmapExit: { fill: '#59a14f', label: 'mmapped, exits (shared page)' },
  trappedToKernel: { fill: '#e15759', label: 'trapped to the kernel' },
  vmm: { fill: '#f28e2b', label: 'trapped to the VMM' },
  msixOverlay: { fill: '#b07aa1', label: 'MSI-X overlay' },
  unassigned: { fill: '#e6e6e6', label: 'unassigned' },
};

/** Which part of the axis is on screen, and how wide the picture is. */
export interface MapView {
  /** Axis units at the left and right edges of the plot. */
  u0: number;
  u1: number;
  width: number;
  /** An address to mark (the last one explained). */
  mark?: { lane: string; addr: bigint } | null;
}

export const LABEL_W = 150;
const ROW = 18;
const FLAT = 24;
const AXIS_H = 34;
const LEGEND_H = 30;

/** Height of one lane: title, one row per tree depth, the flat row ("answers"). */
export function laneHeight(depth: number): number {
  return ROW + (depth + 1) * ROW + FLAT + 12;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Fits a name into `px` pixels at ~6.6 px per character (11 px monospace-ish), or nothing. */
function fit(name: string, px: number): string {
  const n = Math.floor((px - 6) / 6.6);
  if (n < 3) return '';
  return name.length <= n ? name : `${name.slice(0, n - 1)}…`;
}

/** The whole picture for one view. */
export function renderSvg(model: MapModel, axis: Axis, view: MapView): string {
  const plotW = view.width - LABEL_W - 10;
  const scale = plotW / (view.u1 - view.u0);
  const x = (addr: bigint) => LABEL_W + (axis.toUnits(addr) - view.u0) * scale;
  const clipX = (v: number) => Math.max(LABEL_W - 2, Math.min(view.width + 2, v));
  const out: string[] = [];
  let y = AXIS_H;
  const lanesH = model.lanes.reduce((a, l) => a + laneHeight(l.depth), 0);
  const height = AXIS_H + lanesH + LEGEND_H;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${view.width}" height="${height}" viewBox="0 0 ` +
      `${view.width} ${height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="11" ` +
      `role="img" aria-label="${esc(model.title)}">`,
  );
  out.push(
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" ' +
      'patternTransform="rotate(45)"><rect width="6" height="6" fill="#59a14f"/><line x1="0" y1="0" x2="0" ' +
      'y2="6" stroke="#c0392b" stroke-width="3"/></pattern>',
  );
  out.push(`<clipPath id="plot"><rect x="${LABEL_W}" y="0" width="${plotW}" height="${height}"/></clipPath></defs>`);
  out.push(`<rect width="${view.width}" height="${height}" fill="#fff"/>`);
  out.push(axisTicks(axis, view, x));
  for (const l of model.lanes) {
    const h = laneHeight(l.depth);
    out.push(`<g class="lane" data-lane="${esc(l.name)}" transform="translate(0,${y})">`);
    out.push(
      `<rect class="lane-bg" x="0" y="0" width="${view.width}" height="${h - 6}" fill="#fafafa" stroke="#ccc"/>`,
    );
    out.push(
      `<text x="6" y="13" font-weight="bold" font-size="12">${esc(l.name)}</text><text x="6" y="${ROW + 13}" ` +
        `fill="#555">root ${esc(fit(l.root, LABEL_W - 40))}</text>`,
    );
    out.push(`<text x="6" y="${ROW + (l.depth + 1) * ROW + 16}" fill="#333">answers</text>`);
    out.push('<g clip-path="url(#plot)">');
    for (const b of l.boxes) {
      const x0 = x(BigInt(b.start));
      const x1 = x(BigInt(b.end));
      if (x1 < LABEL_W || x0 > view.width) continue;
      const bx = clipX(x0);
      const bw = Math.max(1, clipX(x1) - bx);
      const by = ROW + b.depth * ROW + 1;
      const fill = b.kind === 'region' ? PATH_STYLE[b.path ?? 'vmm'].fill : 'none';
      const stroke = b.kind === 'alias' ? '#555" stroke-dasharray="4 2' : b.kind === 'container' ? '#777' : '#fff';
      const title =
        `${b.name} (${b.kind === 'alias' ? `alias -> ${b.target}` : b.type}, prio ${b.prio}) ` +
        `${b.start}-${hex(BigInt(b.end) - 1n)}`;
      out.push(
        `<rect class="box ${b.kind}" data-region="${esc(b.name)}" data-start="${b.start}" data-end="${b.end}" ` +
          `x="${bx.toFixed(1)}" y="${by}" width="${bw.toFixed(1)}" height="${ROW - 2}" fill="${fill}" ` +
          `fill-opacity="${b.kind === 'region' ? 0.85 : 0}" stroke="${stroke}"><title>${esc(title)}</title></rect>`,
      );
      const label = fit(b.kind === 'alias' ? `${b.name} -> ${b.target}` : b.name, bw);
      if (label)
        out.push(
          `<text x="${(bx + 3).toFixed(1)}" y="${by + 12}" fill="${b.kind === 'region' ? '#fff' : '#333'}" ` +
            `pointer-events="none">${esc(label)}</text>`,
        );
    }
    const fy = ROW + (l.depth + 1) * ROW + 2;
    for (const s of l.segments) {
      const x0 = x(BigInt(s.start));
      const x1 = x(BigInt(s.end));
      if (x1 < LABEL_W || x0 > view.width) continue;
      const bx = clipX(x0);
      const bw = Math.max(1, clipX(x1) - bx);
      const fill = s.path === 'mmapExit' ? 'url(#hatch)' : PATH_STYLE[s.path].fill;
      out.push(
        `<rect class="seg ${s.path}" data-path="${s.path}" data-region="${esc(s.name)}" ` +
          `data-start="${s.start}" data-end="${s.end}" x="${bx.toFixed(1)}" y="${fy}" ` +
          `width="${bw.toFixed(1)}" height="${FLAT - 4}" fill="${fill}" stroke="#fff" ` +
          `stroke-width="0.5"><title>${esc(`${s.name || 'unassigned'}: ${PATH_STYLE[s.path].label} ${s.start}-${hex(BigInt(s.end) - 1n)}`)}</title></rect>`,
      );
    }
    if (view.mark && view.mark.lane === l.name) {
      const mx = x(view.mark.addr);
      out.push(
        `<line class="mark" x1="${mx.toFixed(1)}" y1="${ROW}" x2="${mx.toFixed(1)}" y2="${h - 8}" ` +
          `stroke="#000" stroke-width="2"/>`,
      );
    }
    out.push('</g></g>');
    y += h;
  }
  out.push(legend(y + 8));
  out.push('</svg>');
  return out.join('\n');
}

/** Ticks at the cuts that fall on screen, labelled where there is room. */
function axisTicks(axis: Axis, view: MapView, x: (a: bigint) => number): string {
  const out = [
    `<g class="axis"><line x1="${LABEL_W}" y1="${AXIS_H - 4}" x2="${view.width - 10}" y2="${AXIS_H - 4}" ` +
      `stroke="#333"/>`,
  ];
  out.push(`<text x="6" y="${AXIS_H - 10}" fill="#333">address</text>`);
  let lastLabel = -1e9;
  for (const c of axis.cuts) {
    const cx = x(c);
    if (cx < LABEL_W || cx > view.width - 10) continue;
    out.push(`<line x1="${cx.toFixed(1)}" y1="${AXIS_H - 8}" x2="${cx.toFixed(1)}" y2="${AXIS_H - 2}" stroke="#333"/>`);
    const text = c === 1n << 64n ? '2^64' : hex(c);
    if (cx - lastLabel > text.length * 6.2 + 10 && cx - text.length * 3.1 > LABEL_W - 20) {
      out.push(
        `<text x="${cx.toFixed(1)}" y="${AXIS_H - 12}" text-anchor="middle" fill="#333" font-size="10">${text}</text>`,
      );
      lastLabel = cx;
    }
  }
  out.push('</g>');
  return out.join('');
}

function legend(y: number): string {
  const out = [`<g class="legend" transform="translate(${LABEL_W},${y})">`];
  let lx = 0;
  for (const [path, s] of Object.entries(PATH_STYLE)) {
    out.push(
      `<rect x="${lx}" y="0" width="14" height="12" fill="${path === 'mmapExit' ? 'url(#hatch)' : s.fill}" ` +
        `stroke="#999"/><text x="${lx + 18}" y="10">${esc(s.label)}</text>`,
    );
    lx += 24 + s.label.length * 6.6;
  }
  out.push(
    `<rect x="${lx}" y="0" width="14" height="12" fill="none" stroke="#777"/><text x="${lx + 18}" ` +
      `y="10">container</text>`,
  );
  lx += 24 + 9 * 6.6;
  out.push(
    `<rect x="${lx}" y="0" width="14" height="12" fill="none" stroke="#555" stroke-dasharray="4 2"/><text ` +
      `x="${lx + 18}" y="10">alias</text></g>`,
  );
  return out.join('');
}
