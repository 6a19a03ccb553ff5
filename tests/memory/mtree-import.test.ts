// Importing real QEMU 7.2 `info mtree` dumps and printing them back (system/memory.c:mtree_info);
// golden files: tests/fixtures/qemu/pc-basic.txt and pc-basic-opts.txt (qemu-system-x86_64 -M pc).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  importQemuMtree,
  infoMtree,
  explainAddress,
  MtreeImportError,
  MAX_MTREE_DEPTH,
  MEMTX_OK,
  MEMTX_DECODE_ERROR,
} from '../../src/memory/index.ts';
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
  assert.match(
    text,
    ' AS "i440FX", root: bus master container\n AS "PIIX3", root: bus master container\n AS "piix3-ide", ' +
      'root: bus master container\n AS "PIIX4_PM", root: bus master container\n',
  );
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
  assert.match(
    text,
    'memory-region: smram\n    00000000000a0000-00000000000bffff (prio 0, ram): alias smram-low @pc.ram',
  );
  assert.match(
    text,
    '  0000000000000000-000000000000ffff (prio 0, i/o): io\n      0000000000000000-0000000000000003 (prio 0, ' +
      'i/o): acpi-evt\n',
  );
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
  assert.equal(
    e.winner!.path.map((s) => s.region.name),
    ['system', 'pam-pci', 'pci', 'isa-bios', 'pc.bios'],
  );
  assert.equal(
    e.hidden.map((h) => h.region.name),
    ['pc.ram', 'pc.bios'],
  );
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
  assert.match(
    bad(head + '    0000000000000000-0000000000000fff (prio 0, flash): f\n'),
    /^dump.txt:3: unknown region type "flash"/,
  );
  assert.match(
    bad(
      head +
        '    0000000000000000-0000000000000fff (prio 0, ram): alias lo @pc.ram 0000000000000000-0000000000000fff\n\n',
    ),
    /^dump.txt:3: alias lo targets "pc.ram", but no region of that name is printed/,
  );
  assert.match(
    bad('address-space: memory\n'),
    /^dump.txt:1: address-space "memory" has no tree: the file looks truncated/,
  );
  assert.match(bad('hello\n'), /no `info mtree` tree output found/);
  assert.match(
    bad('(qemu) info mtree\nmemory-region: pc.ram\n  0000000000000000-0000000000000fff (prio 0, ram): pc.ram\n'),
    /^dump.txt:2: the tree has no "address-space:" block/,
  ); // found by the dump fuzz
  assert.match(
    bad(
      head +
        '    0000000000000000-0000000000000fff (prio 0, ram): alias lo @pc.ram 0000000000000000-0000000000001fff\n',
    ),
    /^dump.txt:3: alias lo: target window .* does not match its size/,
  );
});

const ALIAS_LINE = (indent: string, name: string, target: string) =>
  `${indent}0000000000000000-0000000000000fff (prio 0, i/o): alias ${name} @${target} ` +
  '0000000000000000-0000000000000fff\n';

test('bad input: an inverted range, an alias to itself, alias cycles, a section holding an alias to itself', () => {
  const head = 'address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n';
  assert.match(
    bad(head + '    0000000000002000-0000000000000fff (prio 0, ram): r\n'),
    /^dump.txt:3: range ends \(0x0000000000000fff\) before it starts \(0x0000000000002000\)/,
  );
  // Only a range QEMU marks "[DETECTED OVERFLOW!]" may wrap past 2^64.
  const wrap = importQemuMtree(
    head + '[DETECTED OVERFLOW!]     fffffffffffff000-0000000000000fff (prio 0, i/o): w\n',
    'dump.txt',
  );
  assert.is(wrap.spaces[0]!.root.subregions[0]!.size, 0x2000n);
  assert.match(
    bad(head + ALIAS_LINE('    ', 'a', 'a') + '\nmemory-region: a\n' + ALIAS_LINE('  ', 'a', 'a')),
    /^dump.txt:6: alias a targets itself: a cycle/,
  );
  assert.match(
    bad(head + ALIAS_LINE('    ', 'a', 'system')),
    /^dump.txt:3: alias a targets "system" \(line 2\), which leads back to this alias: a cycle/,
  );
  const twoStep =
    head +
    ALIAS_LINE('    ', 'a', 'p') +
    '\nmemory-region: p\n' +
    ALIAS_LINE('  ', 'p', 'q') +
    '\nmemory-region: q\n' +
    ALIAS_LINE('  ', 'q', 'p');
  assert.match(bad(twoStep), /^dump.txt:9: alias q targets "p" \(line 6\), which leads back to this alias: a cycle/);
  const sectionHoldsItself =
    head +
    ALIAS_LINE('    ', 'a', 's') +
    '\nmemory-region: s\n  0000000000000000-0000000000000fff (prio 0, i/o): s\n' +
    ALIAS_LINE('    ', 'b', 's');
  assert.match(
    bad(sectionHoldsItself),
    /^dump.txt:7: alias b targets "s" \(line 6\), which leads back to this alias: a cycle/,
  );
  assert.match(
    bad(head + '    0000000000000000-0001ffffffffffff (prio 0, ram): huge\n'),
    /^dump.txt:3: ram region huge of 0x2000000000000 bytes is larger than vdm can back/,
  );
  assert.match(
    bad(head + '    0000000000000000-0000000000000fff (prio 99999999999, ram): r\n'),
    /^dump.txt:3: priority 99999999999 is outside a C int/,
  );
});

