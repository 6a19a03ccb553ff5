// MemoryRegion's own state: its flags are one bit set and its empty lists and owner are shared
// between regions until set, so each region's state must still be its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemorySystem, U64_SPAN } from '../../src/memory/index.ts';

test('each flag of a region is its own: setting one changes neither another flag nor another region', () => {
  const mem = new MemorySystem();
  const a = mem.ram('a', 0x1000);
  const b = mem.ram('b', 0x1000);
  const rom = mem.rom('rom', 0x1000);
  // memory_region_initfn: enabled, romd mode on; memory_region_init_rom: readonly.
  assert.equal(
    [a.enabled, a.readonly, a.nonvolatile, a.unmergeable, a.romdMode, a.terminates],
    [true, false, false, false, true, true],
  );
  assert.ok(rom.readonly);
  assert.not.ok(mem.container('c', 0x1000).terminates);
  a.setReadonly(true);
  a.setNonvolatile(true);
  a.setEnabled(false);
  assert.equal([a.enabled, a.readonly, a.nonvolatile, a.unmergeable, a.romdMode], [false, true, true, false, true]);
  assert.equal([b.enabled, b.readonly, b.nonvolatile, b.unmergeable, b.romdMode], [true, false, false, false, true]);
  a.setUnmergeable(true);
  a.setReadonly(false);
  assert.equal([a.enabled, a.readonly, a.nonvolatile, a.unmergeable], [false, false, true, true]);
});

test("children, aliases and owner start shared and empty, and become the region's own when set", () => {
  const mem = new MemorySystem();
  const root = mem.container('root', U64_SPAN);
  const other = mem.container('other', 0x10000);
  const leaf = mem.ram('leaf', 0x1000);
  root.addSubregion(0, leaf);
  assert.equal(root.children, [leaf]);
  assert.equal(other.children, []);
  assert.equal(leaf.children, []);
  const alias = mem.alias('alias', leaf, 0, 0x1000);
  const shifted = mem.alias('shifted', leaf, 0x800, 0x800);
  assert.equal(leaf.aliasedBy, [alias, shifted]);
  assert.equal(other.aliasedBy, []);
  assert.equal(
    [alias.alias, alias.aliasOffset, shifted.aliasOffset, leaf.alias, leaf.aliasOffset],
    [leaf, 0n, 0x800n, null, 0n],
  );
  shifted.setAliasOffset(0x400);
  assert.equal([alias.aliasOffset, shifted.aliasOffset], [0n, 0x400n]);
  leaf.owner = { owner: 'dev id=x' };
  assert.equal(leaf.owner, { owner: 'dev id=x' });
  assert.equal(other.owner, {});
  // The shared empty list cannot be grown behind a region's back.
  assert.throws(() => other.children.push(leaf), TypeError);
});

test.run();
