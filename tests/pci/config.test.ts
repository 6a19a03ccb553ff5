// Config space, capabilities, BARs and their mapping: hw/pci/pci.c (pci_default_write_config,
// pci_register_bar, pci_bar_address, pci_update_mappings, pci_add_capability, pci_irq_handler,
// pci_update_irq_disabled), hw/pci/pcie.c.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { infoMtree, MEMTX_OK } from '../../src/memory/index.ts';
import * as R from '../../src/pci/index.ts';
import { platform, device, ECAM_BASE } from './platform.ts';

test('BAR sizing: writing all ones reads back ~(size-1) | type for every BAR kind (pci_register_bar)', () => {
  const { mem, host, cfg } = platform();
  const dev = device(mem);
  dev.registerBar(0, R.PCI_BASE_ADDRESS_SPACE_MEMORY, mem.container('mem32', 0x1000));
  dev.registerBar(1, R.PCI_BASE_ADDRESS_SPACE_IO, mem.container('io', 0x20));
  dev.registerBar(2, R.PCI_BASE_ADDRESS_MEM_TYPE_64 | R.PCI_BASE_ADDRESS_MEM_PREFETCH, mem.container('mem64', 0x4000));
  dev.registerBar(4, R.PCI_BASE_ADDRESS_MEM_PREFETCH, mem.container('pref32', 0x100000));
  dev.registerBar(R.PCI_ROM_SLOT, R.PCI_BASE_ADDRESS_SPACE_MEMORY, mem.container('rom', 0x10000));
  host.bus.attach(dev, 4);
  const devfn = 4 << 3;
  const size = (reg: number) => {
    cfg.write(0, devfn, reg, 0xffffffff);
    return cfg.read(0, devfn, reg);
  };
  assert.is(size(0x10), 0xfffff000);
  assert.is(size(0x14), 0xffffffe1);
  assert.is(size(0x18), 0xffffc00c);
  assert.is(size(0x1c), 0xffffffff, 'upper half of a 64-bit BAR');
  assert.is(size(0x20), 0xfff00008);
  assert.is(size(0x24), 0, 'no BAR 5');
  assert.is(size(0x30), 0xffff0001, 'ROM: size bits and the enable bit');
});

test('a BAR maps at priority 1 only while decoding is enabled, and moves when reprogrammed ' +
  '(pci_update_mappings)', () => {
  const { mem, host, cfg, memory, ioAs } = platform();
  const dev = device(mem);
  const regs = mem.io('testdev-bar0', 0x1000, { read: () => 0x1234, write: () => {} });
  dev.registerBar(0, R.PCI_BASE_ADDRESS_SPACE_MEMORY, regs);
  dev.registerBar(1, R.PCI_BASE_ADDRESS_SPACE_IO, mem.io('testdev-io', 0x20, { read: () => 0x77, write: () => {} }));
  host.bus.attach(dev, 5);
  const devfn = 5 << 3;
  cfg.write(0, devfn, 0x10, 0xfe000000);
  cfg.write(0, devfn, 0x14, 0xc000);
  assert.not.match(infoMtree([memory]), 'testdev-bar0', 'address set, memory decoding off: unmapped');
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.match(infoMtree([memory]), '      00000000fe000000-00000000fe000fff (prio 1, i/o): testdev-bar0');
  assert.is(memory.read(0xfe000010, 4), 0x1234);
  cfg.write(0, devfn, 0x10, 0xfd000000);
  assert.match(infoMtree([memory]), '      00000000fd000000-00000000fd000fff (prio 1, i/o): testdev-bar0');
  assert.is(memory.read(0xfe000010, 4), 0);
  assert.is(ioAs.read(0xc000, 1), 0xff, 'I/O decoding is still off');
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_IO, 2);
  assert.is(ioAs.read(0xc000, 1), 0x77);
  cfg.write(0, devfn, 0x10, 0);
  assert.not.match(infoMtree([memory]), 'testdev-bar0', 'address 0 never decodes');
  cfg.write(0, devfn, 0x10, 0xfffff000);
  assert.not.match(infoMtree([memory]), 'testdev-bar0', 'a 32-bit BAR may not end at 4 GiB - 1');
});