test('an alias of an alias is built whatever order the sections come in', () => {
  const text =
    'address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n' +
    ALIAS_LINE('    ', 'a', 'b').replace('i/o', 'ram') +
    '\nmemory-region: b\n' +
    ALIAS_LINE('  ', 'b', 'r').replace('i/o', 'ram') +
    '\nmemory-region: r\n  0000000000000000-0000000000000fff (prio 0, ram): r\n';
  const { spaces } = importQemuMtree(text, 'dump.txt');
  spaces[0]!.write(0x10, 0x1234, 2);
  assert.is(spaces[0]!.read(0x10, 2), 0x1234);
  assert.equal(treeBlocks(infoMtree(spaces)), treeBlocks(text));
});

/** One region nested `depth` levels below the root. */
function nested(depth: number, oneLine: boolean): string {
  const lines = ['address-space: memory', '  0000000000000000-ffffffffffffffff (prio 0, i/o): system'];
  if (!oneLine)
    for (let i = 2; i < depth; i++)
      lines.push(`${'  '.repeat(i)}0000000000000000-0000000000000fff (prio 0, i/o): c${i}`);
  lines.push(`${'  '.repeat(depth)}0000000000000000-0000000000000fff (prio 0, ram): leaf`);
  return lines.join('\n') + '\n';
}

test(`deep nesting: ${MAX_MTREE_DEPTH} levels import, render, print and explain; deeper is refused at its ` +
  'line, not with a stack overflow', () => {
  const { spaces } = importQemuMtree(nested(MAX_MTREE_DEPTH, false), 'deep.txt');
  assert.is(infoMtree(spaces).split('\n').length, MAX_MTREE_DEPTH + 3);
  assert.match(infoMtree(spaces, { flat: true }), '(prio 0, ram): leaf');
  assert.is(explainAddress(spaces[0]!, 0x10n).winner!.region.name, 'leaf');
  // One line opens 998 hidden (disabled) levels: printed back at its depth, rendered nowhere.
  const hidden = importQemuMtree(nested(MAX_MTREE_DEPTH, true), 'deep.txt');
  assert.match(
    infoMtree(hidden.spaces),
    `${'  '.repeat(MAX_MTREE_DEPTH)}0000000000000000-0000000000000fff (prio 0, ram): leaf\n`,
  );
  assert.is(explainAddress(hidden.spaces[0]!, 0x10n).winner, null);
  assert.match(
    bad(nested(MAX_MTREE_DEPTH + 1, true)),
    new RegExp(`^dump.txt:3: region nested ${MAX_MTREE_DEPTH + 1} levels deep`),
  );
  assert.match(bad(nested(100_000, true)), /^dump.txt:3: region nested 100000 levels deep/);
  // Alias hops count too: a chain of sections each aliasing the next.
  const chain = [
    'address-space: memory',
    '  0000000000000000-ffffffffffffffff (prio 0, i/o): system',
    ALIAS_LINE('    ', 'a0', 's1').trimEnd(),
  ];
  for (let i = 1; i <= MAX_MTREE_DEPTH; i++)
    chain.push('', `memory-region: s${i}`, ALIAS_LINE('  ', `s${i}`, `s${i + 1}`).trimEnd());
  chain.push(
    '',
    `memory-region: s${MAX_MTREE_DEPTH + 1}`,
    `  0000000000000000-0000000000000fff (prio 0, i/o): s${MAX_MTREE_DEPTH + 1}`,
  );
  assert.match(
    bad(chain.join('\n') + '\n'),
    new RegExp(`deeper than ${MAX_MTREE_DEPTH} levels \\(counting alias hops\\)`),
  );
});

