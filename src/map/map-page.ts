// The self-contained HTML page of a memory map: the model as JSON and the page script inline, so
// it opens from file:// with no network.
import type { MapModel } from './map-model.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The page for `model`, with `script` (the bundle of src/map/web/main.ts) inlined. */
export function mapPage(model: MapModel, script: string): string {
  // "<" escaped so neither the JSON nor the script can close their <script> element early.
  const json = JSON.stringify(model).replace(/</g, '\\u003c');
  const code = script.replace(/<\/script/gi, '<\\/script');
  const options = model.lanes.map((l) => `<option>${esc(l.name)}</option>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(model.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 13px system-ui, sans-serif; margin: 0 12px; color: #222; }
h1 { font-size: 17px; margin: 10px 0 2px; } .sub { color: #555; margin-bottom: 6px; }
#map { border: 1px solid #bbb; overflow: hidden; cursor: crosshair; user-select: none; }
#map:focus { outline: 2px solid #1a73e8; }
form { margin: 6px 0; } input { font: 13px monospace; width: 20ch; }
#explain { background: #f6f6f6; border: 1px solid #ddd; padding: 6px 8px; min-height: 8em; max-height: 40vh; overflow: auto; font-size: 12px; white-space: pre-wrap; }
.keys { color: #555; font-size: 12px; }
</style></head>
<body>
<h1>${esc(model.title)}</h1>
<div class="sub">${esc(model.subtitle)}</div>
<form id="goto"><label>address <input id="addr" placeholder="0xfee00000" autocomplete="off"></label>
<label>in <select id="as">${options}</select></label> <button type="submit">explain</button>
<button type="button" id="reset">whole space</button>
<span class="keys">wheel or +/- zoom, drag or ←/→ pan, 0 whole space, / address box; click the map to explain an address</span></form>
<div id="map" tabindex="0" aria-label="memory map: click or use the address box"></div>
<pre id="explain" aria-live="polite">Click an address on the map, or type one above.</pre>
<script type="application/json" id="vdm-map-data">${json}</script>
<script>${code}</script>
</body></html>
`;
}
