// `info mtree` output: system/memory.c:mtree_info_as, mtree_print_mr, mtree_print_flatview and
// mtree_print_mr_owner, in QEMU 7.2's format (tests/fixtures/qemu/pc-basic*.txt are real 7.2 dumps).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemorySystem, infoMtree, U64_SPAN } from '../../src/memory/index.ts';
import { io } from './helpers.ts';

function case39() {
  const mem = new MemorySystem();
  const sys = mem.container('sys', 0x10000);
  const K = mem.container('K', 0x1000);
  K.addSubregion(0, io(mem, 'N', 0x100));
  K.setEnabled(false);
  sys.addSubregion(0x1000, K);
  const as = mem.addressSpace('as0', sys);
  return { mem, as };
}

test('without -D a disabled region is left out but its children keep their depth', () => {
  const { as } = case39();
  // QEMU 7.2 prints a root container as "i/o" (memory_region_type has no "container" before 8.x;
  // see the "system" line of tests/fixtures/qemu/pc-basic.txt).
  assert.is(
    infoMtree([as]),
    [
      'address-space: as0',
      '  0000000000000000-000000000000ffff (prio 0, i/o): sys',
      '      0000000000001000-00000000000010ff (prio 0, i/o): N',
      '',
      '',
    ].join('\n'),
  );
  assert.is(
    infoMtree([as], { disabled: true }),
    [
      'address-space: as0',
      '  0000000000000000-000000000000ffff (prio 0, i/o): sys',
      '    0000000000001000-0000000000001fff (prio 0, i/o): K [disabled]',
      '      0000000000001000-00000000000010ff (prio 0, i/o): N',
      '',
      '',
    ].join('\n'),
  );
});

test('address spaces sharing a root print as one group, names in strcmp order', () => {
  const mem = new MemorySystem();
  const system = mem.container('system', U64_SPAN);
  mem.addressSpace('memory', system);
  mem.addressSpace('cpu-memory-0', system);
  mem.addressSpace('Zeta', system);
  const text = infoMtree(mem.addressSpaces);
  assert.ok(
    text.startsWith(
      'address-space: Zeta\naddress-space: cpu-memory-0\naddress-space: memory\n  ' +
        '0000000000000000-ffffffffffffffff (prio 0, i/o): system\n',
    ),
  );
});

test('alias lines, alias targets queued under memory-region (even for a hidden disabled alias)', () => {
  const mem = new MemorySystem();
  const system = mem.container('system', U64_SPAN);
  const ram = mem.ram('pc.ram', 0x10000000);
  const pci = mem.container('pci', U64_SPAN);
  system.addSubregion(0, mem.alias('ram-below-4g', ram, 0, 0x10000000));
  system.addSubregionOverlap(0, pci, -1);
  const bmc = mem.container('bus master container', U64_SPAN);
  const bm = mem.alias('bus master', system, 0, U64_SPAN);
  bm.setEnabled(false);
  bmc.addSubregion(0, bm);
  const bus = mem.addressSpace('PIIX3', bmc);
  const memory = mem.addressSpace('memory', system);
  const text = infoMtree([bus, memory]);
  assert.is(
    text,
    [
      'address-space: PIIX3',
      '  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container',
      '',
      'address-space: memory',
      '  0000000000000000-ffffffffffffffff (prio 0, i/o): system',
      '    0000000000000000-000000000fffffff (prio 0, ram): alias ram-below-4g @pc.ram ' +
        '0000000000000000-000000000fffffff',
      '    0000000000000000-ffffffffffffffff (prio -1, i/o): pci',
      '',
      'memory-region: system',
      '  0000000000000000-ffffffffffffffff (prio 0, i/o): system',
      '    0000000000000000-000000000fffffff (prio 0, ram): alias ram-below-4g @pc.ram ' +
        '0000000000000000-000000000fffffff',
      '    0000000000000000-ffffffffffffffff (prio -1, i/o): pci',
      '',
      'memory-region: pc.ram',
      '  0000000000000000-000000000fffffff (prio 0, ram): pc.ram',
      '',
      '',
    ].join('\n'),
  );
});

test('an alias shows its target type, which becomes i/o once the target has a container', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  const P = mem.container('P', 0x10000);
  P.addSubregionOverlap(0, mem.ram('BG', 0x10000), -1);
  root.addSubregion(0xa0000, mem.alias('win', P, 0x2000, 0x2000));
  const as = mem.addressSpace('as0', root);
  // 7.2 types a pure container as i/o whether or not it has a container; newer QEMU says "container" first.
  assert.match(infoMtree([as]), '(prio 0, i/o): alias win @P 0000000000002000-0000000000003fff');
});

