// Boots through the incremental render: BAR programming during enumeration, bus-master enables and
// the PBA overlay toggled by every MSI-X mask round (hw/pci/msix.c:msix_handle_mask_update ->
// memory_region_set_enabled) each commit a transaction, and none of them renders from scratch.
// VDM_CHECK_RENDER=1 makes every commit of the boot prove itself against a full re-render.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootNicFarm, loadMachineFile, parseGuestFile } from '../../src/index.ts';
import { hostJson } from '../vfio/helpers.ts';

function bootChecked(machine: string, count: number) {
  const spec = loadMachineFile(fileURLToPath(new URL(`../../machines/${machine}.json`, import.meta.url)));
  const base = JSON.parse(readFileSync(new URL('../../machines/guests/nic.json', import.meta.url), 'utf8'));
  const guest = parseGuestFile(JSON.stringify({ ...base, iterations: 200 }), 'nic.json');
  const saved = process.env.VDM_CHECK_RENDER;
  process.env.VDM_CHECK_RENDER = '1';
  try {
    return bootNicFarm(spec, hostJson(spec.defaultHost!), guest, count);
  } finally {
    if (saved === undefined) delete process.env.VDM_CHECK_RENDER;
    else process.env.VDM_CHECK_RENDER = saved;
  }
}

for (const machine of ['q35', 'pseries']) {
  test(`${machine} with 4 NICs: every commit patches, each checked against a full re-render`, () => {
    const r = bootChecked(machine, 4);
    const s = r.machine.memorySystem.stats;
    assert.ok(r.machine.memorySystem.checkRender);
    assert.is(r.report.driver!.completions, 800);
    assert.is(s.renders, 1, 'only the first view of system memory was rendered from scratch');
    assert.ok(
      s.patches > 0 && s.fullRenderEquivalents >= s.rebuilds,
      `${s.patches} patches for ${s.fullRenderEquivalents} full renders`,
    );
  });
}

test('q35: each mask round toggles the PBA overlay, a patch each time', () => {
  const rebuilds = (iterations: number) => {
    const spec = loadMachineFile(fileURLToPath(new URL('../../machines/q35.json', import.meta.url)));
    const base = JSON.parse(readFileSync(new URL('../../machines/guests/nic.json', import.meta.url), 'utf8'));
    const guest = parseGuestFile(JSON.stringify({ ...base, iterations }), 'nic.json');
    const s = bootNicFarm(spec, hostJson(spec.defaultHost!), guest, 1).machine.memorySystem.stats;
    return { rebuilds: s.rebuilds, renders: s.renders };
  };
  const few = rebuilds(50);
  const more = rebuilds(350); // three mask rounds of vector 0: the PBA overlay on and off in each
  assert.is(more.rebuilds - few.rebuilds, 6);
  assert.equal([few.renders, more.renders], [1, 1]);
});

test.run();
