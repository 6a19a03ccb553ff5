// The config region of a vfio-pci device fd:
// drivers/vfio/pci/vfio_pci_config.c (init_pci_cap_basic_perm, vfio_bar_fixup,
// init_pci_cap_msi_perm, vfio_msi_config_write, the MSI-X default perms, unassigned_perms).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventFd } from '../../src/common/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { errno, hostFrom, hostJson, loadHost, open } from './helpers.ts';

const CFG = U.VFIO_PCI_CONFIG_REGION_INDEX;

/** Walks the capability list as a user would, returning id -> offset. */
function caps(read: (off: number, size: number) => number): Map<number, number> {
  const out = new Map<number, number>();
  for (let p = read(0x34, 1); p; p = read(p + 1, 1)) out.set(read(p, 1), p);
  return out;
}

test('ids, class and the capability list read as the hardware has them; MSI-X shows its table and PBA ' +
  'BIR/offset', () => {
  const { dev } = open(loadHost('x86-4k-ir'));
  const rd = (o: number, s: number) => dev.read(CFG, o, s);
  assert.is(rd(0, 4), (dev.fn.spec.device << 16) | dev.fn.spec.vendor);
  assert.is(rd(0x0a, 2), dev.fn.spec.classCode >> 8);
  assert.is(rd(6, 2) & 0x10, 0x10, 'STATUS.CAP_LIST');
  const c = caps(rd);
  const msix = c.get(0x11)!;
  assert.ok(msix, 'an MSI-X capability');
  assert.is(rd(msix + 2, 2) & 0x7ff, 127, 'QSIZE = entries - 1');
  assert.is(rd(msix + 4, 4), 0x2000, 'table at BAR0 + 0x2000');
  assert.is(rd(msix + 8, 4), 0x3000, 'PBA at BAR0 + 0x3000');
  assert.is(dev.getRegionInfo(CFG).size, 4096n);
});

test('BARs are virtual with sizing semantics (vfio_bar_fixup); the hardware BAR never moves', () => {
  const { dev } = open(loadHost('x86-4k-ir'));
  const physBar0 = dev.hw.config.bytes.slice(0x10, 0x18).join();
  assert.is(dev.read(CFG, 0x10, 4), 0x4, 'reads as 0 plus the type bits (64-bit memory)');
  dev.write(CFG, 0x10, 0xffffffff, 4);
  dev.write(CFG, 0x14, 0xffffffff, 4);
  assert.is(dev.read(CFG, 0x10, 4), 0xffffc004, '16K, 64-bit, not prefetchable');
  assert.is(dev.read(CFG, 0x14, 4), 0xffffffff, 'upper half');
  dev.write(CFG, 0x20, 0xffffffff, 4);
  assert.is(dev.read(CFG, 0x20, 4), 0xffffc00c, 'BAR4: 16K, 64-bit, prefetchable');
  assert.is(dev.read(CFG, 0x18, 4), 0, 'no BAR2: reads 0 whatever is written');
  dev.write(CFG, 0x18, 0xffffffff, 4);
  assert.is(dev.read(CFG, 0x18, 4), 0);
  dev.write(CFG, 0x10, 0xfebf0000, 4);
  assert.is(dev.read(CFG, 0x10, 4), 0xfebf0004);
  assert.is(dev.hw.config.bytes.slice(0x10, 0x18).join(), physBar0, 'the physical BAR is untouched');
});

test('COMMAND: decode and bus master reach the device; INTX_DISABLE is virtual, the PCI 2.3 bit follows it ' +
  'outside INTx; ids and STATUS are read-only', () => {
  const { dev } = open(loadHost('x86-4k-ir'));
  dev.write(CFG, 4, 0x0406, 2);
  assert.is(dev.hw.busMaster, true);
  assert.ok(dev.config.intxDisable, 'vfio_basic_config_write keeps INTX_DISABLE in vconfig');
  // vfio_pci_intrs.c:vfio_pci_intx_mask with no INTx enabled: "have the physical bit follow the virtual bit".
  assert.is(dev.hw.config.bytes[5]! & 0x04, 0x04, 'pci_intx(pdev, 0) on a PCI 2.3 device');
  assert.is(dev.read(CFG, 4, 2), 0x0406);
  dev.write(CFG, 4, 0x0000, 2);
  assert.is(dev.hw.config.bytes[5]! & 0x04, 0, 'vfio_pci_intx_unmask: pci_intx(pdev, 1)');
  assert.is(dev.hw.memoryDecode, false);
  assert.is(
    errno(() => dev.read(0, 0, 4)),
    'EIO',
    'BAR access with decode off (5.8+)',
  );
  dev.write(CFG, 0, 0x12345678, 4);
  dev.write(CFG, 6, 0xffff, 2);
  assert.is(dev.read(CFG, 0, 4), (dev.fn.spec.device << 16) | dev.fn.spec.vendor);
  assert.is(dev.read(CFG, 6, 2), 0x10);
  dev.write(CFG, 0x3c, 0x0b, 1);
  assert.is(dev.read(CFG, 0x3c, 1), 0x0b, 'INTERRUPT_LINE is virtual and writable');
  assert.is(
    errno(() => dev.read(CFG, 0xfff, 2)),
    'EINVAL',
    'past the config region',
  );
});

