// The map's data: lanes, boxes, segments and their explanations agree with --explain (one engine).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { explainGuestAccess } from '../../src/machine/index.ts';
import {
  explainAddress,
  formatExplanation,
  formatExplanationData,
  importQemuMtree,
  shiftExplanation,
} from '../../src/memory/index.ts';
import { Axis, decodeExplanation, importedMap, renderSvg, type MapLane } from '../../src/map/index.ts';
import { QEMU_DIR } from '../memory/qemu-golden.ts';
import { machinePage } from './helpers.ts';

/** What the page does on a click: the segment's explanation moved to the address. */
function pageExplain(lane: MapLane, addr: bigint): string {
  const seg = [...lane.segments].reverse().find((s) => BigInt(s.start) <= addr)!;
  return formatExplanationData(shiftExplanation(decodeExplanation(seg.explain), addr - BigInt(seg.start)));
}

for (const name of ['q35', 'virt', 'pseries']) {
  test(`${name}: any address explains on the map exactly as --explain says`, async () => {
    const { machine, model } = await machinePage(name);
    for (const lane of model.lanes) {
      const as = lane.name === 'memory' ? machine.addressSpaceMemory : machine.addressSpaceIo!;
      const end = as.root.addr + as.root.size - 1n;
      // Every segment's first and last byte, then random addresses (a fixed seed).
      for (const s of lane.segments) {
        for (const a of [BigInt(s.start), BigInt(s.end) - 1n])
          assert.is(pageExplain(lane, a), formatExplanationData(explainGuestAccess(machine, as, a)));
      }
      fc.assert(
        fc.property(
          fc.bigInt({ min: 0n, max: end }),
          (a) => pageExplain(lane, a) === formatExplanationData(explainGuestAccess(machine, as, a)),
        ),
        { seed: 16, numRuns: 200 },
      );
    }
  });
}

test('virt on a 64 KiB host: the BAR page shared with the MSI-X table is one hatched (exiting) segment', async () => {
  const { machine, model } = await machinePage('virt');
  const bar = machine.devices[0]!.bars[0]!.addr;
  const mem = model.lanes.find((l) => l.name === 'memory')!;
  const exits = mem.segments.filter((s) => s.path === 'mmapExit');
  assert.ok(exits.length > 0);
  for (const s of exits)
    assert.ok(BigInt(s.start) >= bar && BigInt(s.end) <= bar + 0x10000n, `${s.start} in the BAR's first 64 KiB page`);
  assert.ok(mem.segments.some((s) => s.path === 'msixOverlay' && BigInt(s.start) === bar + 0x2000n));
  const svg = renderSvg(model, new Axis(model), { u0: 0, u1: new Axis(model).total, width: 1280 });
  assert.match(svg, 'fill="url(#hatch)"');
  assert.match(svg, 'data-lane="memory"');
});

test('the boxes show aliases with their targets and containers by depth', async () => {
  const { model } = await machinePage('virt');
  const mem = model.lanes[0]!;
  const high = mem.boxes.find((b) => b.name === 'gpex-mmio-high')!;
  assert.is(high.kind, 'alias');
  assert.is(high.target, 'gpex-mmio @0x8000000000');
  const target = mem.boxes.find((b) => b.name === 'gpex-mmio' && b.start === high.start)!;
  assert.is(target.depth, high.depth + 1, 'the alias target is drawn under the alias, clipped to its window');
  assert.is(target.end, high.end);
  assert.is(mem.boxes.find((b) => b.name === 'system')!.kind, 'container');
});

test("an imported QEMU dump maps with the memory engine's explanation and colours by region type", () => {
  const spaces = importQemuMtree(readFileSync(QEMU_DIR + 'pc-basic.txt', 'utf8'), 'pc-basic.txt').spaces;
  const model = importedMap(spaces, 'pc-basic');
  const mem = model.lanes.find((l) => l.name === 'memory')!;
  const as = spaces.find((s) => s.name === 'memory')!;
  for (const a of [0xfee00010n, 0x100000n, 0xe0010n, 0xa0000000n])
    assert.is(pageExplain(mem, a), formatExplanation(explainAddress(as, a)));
  assert.is(mem.segments.find((s) => s.name === 'apic-msi')!.path, 'vmm');
  assert.is(mem.segments.find((s) => BigInt(s.start) <= 0x100000n && 0x100000n < BigInt(s.end))!.path, 'ram');
});

test.run();
