// PCI-to-PCI bridges: hw/pci/pci_bridge.c (pci_bridge_update_mappings, pci_bridge_get_base/limit,
// pci_secondary_bus_in_range) and hw/pci/pci.c:pci_find_bus_nr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { infoMtree } from '../../src/memory/index.ts';
import * as R from '../../src/pci/index.ts';
import { platform, device } from './platform.ts';

function withBridge() {
  const p = platform();
  const br = new R.PciBridge({ mem: p.mem, name: 'bridge1', vendorId: 0x1b36, deviceId: 0x0001 });
  p.host.bus.attach(br, 4);
  const dev = device(p.mem, 'behind');
  dev.registerBar(
    0,
    R.PCI_BASE_ADDRESS_SPACE_MEMORY,
    p.mem.io('behind-bar0', 0x1000, { read: () => 0xabcd, write: () => {} }),
  );
  br.secBus.attach(dev, 0);
  const bdf = 4 << 3;
  return { ...p, br, dev, bdf };
}

test('a device behind a bridge is reachable only once the bus numbers route to it', () => {
  const { cfg, bdf } = withBridge();
  assert.is(cfg.read(1, 0, 0), 0xffffffff);
  cfg.write(0, bdf, R.PCI_PRIMARY_BUS, 0x00010100); // primary 0, secondary 1, subordinate 1
  assert.is(cfg.read(1, 0, 0), 0x10f11af4);
  assert.is(cfg.read(2, 0, 0), 0xffffffff);
});

test('the memory window forwards the secondary bus into the parent space as an alias at priority 1', () => {
  const { cfg, bdf, memory } = withBridge();
  cfg.write(0, bdf, R.PCI_PRIMARY_BUS, 0x00010100);
  cfg.write(1, 0, 0x10, 0xfe200000);
  cfg.write(1, 0, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.is(memory.read(0xfe200000, 4), 0, 'window closed: the bridge forwards nothing');
  cfg.write(0, bdf, R.PCI_MEMORY_BASE, 0xfe30fe20); // base 0xfe200000, limit 0xfe3fffff
  cfg.write(0, bdf, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.is(memory.read(0xfe200000, 4), 0xabcd);
  const text = infoMtree([memory]);
  assert.match(
    text,
    '00000000fe200000-00000000fe3fffff (prio 1, i/o): alias pci_bridge_mem @pci_bridge_pci ' +
      '00000000fe200000-00000000fe3fffff',
  );
  assert.match(
    text,
    'memory-region: pci_bridge_pci\n  0000000000000000-ffffffffffffffff (prio 0, i/o): pci_bridge_pci\n    ' +
      '00000000fe200000-00000000fe200fff (prio 1, i/o): behind-bar0\n',
  );
  cfg.write(0, bdf, R.PCI_COMMAND, 0, 2);
  assert.is(memory.read(0xfe200000, 4), 0, 'memory decoding off on the bridge closes the window');
});

test('window registers decode as QEMU does (16-bit I/O, 64-bit prefetchable)', () => {
  const { br, cfg, bdf } = withBridge();
  cfg.write(0, bdf, R.PCI_IO_BASE, 0x2010, 2);
  assert.is(br.windowBase('io'), 0x1000n);
  assert.is(br.windowLimit('io'), 0x2fffn);
  cfg.write(0, bdf, R.PCI_PREF_MEMORY_BASE, 0xfff1c001);
  cfg.write(0, bdf, R.PCI_PREF_BASE_UPPER32, 0x8);
  cfg.write(0, bdf, R.PCI_PREF_LIMIT_UPPER32, 0x8);
  assert.is(br.windowBase('pref'), 0x8c0000000n);
  assert.is(br.windowLimit('pref'), 0x8ffffffffn);
});

test('DMA from behind a bridge lands in the root bus DMA space', () => {
  const { dev, system } = withBridge();
  assert.is(dev.busMasterEnable!.alias, system);
});

test.run();