test('a 64-bit BAR maps above 4 GiB; the ROM needs its enable bit', () => {
  const { mem, host, cfg, memory } = platform();
  const dev = device(mem);
  dev.registerBar(2, R.PCI_BASE_ADDRESS_MEM_TYPE_64, mem.ram('big', 0x100000));
  dev.registerBar(R.PCI_ROM_SLOT, R.PCI_BASE_ADDRESS_SPACE_MEMORY, mem.rom('testdev.rom', 0x10000));
  host.bus.attach(dev, 6);
  const devfn = 6 << 3;
  cfg.write(0, devfn, 0x18, 0x00000000);
  cfg.write(0, devfn, 0x1c, 0x8);
  cfg.write(0, devfn, 0x30, 0xfeb00000);
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.match(infoMtree([memory]), '0000000800000000-00000008000fffff (prio 1, ram): big');
  assert.not.match(infoMtree([memory]), 'testdev.rom');
  cfg.write(0, devfn, 0x30, 0xfeb00001);
  assert.match(infoMtree([memory]), '00000000feb00000-00000000feb0ffff (prio 1, rom): testdev.rom');
});

test('read-only and write-1-to-clear bits: the guest cannot change ids; status error bits clear on 1', () => {
  const { mem, host, cfg } = platform();
  const dev = device(mem);
  host.bus.attach(dev, 7);
  const devfn = 7 << 3;
  cfg.write(0, devfn, 0, 0xdeadbeef);
  assert.is(cfg.read(0, devfn, 0), 0x10f11af4);
  dev.cfg.setWord(R.PCI_STATUS, R.PCI_STATUS_REC_MASTER_ABORT | R.PCI_STATUS_DETECTED_PARITY);
  cfg.write(0, devfn, R.PCI_STATUS, R.PCI_STATUS_REC_MASTER_ABORT, 2);
  assert.is(cfg.read(0, devfn, R.PCI_STATUS, 2), R.PCI_STATUS_DETECTED_PARITY);
  cfg.write(0, devfn, R.PCI_COMMAND, 0xffff, 2);
  assert.is(cfg.read(0, devfn, R.PCI_COMMAND, 2), 0x0507, 'only IO, MEM, MASTER, SERR, INTX_DISABLE are writable');
});

test('missing functions and registers read all ones; config cycles never throw', () => {
  const { mem, host, cfg, ioAs, memory } = platform();
  const dev = device(mem);
  host.bus.attach(dev, 1);
  assert.is(cfg.read(0, 2 << 3, 0), 0xffffffff);
  assert.is(cfg.read(5, 0, 0), 0xffffffff, 'no bus 5');
  ioAs.write(0xcf8, 0x00000800, 4); // enable bit clear
  assert.is(ioAs.read(0xcfc, 4), 0xffffffff);
  ioAs.write(0xcf9, 0x80, 1); // a byte write to CONFIG_ADDRESS does not latch
  assert.is(ioAs.read(0xcf8, 4), 0x00000800);
  assert.is(memory.read(ECAM_BASE + (1 << 15) + 0x100, 4), 0xffffffff, 'past a conventional config space');
  dev.configWrite(0xfe, 0x1234, 4);
  dev.configRead(0, 3);
  assert.equal(
    dev.dropped.map((d) => d.reason),
    ['offset 0xfe outside the 256-byte config space', 'size 3'],
  );
});

test('ECAM reaches the same registers as CF8/CFC, extended space included (pcie_mmcfg_data_read)', () => {
  const { mem, host, memory } = platform();
  const dev = device(mem, 'pcie-dev', { express: true });
  R.addExpressCapability(dev);
  dev.cfg.addExtCapability(0x0001, 2, 0x100, 0x48); // AER
  dev.cfg.addExtCapability(0x000e, 1, 0x148, 8); // ARI
  host.bus.attach(dev, 2);
  const ecam = (reg: number) => ECAM_BASE + (2 << 15) + reg;
  assert.is(memory.read(ecam(0), 4), 0x10f11af4);
  assert.is(memory.read(ecam(0x100), 4), 0x14820001, 'AER header: id 1, version 2, next 0x148');
  assert.is(memory.read(ecam(0x148), 4), 0x0001000e);
  assert.is(dev.cfg.findExtCapability(0x000e), 0x148);
  assert.is(memory.result, MEMTX_OK);
});

