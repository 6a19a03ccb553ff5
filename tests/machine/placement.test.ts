// Where assigned devices go on the root bus: QEMU's addr= property (hw/core/qdev-properties-system.c:
// set_pci_devfn), the first free slot when it is absent (hw/pci/pci.c:do_pci_register_device with
// devfn -1), and the multifunction rules of hw/pci/pci.c:pci_init_multifunction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MachineError,
  MemorySystem,
  PciBusError,
  PciDevice,
  PciHost,
  U64_SPAN,
  nicFarmHost,
  packedDevices,
  parsePciAddr,
} from '../../src/index.ts';
import { hostJson, makeMachine } from '../vfio/helpers.ts';

test("addr= takes SLOT[.FN] in hex, with or without 0x; anything else is refused with QEMU's message", () => {
  assert.equal(parsePciAddr('3'), { slot: 3, fn: 0 });
  assert.equal(parsePciAddr('1f.7'), { slot: 31, fn: 7 });
  assert.equal(parsePciAddr('0x4.0x2'), { slot: 4, fn: 2 });
  for (const bad of ['20.0', '3.8', 'x', '3.', ''])
    assert.throws(
      () => parsePciAddr(bad, 'vfio-pci'),
      (e: Error) => e instanceof PciBusError && e.message === `Property 'vfio-pci.addr' doesn't take value '${bad}'`,
    );
});

function rootBus() {
  const mem = new MemorySystem();
  const host = new PciHost(mem, {
    memSpace: mem.container('pci', U64_SPAN),
    ioSpace: mem.container('io', 0x10000),
    dmaRoot: mem.container('system', U64_SPAN),
  });
  const dev = (name: string, multifunction = false) =>
    new PciDevice({ mem, name, vendorId: 0x8086, deviceId: 0x10fb, classCode: 0x020000, multifunction });
  return { bus: host.bus, dev };
}

test('pci_init_multifunction: functions 1-7 need function 0 to say multifunction, in either order', () => {
  const { bus, dev } = rootBus();
  bus.attach(dev('a'), 3, 0);
  assert.throws(() => bus.attach(dev('b'), 3, 1), /PCI: single function device can't be populated in function 3\.1/);
  bus.attach(dev('c'), 4, 2); // function 2 first: allowed until a single-function function 0 arrives
  assert.throws(
    () => bus.attach(dev('d'), 4, 0),
    /PCI: 4\.0 indicates single function, but 4\.2 is already populated\./,
  );
  bus.attach(dev('e', true), 5, 0);
  bus.attach(dev('f'), 5, 1);
  assert.is(
    bus.freeSlot(3, 'g'),
    4,
    'QEMU looks only at function 0: slot 4 counts as free (and would then fail the check above)',
  );
});

test("devices without addr take the first free slot from the machine's first; addr= places them, errors name " +
  'the device', () => {
  const j = nicFarmHost(hostJson('x86-4k-ir'), 3);
  const m = makeMachine('q35', j.host, [{ host: j.nics[0]!, addr: '5' }, { host: j.nics[1]! }, { host: j.nics[2]! }]);
  assert.equal(
    m.devices.map((d) => d.devfn >> 3),
    [5, 1, 2],
  );
  assert.throws(
    () =>
      makeMachine('q35', j.host, [
        { host: j.nics[0]!, addr: '1' },
        { host: j.nics[1]!, addr: '1.1' },
      ]),
    (e: Error) =>
      e instanceof MachineError &&
      /host=0000:01:00.1: PCI: single function device can't be populated in function 1\.1/.test(e.message),
  );
});

test('packedDevices fills slots eight functions at a time when there are more devices than slots, and says ' +
  'when they cannot fit', () => {
  const hosts = Array.from({ length: 40 }, (_, i) => `0000:${(i + 1).toString(16).padStart(2, '0')}:00.0`);
  const opts = packedDevices(hosts, 1);
  assert.equal(opts.slice(0, 2), [
    { host: hosts[0], id: 'hostdev0', addr: '1.0', multifunction: true },
    { host: hosts[1], id: 'hostdev1', addr: '1.1' },
  ]);
  assert.is(opts[39]!.addr, '5.7');
  assert.equal(
    packedDevices(hosts.slice(0, 3), 1).map((o) => o.addr),
    ['1.0', '2.0', '3.0'],
    'one per slot while they fit',
  );
  assert.throws(
    () => packedDevices(Array(249).fill('x'), 1),
    /249 devices do not fit on the root bus: slots 1-31 hold 248 functions/,
  );
});

test('nicFarmHost: 4-function cards behind ACS root ports, every function its own IOMMU group', () => {
  const { host, nics } = nicFarmHost(hostJson('x86-4k-ir'), 10);
  assert.is(nics.length, 10);
  assert.equal(nics.slice(0, 5), ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3', '0000:02:00.0']);
  const m = makeMachine('q35', host, packedDevices(nics, 1));
  assert.is(new Set(m.devices.map((d) => d.group.id)).size, 10);
});

test('default qdev ids (hostdevN) are counted per machine, not per process', () => {
  const names = [0, 1, 2].map(() => makeMachine('q35', 'x86-4k-ir').devices.map((d) => d.name));
  assert.equal(names, [['hostdev0'], ['hostdev0'], ['hostdev0']]);
});

test.run();