test('COMMAND: every bit but INTX_DISABLE is written through, and the device keeps the bits it implements ' +
  '(vfio_pci_config.c:init_pci_cap_basic_perm: virt INTX_DISABLE, write ALL_WRITE)', () => {
  const { dev } = open(loadHost('x86-4k-ir'));
  // SERR# enable, parity error response, bus master, memory: all reach the hardware.
  dev.write(CFG, 4, 0x0146, 2);
  assert.is(dev.hw.config.bytes[4]!, 0x46, 'PARITY | MASTER | MEMORY in the device');
  assert.is(dev.hw.config.bytes[5]! & 0x01, 0x01, 'SERR# enable in the device');
  assert.is(dev.read(CFG, 4, 2), 0x0146);
  // MWI, VGA palette snoop, special cycles and fast back-to-back are hardwired 0 on PCI Express.
  dev.write(CFG, 4, 0x03ff, 2);
  assert.is(dev.read(CFG, 4, 2), 0x0147, 'what a PCIe function implements of 0x03ff');
  // A byte write to the upper half reaches SERR# and keeps INTX_DISABLE virtual.
  dev.write(CFG, 5, 0x04, 1);
  assert.is(dev.read(CFG, 4, 2), 0x0447);
  assert.is(dev.hw.config.bytes[5]! & 0x01, 0, 'SERR# cleared in the device');
  assert.ok(dev.config.intxDisable);
});

test('the MSI-X capability is read-only to the user; the host enables MSI-X through SET_IRQS', () => {
  const { dev } = open(loadHost('x86-4k-ir'));
  const msix = caps((o, s) => dev.read(CFG, o, s)).get(0x11)!;
  dev.write(CFG, msix + 2, 0xc000, 2);
  dev.write(CFG, msix + 4, 0x5, 4);
  assert.is(dev.read(CFG, msix + 2, 2), 127, 'ENABLE and MASKALL writes are dropped');
  assert.is(dev.read(CFG, msix + 4, 4), 0x2000);
});

test('MSI: flags, address and data stay virtual; ENABLE follows SET_IRQS; QSIZE is clamped; gaps pass through', () => {
  const j = hostJson('x86-4k-ir');
  j.pci.find((f: { address: string }) => f.address === '0000:00:01.0').children[0].msi = { vectors: 4, is64: true };
  const { dev } = open(hostFrom(j));
  const msi = caps((o, s) => dev.read(CFG, o, s)).get(0x05)!;
  const hwBefore = dev.hw.config.bytes.slice(msi + 4, msi + 14).join();
  dev.write(CFG, msi + 4, 0xfee00000, 4);
  dev.write(CFG, msi + 12, 0x4041, 2);
  assert.is(dev.read(CFG, msi + 4, 4), 0xfee00000);
  assert.is(
    dev.hw.config.bytes.slice(msi + 4, msi + 14).join(),
    hwBefore,
    'the guest message never reaches the device',
  );
  dev.write(CFG, msi + 2, 0x71, 1); // ENABLE, QSIZE 7 (128 vectors)
  const flags = dev.read(CFG, msi + 2, 2);
  assert.is(flags & 1, 0, 'ENABLE reads 0 until MSI is enabled through SET_IRQS');
  assert.is((flags >> 4) & 7, 2, 'QSIZE clamped to the 4 vectors offered');
  dev.setIrqs({
    index: U.VFIO_PCI_MSI_IRQ_INDEX,
    start: 0,
    count: 1,
    flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER,
    data: [new EventFd()],
  });
  assert.is(dev.read(CFG, msi + 2, 2) & 1, 1);
  const gap = msi + 0x18; // between the MSI and MSI-X capabilities
  dev.write(CFG, gap, 0xa5, 1);
  assert.is(dev.hw.config.bytes[gap], 0xa5, 'unassigned bytes are raw pass-through');
});

test.run();
