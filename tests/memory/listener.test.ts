// Transactions and listeners: system/memory.c:memory_region_transaction_commit,
// address_space_update_topology_pass and memory_listener_register (cases 7, 9, 10, 27, 29, 41).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemorySystem, MemoryListener } from '../../src/memory/index.ts';
import { setup, logListener, io } from './helpers.ts';

function case9() {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.ram('R', 0x4000));
  const M = io(mem, 'M', 0x1000);
  M.setEnabled(false);
  root.addSubregionOverlap(0x1000, M, 1);
  return { mem, as, M, ...logListener(as) };
}

test('enabling a region: every delete first, then adds in address order', () => {
  const { M, log } = case9();
  M.setEnabled(true);
  assert.equal(log, [
    'begin',
    'region_del R[0x0-0x3fff]@0x0',
    'region_add R[0x0-0xfff]@0x0',
    'region_add M[0x1000-0x1fff]@0x0',
    'region_add R[0x2000-0x3fff]@0x2000',
    'commit',
  ]);
});

test('disabling again: all deletes before the add', () => {
  const { M, log } = case9();
  M.setEnabled(true);
  log.length = 0;
  M.setEnabled(false);
  assert.equal(log, [
    'begin',
    'region_del R[0x0-0xfff]@0x0',
    'region_del M[0x1000-0x1fff]@0x0',
    'region_del R[0x2000-0x3fff]@0x2000',
    'region_add R[0x0-0x3fff]@0x0',
    'commit',
  ]);
});

test('set_address to the same address makes no transaction and no listener calls', () => {
  const { mem, root, as } = setup();
  const X = io(mem, 'X', 0x2000);
  root.addSubregion(0, X);
  const { log } = logListener(as);
  X.setAddress(0);
  assert.equal(log, []);
  X.setAddress(0x800);
  assert.equal(log, ['begin', 'region_del X[0x0-0x1fff]@0x0', 'region_add X[0x800-0x27ff]@0x0', 'commit']);
});

test('unchanged ranges are reported as region_nop on every commit (address_space_update_topology_pass)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, mem.ram('R', 0x1000));
  const { log } = logListener(as);
  root.addSubregion(0x2000, io(mem, 'N', 0x100));
  assert.equal(log, ['begin', 'region_nop R[0x0-0xfff]@0x0', 'region_add N[0x2000-0x20ff]@0x0', 'commit']);
});

test('switching romd mode deletes and re-adds the range; same mode does nothing', () => {
  const { mem, root, as } = setup();
  const F = mem.romDevice('F', 0x1000, { write: () => {} });
  root.addSubregion(0xf000, F);
  const { log } = logListener(as);
  F.setRomdMode(false);
  assert.equal(log, ['begin', 'region_del F[0xf000-0xffff]@0x0', 'region_add F[0xf000-0xffff]@0x0', 'commit']);
  log.length = 0;
  F.setRomdMode(false);
  assert.equal(log, []);
});

test('a transaction renders once; nested transactions commit at the outermost level', () => {
  {
    const { mem, root, as } = setup();
    const { log } = logListener(as);
    const rebuilds = mem.stats.rebuilds;
    mem.begin();
    const A = io(mem, 'A', 0x1000);
    root.addSubregion(0, A);
    root.addSubregion(0x1000, io(mem, 'B', 0x1000));
    root.delSubregion(A);
    mem.commit();
    assert.equal(log, ['begin', 'region_add B[0x1000-0x1fff]@0x0', 'commit']);
    assert.is(mem.stats.rebuilds, rebuilds + 1);
  }
  {
    const { mem, root, as } = setup();
    const { log } = logListener(as);
    mem.begin();
    mem.begin();
    root.addSubregion(0, io(mem, 'A', 0x1000));
    mem.commit();
    assert.equal(log, [], 'no events until the outermost commit');
    mem.commit();
    assert.equal(log, ['begin', 'region_add A[0x0-0xfff]@0x0', 'commit']);
  }
  {
    const { mem, root, as } = setup();
    const { log } = logListener(as);
    const A = io(mem, 'A', 0x1000);
    root.addSubregion(0, A);
    root.addSubregion(0x1000, io(mem, 'B', 0x1000));
    root.delSubregion(A);
    assert.is(log.filter((e) => e === 'begin').length, 3, 'outside a transaction each change commits');
  }
});

test('commit without begin is an error naming the mistake', () => {
  assert.throws(() => new MemorySystem().commit(), /commit without a matching begin/);
});

