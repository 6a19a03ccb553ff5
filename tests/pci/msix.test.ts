// MSI-X end to end: hw/pci/msix.c msix_init, msix_table_mmio_write,
// msix_handle_mask_update, msix_write_config, msix_notify, msix_pba_mmio_read, msix_reset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { infoMtree, MEMTX_DECODE_ERROR, MEMTX_OK } from '../../src/memory/index.ts';
import {
  Msix,
  PCI_COMMAND,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_MASTER,
  PCI_BASE_ADDRESS_0,
  MsiSetupError,
  PciDevice,
} from '../../src/pci/index.ts';
import { platform, device } from './platform.ts';

const BAR = 0xfebf1000;

function case42() {
  const p = platform();
  const dev = device(p.mem, 'net0');
  const msix = Msix.exclusiveBar(dev, 3, 0);
  p.host.bus.attach(dev, 3);
  const devfn = 3 << 3;
  p.cfg.write(0, devfn, PCI_BASE_ADDRESS_0, BAR);
  p.cfg.write(0, devfn, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
  const used: number[] = [];
  msix.notifiers = { use: (v) => used.push(v) };
  const ctrl = (v: number) => p.cfg.write(0, devfn, msix.cap + 3, v, 1);
  return { ...p, dev, msix, used, ctrl, devfn };
}

test('every vector starts masked; Message Control reads n-1', () => {
  const { memory, msix, cfg, devfn } = case42();
  for (let v = 0; v < 3; v++) assert.is(memory.read(BAR + v * 16 + 12, 4), 1);
  assert.is(cfg.read(0, devfn, msix.cap + 2, 2), 0x0002);
});

test('pending while masked, delivered exactly once on unmask as one 4-byte DMA', () => {
  const { memory, msix, msis, used, ctrl } = case42();
  memory.write(BAR + 0x10, 0xfee00000, 4);
  memory.write(BAR + 0x14, 0, 4);
  memory.write(BAR + 0x18, 0x4041, 4);
  msix.vectorUse(1);
  msix.notify(1);
  assert.is(memory.read(BAR + 0x800, 4), 0x00000002, 'function masked (MSI-X disabled): pending');
  ctrl(0x80);
  assert.equal(msis, [], 'enabled, but the vector is still masked by its own bit');
  memory.write(BAR + 0x1c, 0, 4);
  assert.equal(used, [1], 'the use notifier fires on unmask');
  assert.equal(msis, [{ addr: 0xfee00000, data: 0x4041, size: 4 }]);
  assert.is(memory.read(BAR + 0x800, 4), 0);
});

test('MaskAll holds a notification pending; clearing it delivers once', () => {
  const { memory, msix, msis, ctrl } = case42();
  memory.write(BAR + 0x10, 0xfee00000, 4);
  memory.write(BAR + 0x18, 0x4041, 4);
  memory.write(BAR + 0x1c, 0, 4);
  msix.vectorUse(1);
  ctrl(0xc0);
  msix.notify(1);
  assert.ok(msix.isPending(1));
  assert.equal(msis, []);
  ctrl(0x80);
  assert.equal(msis.length, 1);
  assert.not.ok(msix.isPending(1));
});

test('2-byte table access is refused; an 8-byte read is two dwords, low first', () => {
  const { memory } = case42();
  memory.write(BAR + 0x10, 0xfee00000, 4);
  memory.write(BAR + 0x14, 0x1, 4);
  assert.is(memory.read(BAR + 0x10, 2), 0);
  assert.is(memory.result, MEMTX_DECODE_ERROR);
  assert.is(memory.read64(BAR + 0x10), 0x1fee00000n);
  assert.is(memory.result, MEMTX_OK);
  assert.is(memory.write(BAR + 0x12, 0xffff, 2), MEMTX_DECODE_ERROR);
  assert.is(memory.read(BAR + 0x10, 4), 0xfee00000);
});

test('an unused vector never pends; PBA writes and out-of-table vectors are ignored', () => {
  const { memory, msix } = case42();
  msix.notify(2);
  assert.not.ok(msix.isPending(2));
  msix.vectorUse(0);
  msix.notify(0);
  memory.write(BAR + 0x800, 0, 4);
  assert.is(memory.read(BAR + 0x800, 4), 1);
  msix.notify(7); // past the table: dropped, never thrown
  msix.notify(-1);
});

test('info mtree shows the BAR container with msix-table and msix-pba as QEMU prints them', () => {
  const { memory } = case42();
  const text = infoMtree([memory]);
  assert.match(
    text,
    [
      '      00000000febf1000-00000000febf1fff (prio 1, i/o): net0-msix',
      '        00000000febf1000-00000000febf102f (prio 0, i/o): msix-table',
      '        00000000febf1800-00000000febf1807 (prio 0, i/o): msix-pba',
    ].join('\n'),
  );
});

test('msix_reset clears pending, enable, table and PBA, and masks every vector', () => {
  const { memory, msix, ctrl, dev } = case42();
  memory.write(BAR + 0x18, 0x4041, 4);
  msix.vectorUse(0);
  msix.notify(0);
  ctrl(0x80);
  dev.reset();
  assert.not.ok(msix.enabled());
  assert.not.ok(msix.isPending(0));
  assert.is(msix.message(1).data, 0);
  for (let v = 0; v < 3; v++) assert.ok(msix.isMasked(v));
});

test("msix_init refuses bad geometry with QEMU's message", () => {
  const { mem } = case42();
  const bar = mem.container('bar', 0x1000);
  const mk = () => new PciDevice({ mem, name: 'x', vendorId: 1, deviceId: 2, classCode: 0 });
  assert.throws(
    () => new Msix(mk(), 0, { bar, barNr: 0, offset: 0 }, { bar, barNr: 0, offset: 0x800 }),
    /number of MSI-X vectors \(0\) is invalid/,
  );
  assert.throws(
    () => new Msix(mk(), 4, { bar, barNr: 0, offset: 0 }, { bar, barNr: 0, offset: 0x20 }),
    /table & pba overlap/,
  );
  assert.throws(() => new Msix(mk(), 4, { bar, barNr: 0, offset: 4 }, { bar, barNr: 0, offset: 0x800 }), /don't align/);
  assert.throws(
    () => new Msix(mk(), 4, { bar, barNr: 0, offset: 0xff8 }, { bar, barNr: 0, offset: 0x800 }),
    /don't fit/,
  );
  const noMsi = new PciDevice({ mem, name: 'y', vendorId: 1, deviceId: 2, classCode: 0, msiSupported: false });
  assert.throws(
    () => new Msix(noMsi, 4, { bar, barNr: 0, offset: 0 }, { bar, barNr: 0, offset: 0x800 }),
    (e: Error) => e instanceof MsiSetupError && /not supported by interrupt controller/.test(e.message),
  );
});

test('without bus mastering the MSI write finds nothing (the bus-master alias is disabled)', () => {
  const { memory, msix, msis, ctrl, cfg, devfn } = case42();
  cfg.write(0, devfn, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
  memory.write(BAR, 0xfee00000, 4);
  memory.write(BAR + 8, 0x31, 4);
  memory.write(BAR + 12, 0, 4);
  ctrl(0x80);
  msix.vectorUse(0);
  msix.notify(0);
  assert.equal(msis, []);
});

test.run();
