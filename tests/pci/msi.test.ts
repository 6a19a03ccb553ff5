// MSI: hw/pci/msi.c msi_init, msi_get_message, msi_notify, msi_write_config, msi_reset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Msi, MsiSetupError, PCI_COMMAND, PCI_COMMAND_MASTER } from '../../src/pci/index.ts';
import { platform, device } from './platform.ts';

function setup(vectors = 4, is64 = true, mask = true) {
  const p = platform();
  const dev = device(p.mem);
  const msi = new Msi(dev, 0x50, vectors, is64, mask);
  p.host.bus.attach(dev, 3);
  const devfn = 3 << 3;
  p.cfg.write(0, devfn, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
  const w = (off: number, v: number, len = 4) => p.cfg.write(0, devfn, msi.cap + off, v, len);
  return { ...p, dev, msi, w };
}

test('capability layout: flags advertise vectors, 64-bit and per-vector masking (msi_init)', () => {
  const { msi, dev } = setup(8, true, true);
  assert.is(dev.cfg.word(msi.cap + 2), (3 << 1) | 0x80 | 0x100);
  const c32 = setup(1, false, false);
  assert.is(c32.dev.cfg.word(c32.msi.cap + 2), 0);
  assert.is(c32.msi.dataOffset(), c32.msi.cap + 8);
});

test('delivery: the data low bits carry the vector when several are enabled (msi_get_message)', () => {
  const { w, msi, msis } = setup(4, true, true);
  w(4, 0xfee00000);
  w(8, 0);
  w(0xc, 0x4020, 2);
  w(2, 0x0021, 2); // enable, 4 vectors (QSIZE = 2)
  msi.notify(3);
  assert.equal(msis, [{ addr: 0xfee00000, data: 0x4023, size: 4 }]);
});

test('per-vector mask: a masked vector pends; unmasking through config delivers it once', () => {
  const { w, msi, msis, dev } = setup(4, true, true);
  w(4, 0xfee00000);
  w(0xc, 0x4020, 2);
  w(0x10, 0b0010); // mask vector 1
  w(2, 0x0021, 2);
  msi.notify(1);
  msi.notify(1);
  assert.equal(msis, []);
  assert.is(dev.cfg.long(msi.pendingOffset()), 0b0010);
  w(0x10, 0);
  assert.equal(
    msis.map((m) => m.data),
    [0x4021],
    'coalesced: delivered exactly once',
  );
  assert.is(dev.cfg.long(msi.pendingOffset()), 0);
});

test('Multiple Message Enable beyond Capable is clamped; disabled MSI drops notifications', () => {
  const { w, msi, msis, dev } = setup(2, false, false);
  w(2, 0x0051, 2); // asks for 32 vectors
  assert.is((dev.cfg.word(msi.cap + 2) >> 4) & 7, 1);
  w(2, 0, 2);
  msi.notify(0);
  assert.equal(msis, []);
  msi.notify(9); // past the vectors: dropped
});

test('msi_reset clears enable, address, data and mask; bad vector counts are refused', () => {
  const { w, msi, dev } = setup(4, true, true);
  w(4, 0xfee00000);
  w(2, 0x0021, 2);
  dev.reset();
  assert.not.ok(msi.enabled());
  assert.is(msi.message(0).address, 0n);
  assert.throws(
    () => new Msi(device(dev.mem, 'x'), 0x50, 3, false, false),
    (e: Error) => e instanceof MsiSetupError && /power of two/.test(e.message),
  );
});

test.run();