test('a readonly range prints as rom; a non-zero offset prints @offset', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  const ram = mem.ram('ram', 0x10000);
  const ROA = mem.alias('ROA', ram, 0, 0x1000);
  ROA.setReadonly(true);
  root.addSubregion(0, ROA);
  root.addSubregion(0x1000, mem.alias('RWA', ram, 0x1000, 0x1000));
  const as = mem.addressSpace('as0', root);
  assert.is(
    infoMtree([as], { flat: true }),
    [
      'FlatView #0',
      ' AS "as0", root: root',
      ' Root memory region: root',
      '  0000000000000000-0000000000000fff (prio 0, rom): ram',
      '  0000000000001000-0000000000001fff (prio 0, ram): ram @0000000000001000',
      '',
      '',
    ].join('\n'),
  );
});

test('-f: shared views list every address space; an empty view says so; alias roots are named', () => {
  const mem = new MemorySystem();
  const system = mem.container('system', U64_SPAN);
  system.addSubregion(0x1000, io(mem, 'dev', 0x100));
  system.addSubregion(0x2000, io(mem, 'dev2', 0x100));
  mem.addressSpace('memory', system);
  mem.addressSpace('cpu-memory-0', mem.alias('cpu view', system, 0, U64_SPAN));
  mem.addressSpace('empty', mem.container('bus master container', U64_SPAN));
  const text = infoMtree(mem.addressSpaces, { flat: true });
  assert.ok(
    text.includes(
      ' AS "memory", root: system\n AS "cpu-memory-0", root: cpu view, alias system\n Root memory region: system\n',
    ),
  );
  assert.ok(
    text.includes(
      'FlatView #1\n AS "empty", root: bus master container\n Root memory region: (none)\n  No rendered FlatView\n\n',
    ),
  );
});

test('the top of the 64-bit space prints exactly; sizes of 2^64 end at ffffffffffffffff', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  root.addSubregion(0xfffffffffffff000n, io(mem, 'T', 0x1000));
  const as = mem.addressSpace('as0', root);
  assert.ok(
    infoMtree([as]).includes(
      '  0000000000000000-ffffffffffffffff (prio 0, i/o): root\n    fffffffffffff000-ffffffffffffffff (prio ' +
        '0, i/o): T\n',
    ),
  );
  assert.ok(infoMtree([as], { flat: true }).includes('  fffffffffffff000-ffffffffffffffff (prio 0, i/o): T\n'));
});

test('a region that runs past 2^64 is flagged [DETECTED OVERFLOW!] (mtree_print_mr)', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  root.addSubregion(0xfffffffffffff000n, io(mem, 'T', 0x2000));
  const as = mem.addressSpace('as0', root);
  assert.ok(infoMtree([as]).includes('[DETECTED OVERFLOW!]     fffffffffffff000-0000000000000fff (prio 0, i/o): T\n'));
});

test('children print by address then higher priority first; zero-size regions end at their start', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', 0x10000);
  root.addSubregionOverlap(0x100, io(mem, 'low', 0x10), 0);
  root.addSubregionOverlap(0x100, io(mem, 'high', 0x10), 5);
  root.addSubregion(0x50, io(mem, 'first', 0));
  const as = mem.addressSpace('as0', root);
  const lines = infoMtree([as]).split('\n').slice(2, 5);
  assert.equal(lines, [
    '    0000000000000050-0000000000000050 (prio 0, i/o): first',
    '    0000000000000100-000000000000010f (prio 5, i/o): high',
    '    0000000000000100-000000000000010f (prio 0, i/o): low',
  ]);
});

test('-o prints owner, parent when different, or orphan; nv- marks nonvolatile regions', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', 0x10000);
  root.owner = { parent: 'obj path=/machine/unattached' };
  const dev = io(mem, 'msix-table', 0x30);
  dev.owner = { owner: 'dev id=net0' };
  root.addSubregion(0, dev);
  const nv = mem.ram('nvram', 0x100);
  nv.setNonvolatile(true);
  root.addSubregion(0x1000, nv);
  const as = mem.addressSpace('as0', root);
  assert.is(
    infoMtree([as], { owner: true }),
    [
      'address-space: as0',
      '  0000000000000000-000000000000ffff (prio 0, i/o): root parent:{obj path=/machine/unattached}',
      '    0000000000000000-000000000000002f (prio 0, i/o): msix-table owner:{dev id=net0}',
      '    0000000000001000-00000000000010ff (prio 0, nv-ram): nvram orphan',
      '',
      '',
    ].join('\n'),
  );
});

test('romd and ramd type names (memory_region_type)', () => {
  const mem = new MemorySystem();
  const root = mem.container('root', 0x10000);
  const f = mem.romDevice('pflash0', 0x1000, {});
  root.addSubregion(0, f);
  root.addSubregion(0x1000, mem.ramDevice('0000:01:00.0 BAR 0 mmaps[0]', 0x1000));
  const as = mem.addressSpace('as0', root);
  assert.match(infoMtree([as]), '(prio 0, romd): pflash0');
  assert.match(infoMtree([as]), '(prio 0, ramd): 0000:01:00.0 BAR 0 mmaps[0]');
  f.setRomdMode(false);
  assert.match(infoMtree([as], { flat: true }), '(prio 0, i/o): pflash0');
});

test.run();
