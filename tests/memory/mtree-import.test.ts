// Importing real QEMU 7.2 `info mtree` dumps and printing them back (system/memory.c:mtree_info);
// golden files: ../shared/qemu/pc-basic.txt and pc-basic-opts.txt (qemu-system-x86_64 -M pc).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { importQemuMtree, infoMtree, explainAddress, MtreeImportError, MEMTX_OK, MEMTX_DECODE_ERROR } from '../../src/memory/index.ts';
import { qemuFile, commandOutput, treeBlocks, flatBlocks } from './qemu-golden.ts';

const basic = qemuFile('pc-basic.txt');
const opts = qemuFile('pc-basic-opts.txt');

test('pc-basic: the flat view of every address space is exactly what QEMU printed', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  assert.equal(flatBlocks(infoMtree(spaces, { flat: true })), flatBlocks(commandOutput(basic, 'info mtree -f')));
});

test('pc-basic: the tree prints back exactly (groups compared unordered, as QEMU hashes them)', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  assert.equal(treeBlocks(infoMtree(spaces)), treeBlocks(commandOutput(basic, 'info mtree')));
});

test('pc-basic: address spaces take QEMU registration order from the -f output', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  const text = infoMtree(spaces, { flat: true });
  assert.match(text, ' AS "memory", root: system\n AS "cpu-memory-0", root: system\n');
  assert.match(text, ' AS "i440FX", root: bus master container\n AS "PIIX3", root: bus master container\n AS "piix3-ide", root: bus master container\n AS "PIIX4_PM", root: bus master container\n');
});

for (const [command, flags] of [
  ['info mtree -D', { disabled: true }],
  ['info mtree -o', { owner: true }],
  ['info mtree -o -D', { owner: true, disabled: true }],
  ['info mtree -f -o', { flat: true, owner: true }],
] as const) {
  test(`pc-basic-opts: "${command}" prints back exactly`, () => {
    const { spaces, treeCommand } = importQemuMtree(opts, 'pc-basic-opts.txt');
    assert.is(treeCommand, 'info mtree -o -D', 'the richest tree (disabled regions and owners) is used');
    const blocks = 'flat' in flags ? flatBlocks : treeBlocks;
    assert.equal(blocks(infoMtree(spaces, flags)), blocks(commandOutput(opts, command)));
  });
}

test('a plain dump: hidden disabled regions come back hidden; their children keep their depth', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  const text = infoMtree(spaces);
  assert.match(text, 'memory-region: smram\n    00000000000a0000-00000000000bffff (prio 0, ram): alias smram-low @pc.ram');
  assert.match(text, '  0000000000000000-000000000000ffff (prio 0, i/o): io\n      0000000000000000-0000000000000003 (prio 0, i/o): acpi-evt\n');
});

test('the imported machine dispatches: RAM through the alias, ROM refuses stores, ports read all ones', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  const memory = spaces.find((s) => s.name === 'memory')!;
  const io = spaces.find((s) => s.name === 'I/O')!;
  memory.write(0x1000, 0xdeadbeef, 4);
  assert.is(memory.read(0x1000, 4), 0xdeadbeef);
  assert.is(memory.write(0xffff0000, 1, 4), MEMTX_DECODE_ERROR);
  assert.is(io.read(0x3000, 2), 0xffff);
  assert.is(io.result, MEMTX_OK);
  memory.read(0xa0000000, 4);
  assert.is(memory.counters.unassigned, 1);
});

test('--explain: region, aliases, containers, offset, and the regions it hides', () => {
  const { spaces } = importQemuMtree(basic, 'pc-basic.txt');
  const memory = spaces.find((s) => s.name === 'memory')!;
  const e = explainAddress(memory, 0xe0010n);
  assert.is(e.winner!.region.name, 'pc.bios');
  assert.is(e.winner!.offset, 0x20010n);
  assert.equal(e.winner!.path.map((s) => s.region.name), ['system', 'pam-pci', 'pci', 'isa-bios', 'pc.bios']);
  assert.equal(e.hidden.map((h) => h.region.name), ['pc.ram', 'pc.bios']);
  assert.is(e.hidden[0]!.offset, 0xe0010n);
  const none = explainAddress(memory, 0xa0000000n);
  assert.is(none.winner, null);
});

const bad = (text: string) => {
  try {
    importQemuMtree(text, 'dump.txt');
  } catch (e) {
    assert.instance(e, MtreeImportError);
    return (e as Error).message;
  }
  throw new Error('import succeeded');
};

test('bad input: a truncated line, an unknown type, a missing alias target, a headless tree', () => {
  const head = 'address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n';
  assert.match(bad(head + '    0000000000000000-00000000000'), /^dump.txt:3: cannot parse region line \(truncated\?\)/);
  assert.match(bad(head + '    0000000000000000-0000000000000fff (prio 0, flash): f\n'), /^dump.txt:3: unknown region type "flash"/);
  assert.match(bad(head + '    0000000000000000-0000000000000fff (prio 0, ram): alias lo @pc.ram 0000000000000000-0000000000000fff\n\n'), /^dump.txt:3: alias lo targets "pc.ram", but no region of that name is printed/);
  assert.match(bad('address-space: memory\n'), /^dump.txt:1: address-space "memory" has no tree: the file looks truncated/);
  assert.match(bad('hello\n'), /no `info mtree` tree output found/);
  assert.match(bad(head + '    0000000000000000-0000000000000fff (prio 0, ram): alias lo @pc.ram 0000000000000000-0000000000001fff\n'), /^dump.txt:3: alias lo: target window .* does not match its size/);
});

test.run();
