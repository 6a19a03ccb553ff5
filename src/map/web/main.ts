// The map page's script (bundled by esbuild into the page): zoom, pan, keyboard, and a click on an
// address explains it with the same formatter as `vdm mtree --explain`.
import { formatExplanationData, shiftExplanation } from '../../memory/explain-format.ts';
import { Axis } from '../axis.ts';
import { decodeExplanation } from '../map-json.ts';
import { LABEL_W, laneHeight, renderSvg, type MapView } from '../render-svg.ts';
import type { MapLane, MapModel } from '../map-model.ts';

const model = JSON.parse(document.getElementById('vdm-map-data')!.textContent!) as MapModel;
const axis = new Axis(model);
const host = document.getElementById('map')!;
const pre = document.getElementById('explain')!;
const input = document.getElementById('addr') as HTMLInputElement;
const select = document.getElementById('as') as HTMLSelectElement;
const view: MapView = { u0: 0, u1: axis.total, width: 1200, mark: null };

function draw(): void {
  view.width = Math.max(640, host.clientWidth);
  host.innerHTML = renderSvg(model, axis, view);
}

/** The explanation of `addr` in a lane: the segment's, moved to the address. */
function explain(lane: MapLane, addr: bigint): string {
  let lo = 0;
  let hi = lane.segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (BigInt(lane.segments[mid]!.start) <= addr) lo = mid;
    else hi = mid - 1;
  }
  const seg = lane.segments[lo]!;
  if (addr < BigInt(seg.start) || addr >= BigInt(seg.end))
    return `address 0x${addr.toString(16)} is outside address space "${lane.name}"\n`;
  return formatExplanationData(shiftExplanation(decodeExplanation(seg.explain), addr - BigInt(seg.start)));
}

function show(laneName: string, addr: bigint): void {
  const lane = model.lanes.find((l) => l.name === laneName) ?? model.lanes[0]!;
  pre.textContent = explain(lane, addr);
  view.mark = { lane: lane.name, addr };
  select.value = lane.name;
  input.value = `0x${addr.toString(16)}`;
  draw();
}

function zoom(factor: number, atU: number): void {
  const span = Math.min(axis.total, Math.max(1e-6, (view.u1 - view.u0) * factor));
  const frac = (atU - view.u0) / (view.u1 - view.u0);
  view.u0 = atU - frac * span;
  view.u1 = view.u0 + span;
  clamp();
  draw();
}

function pan(du: number): void {
  view.u0 += du;
  view.u1 += du;
  clamp();
  draw();
}

function clamp(): void {
  const span = view.u1 - view.u0;
  if (view.u0 < 0) [view.u0, view.u1] = [0, span];
  if (view.u1 > axis.total) [view.u0, view.u1] = [axis.total - span, axis.total];
}

const unitsAt = (clientX: number) =>
  view.u0 +
  ((clientX - host.getBoundingClientRect().left - LABEL_W) / (view.width - LABEL_W - 10)) * (view.u1 - view.u0);

/** The lane under a point of the map, by its vertical position. */
function laneAt(clientY: number): string | null {
  let y = clientY - host.getBoundingClientRect().top - 34;
  for (const l of model.lanes) {
    const h = laneHeight(l.depth);
    if (y >= 0 && y < h) return l.name;
    y -= h;
  }
  return null;
}

host.addEventListener(
  'wheel',
  (ev) => {
    ev.preventDefault();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, unitsAt(ev.clientX));
  },
  { passive: false },
);

let drag: { x: number; u0: number; moved: boolean } | null = null;
host.addEventListener('mousedown', (ev) => {
  drag = { x: ev.clientX, u0: view.u0, moved: false };
});
window.addEventListener('mousemove', (ev) => {
  if (!drag) return;
  const dx = ev.clientX - drag.x;
  if (Math.abs(dx) > 3) drag.moved = true;
  if (!drag.moved) return;
  const span = view.u1 - view.u0;
  view.u0 = drag.u0 - (dx / (view.width - LABEL_W - 10)) * span;
  view.u1 = view.u0 + span;
  clamp();
  draw();
});
window.addEventListener('mouseup', (ev) => {
  const d = drag;
  drag = null;
  if (!d || d.moved || ev.target === null || !host.contains(ev.target as Node)) return;
  const lane = laneAt(ev.clientY);
  const u = unitsAt(ev.clientX);
  if (lane && u >= view.u0 && u <= view.u1) show(lane, axis.toAddress(u));
});

host.addEventListener('keydown', (ev) => {
  const span = view.u1 - view.u0;
  const centre = (view.u0 + view.u1) / 2;
  if (ev.key === '+' || ev.key === '=') zoom(0.5, view.mark ? axis.toUnits(view.mark.addr) : centre);
  else if (ev.key === '-') zoom(2, centre);
  else if (ev.key === 'ArrowLeft') pan(-span / 8);
  else if (ev.key === 'ArrowRight') pan(span / 8);
  else if (ev.key === '0') zoom(Infinity, 0);
  else if (ev.key === '/') input.focus();
  else return;
  ev.preventDefault();
});

document.getElementById('goto')!.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = input.value.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t) || BigInt(t) >= 1n << 64n) {
    pre.textContent = `"${input.value}" is not an address (use hex like 0xfee00000 or decimal)`;
    return;
  }
  const addr = BigInt(t);
  // Centre the address, zoomed so its neighbourhood is readable.
  const u = axis.toUnits(addr);
  const span = Math.min(view.u1 - view.u0, axis.total / 8);
  view.u0 = u - span / 2;
  view.u1 = u + span / 2;
  clamp();
  show(select.value, addr);
  host.focus();
});
document.getElementById('reset')!.addEventListener('click', () => zoom(Infinity, 0));
window.addEventListener('resize', draw);
draw();