test('a change in another address space produces nops; one begin/commit per listener', () => {
  const mem = new MemorySystem();
  const R1 = mem.container('R1', 0x10000);
  R1.addSubregion(0, mem.ram('ram', 0x1000));
  const R2 = mem.container('R2', 0x10000);
  R2.addSubregion(0x8000, io(mem, 'other', 0x100)); // keep R2 from resolving to the empty view
  R2.addSubregion(0x9000, io(mem, 'other2', 0x100));
  const as1 = mem.addressSpace('as1', R1);
  const as2 = mem.addressSpace('as2', R2);
  const l1 = logListener(as1, 'l1');
  const l2 = logListener(as2, 'l2');
  R2.addSubregion(0, io(mem, 'N', 0x100));
  assert.equal(l1.log, ['begin', 'region_nop ram[0x0-0xfff]@0x0', 'commit']);
  assert.equal(l2.log, [
    'begin',
    'region_add N[0x0-0xff]@0x0',
    'region_nop other[0x8000-0x80ff]@0x0',
    'region_nop other2[0x9000-0x90ff]@0x0',
    'commit',
  ]);
});

test('registration replays adds in address order; unregistering replays deletes (memory_listener_register)', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0x2000, io(mem, 'B', 0x100));
  root.addSubregion(0, io(mem, 'A', 0x100));
  const log: string[] = [];
  const l = new MemoryListener('replay');
  l.on('begin', () => log.push('begin'));
  l.on('region-add', (s) => log.push(`add ${s.mr.name}`));
  l.on('region-del', (s) => log.push(`del ${s.mr.name}`));
  l.on('commit', () => log.push('commit'));
  as.addListener(l);
  as.removeListener(l);
  assert.equal(log, ['begin', 'add A', 'add B', 'commit', 'begin', 'del A', 'del B', 'commit']);
});

test('listener priority: adds run in ascending priority, deletes in reverse (MEMORY_LISTENER_UPDATE_REGION)', () => {
  const { mem, root, as } = setup();
  const R = io(mem, 'R', 0x100);
  root.addSubregion(0, R);
  const log: string[] = [];
  for (const [name, prio] of [
    ['late', 10],
    ['early', 0],
  ] as const) {
    const l = new MemoryListener(name, prio);
    l.on('region-add', () => log.push(`add ${name}`));
    l.on('region-del', () => log.push(`del ${name}`));
    l.on('begin', () => log.push(`begin ${name}`));
    as.addListener(l);
  }
  log.length = 0;
  R.setAddress(0x100);
  assert.equal(log, ['begin early', 'begin late', 'del late', 'del early', 'add early', 'add late']);
});

test('address spaces resolving to the same root share one FlatView; disabled bus-master shares the empty view', () => {
  const mem = new MemorySystem();
  const system = mem.container('system', 1n << 64n);
  system.addSubregion(0, mem.ram('ram', 0x1000));
  system.addSubregion(0x10000, io(mem, 'dev', 0x100));
  const memory = mem.addressSpace('memory', system);
  // hw/pci/pci.c: "bus master container" holding a disabled alias "bus master" of system.
  const mkBm = () => {
    const c = mem.container('bus master container', 1n << 64n);
    const a = mem.alias('bus master', system, 0, 1n << 64n);
    a.setEnabled(false);
    c.addSubregion(0, a);
    return { c, a };
  };
  const d1 = mkBm();
  const d2 = mkBm();
  const as1 = mem.addressSpace('dev1', d1.c);
  const as2 = mem.addressSpace('dev2', d2.c);
  assert.is(as1.view, as2.view);
  assert.is(as1.view.root, null);
  d1.a.setEnabled(true);
  assert.is(as1.view, memory.view, 'bus mastering on: the device sees the system view');
  assert.is.not(as2.view, memory.view);
});

test('address_space_destroy replays deletes to its listeners and leaves the commit loop', () => {
  const { mem, root, as } = setup();
  root.addSubregion(0, io(mem, 'A', 0x100));
  const { log } = logListener(as);
  mem.removeAddressSpace(as);
  assert.equal(log, ['begin', 'region_del A[0x0-0xff]@0x0', 'commit']);
  log.length = 0;
  root.addSubregion(0x1000, io(mem, 'B', 0x100));
  assert.equal(log, [], 'a destroyed address space gets no more events');
  assert.not.ok(mem.addressSpaces.includes(as));
  assert.throws(() => mem.removeAddressSpace(as), /not registered/);
});

test.run();