// Derived dumps (how each was made is in its header): what the tree alone cannot decide.
test('a read-only alias (pam-rom prints as ram in the tree) is settled from the -f output, with a note', () => {
  const pam = qemuFile('pc-pam-readonly.txt');
  const { spaces, notes } = importQemuMtree(pam, 'pam.txt');
  assert.equal(flatBlocks(infoMtree(spaces, { flat: true })), flatBlocks(commandOutput(pam, 'info mtree -f')));
  assert.equal(
    treeBlocks(infoMtree(spaces)),
    treeBlocks(commandOutput(pam, 'info mtree')),
    'the tree still prints the alias as ram',
  );
  assert.equal(notes, [
    "line 71: alias pam-rom is printed as ram (the tree shows its target's type), but the -f output (line " +
      '148) shows 00000000000c0000-00000000000c3fff as rom: taken as a read-only alias',
    "line 83: alias pam-rom is printed as ram (the tree shows its target's type), but the -f output (line " +
      '150) shows 00000000000f0000-00000000000fffff as rom: taken as a read-only alias',
  ]);
  const memory = spaces.find((s) => s.name === 'memory')!;
  memory.write(0xf0010, 0x55, 1); // a store to the read-only alias is dropped; the pam-ram window takes it
  memory.write(0xc4010, 0x66, 1);
  assert.is(memory.read(0xf0010, 1), 0);
  assert.is(memory.read(0xc4010, 1), 0x66);
  // The tree alone cannot know: without the -f output the range comes back writable RAM.
  const treeOnly = importQemuMtree(commandOutput(pam, 'info mtree'), 'pam.txt');
  assert.match(infoMtree(treeOnly.spaces, { flat: true }), '0000000000000000-000000000fffffff (prio 0, ram): pc.ram\n');
});

test('a plain tree keeps the memory-region section only a hidden "bus master" alias refers to (arm virt)', () => {
  const virt = qemuFile('virt-bus-master.txt');
  const plain = virt.replace(/\(qemu\) info mtree -D\n[\s\S]*?(?=\(qemu\))/, '');
  const { spaces, notes, treeCommand } = importQemuMtree(plain, 'virt.txt');
  assert.is(treeCommand, 'info mtree');
  assert.equal(treeBlocks(infoMtree(spaces)), treeBlocks(commandOutput(virt, 'info mtree')));
  assert.match(infoMtree(spaces), 'memory-region: system\n');
  assert.equal(treeBlocks(infoMtree(spaces, { disabled: true })), treeBlocks(commandOutput(virt, 'info mtree -D')));
  assert.equal(flatBlocks(infoMtree(spaces, { flat: true })), flatBlocks(commandOutput(virt, 'info mtree -f')));
  assert.equal(notes, [
    'memory-region system (line 49) is referenced by no printed alias: taken as the target of the hidden ' +
      'disabled "bus master" alias in each "bus master container" (hw/pci/pci.c:pci_init_bus_master); 1 such ' +
      'container(s) in the tree',
  ]);
  // With -D in the file the alias is printed: nothing to guess.
  const full = importQemuMtree(virt, 'virt.txt');
  assert.equal(full.notes, []);
  assert.equal(treeBlocks(infoMtree(full.spaces)), treeBlocks(commandOutput(virt, 'info mtree')));
});

test('real dumps need no guesses: no notes for pc-basic and pc-basic-opts', () => {
  assert.equal(importQemuMtree(basic, 'pc-basic.txt').notes, []);
  assert.equal(importQemuMtree(opts, 'pc-basic-opts.txt').notes, []);
});

test('where the rebuilt flat view still differs from the -f output, a note says so (the import does not claim ' +
  'exactness)', () => {
  const forged = basic.replace(
    '  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet\n  00000000fee00000',
    '  00000000fed00000-00000000fed007ff (prio 0, i/o): hpet\n  00000000fee00000',
  );
  const { notes } = importQemuMtree(forged, 'pc-basic.txt');
  assert.equal(notes, [
    'line 137: the rebuilt flat view of "memory" differs from the -f output in 2 range(s); first: the dump ' +
      'has "00000000fed00000-00000000fed007ff (prio 0, i/o): hpet"',
  ]);
});

test.run();