test('capability list: new capabilities go first, find walks the list, overlaps are refused', () => {
  const { mem } = platform();
  const dev = device(mem, 'caps', { express: true });
  const pm = R.addPmCapability(dev, 0x40);
  const exp = R.addExpressCapability(dev, R.PCI_EXP_TYPE_ENDPOINT, 0x60);
  const msi = new R.Msi(dev, 0xa0, 4, true, true);
  assert.equal(dev.cfg.capabilities(), [
    [R.PCI_CAP_ID_MSI, 0xa0],
    [R.PCI_CAP_ID_EXP, exp],
    [R.PCI_CAP_ID_PM, pm],
  ]);
  assert.is(dev.cfg.findCapability(R.PCI_CAP_ID_EXP), 0x60);
  assert.is(dev.cfg.byte(R.PCI_CAPABILITY_LIST), 0xa0);
  assert.ok(dev.cfg.word(R.PCI_STATUS) & R.PCI_STATUS_CAP_LIST);
  assert.throws(() => dev.cfg.addCapability(0x09, 0x44, 8), /overlaps existing capability 0x1 at offset 0x40/);
  const auto = dev.cfg.addCapability(0x09, 0, 8);
  assert.is(auto, 0x48, 'first free run after the PM capability');
  assert.is(msi.cap, 0xa0);
  const plain = device(mem, 'plain');
  assert.throws(() => R.addExpressCapability(plain), /needs an express/);
});

test('PM capability: power state writable, PME status write-1-to-clear', () => {
  const { mem, host, cfg } = platform();
  const dev = device(mem);
  const pm = R.addPmCapability(dev);
  host.bus.attach(dev, 9);
  dev.cfg.setWord(pm + 4, 0x8000);
  cfg.write(0, 9 << 3, pm + 4, 0x8003, 2);
  assert.is(cfg.read(0, 9 << 3, pm + 4, 2), 0x0003);
});

test('bad BAR registrations are refused with a reason', () => {
  const { mem } = platform();
  const dev = device(mem);
  assert.throws(() => dev.registerBar(0, 0, mem.container('odd', 0x1800)), /not a power of two/);
  assert.throws(
    () => dev.registerBar(5, R.PCI_BASE_ADDRESS_MEM_TYPE_64, mem.container('b', 0x1000)),
    /64-bit BAR cannot start at BAR 5/,
  );
  assert.throws(() => dev.registerBar(8, 0, mem.container('c', 0x1000)), /BAR 8 does not exist/);
});

test('slots: double use, bad numbers and re-plugging are refused', () => {
  const { mem, host } = platform();
  host.bus.attach(device(mem, 'a'), 3);
  assert.throws(() => host.bus.attach(device(mem, 'b'), 3), /slot 3 function 0 not available for b, in use by a/);
  assert.throws(() => host.bus.attach(device(mem, 'c'), 32), /not a PCI address/);
});

test('COMMAND.INTX_DISABLE holds an asserted pin off its line and puts it back when cleared; the level is kept ' +
  '(pci_irq_handler, pci_update_irq_disabled); reset deasserts (pci_do_device_reset)', () => {
  const { mem, host, cfg } = platform();
  const dev = device(mem, 'testdev', { interruptPin: 1 });
  host.bus.attach(dev, 3);
  const line: boolean[] = [];
  host.bus.intxRouter = {
    route: () => ({ mode: 'enabled', irq: 10 }),
    setLevel: (_d, _pin, level) => void line.push(level),
  };
  const devfn = 3 << 3;
  dev.setIrq(1);
  assert.equal(line, [true]);
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_INTX_DISABLE, 2);
  assert.equal(line, [true, false], 'disabled: the asserted pin leaves the line');
  dev.setIrq(0);
  dev.setIrq(1);
  assert.equal(line, [true, false], 'while disabled the pin changes without touching the line');
  cfg.write(0, devfn, R.PCI_COMMAND + 1, 0, 1);
  assert.equal(line, [true, false, true], 'a byte write clearing it puts the kept level back');
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.equal(line.length, 3, 'no change of INTX_DISABLE, no change on the line');
  cfg.write(0, devfn, R.PCI_COMMAND, R.PCI_COMMAND_INTX_DISABLE, 2);
  dev.reset();
  assert.is(dev.intxLevel, 0, 'reset deasserts the pin before clearing COMMAND');
  dev.setIrq(1);
  assert.equal(line.slice(-1), [true], 'after reset INTX_DISABLE is clear: the pin reaches the line');
});

test.run();
