// The ROM BAR: Linux's ROM region (vfio_pci_core.c, drivers/pci/rom.c:pci_get_rom_size), QEMU's
// BAR6 (hw/vfio/pci.c vfio_pci_size_rom, vfio_rom_read, vfio_pci_load_rom; hw/pci/pci.c
// pci_add_option_rom for romfile=) and the firmware's check (SeaBIOS map_pcirom).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  boot,
  infoMtree,
  loadMachineFile,
  parseGuestFile,
  parseHostFile,
  SimHost,
  type VfioPciOptions,
} from '../../src/index.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { runCli } from '../../src/cli/main.ts';
import { errno, open } from '../host/helpers.ts';
import { hostJson, makeMachine, MACHINES_DIR } from './helpers.ts';

const MACHINES = MACHINES_DIR;
const NIC = '0000:08:00.0';
const ROM = U.VFIO_PCI_ROM_REGION_INDEX;

/** The x86 host with the e1000's ROM described by `rom`. */
function host(rom: unknown = '0x40000') {
  const j = hostJson('x86-4k-ir');
  j.pci.find((f: { address: string }) => f.address === '0000:00:1c.0').children[0].rom = rom;
  return new SimHost(parseHostFile(JSON.stringify(j), 'h.json'));
}

function bootQ35(rom: unknown, opts: Partial<VfioPciOptions> = {}) {
  const guest = parseGuestFile(
    JSON.stringify({ name: 't', vectors: 1, ringSize: 4, bufferSize: 64, iterations: 2 }),
    't.json',
  );
  return boot(loadMachineFile(`${MACHINES}q35.json`), host(rom), guest, [{ host: NIC, ...opts }]);
}

test('Linux ROM region: the BAR size and READ only; pread gives the image then 0xff; no write, no mmap', () => {
  const { dev } = open(host({ size: '0x10000', imageSize: 0x4000 }), NIC);
  const info = dev.getRegionInfo(ROM);
  assert.equal(
    [info.size, info.flags],
    [0x10000n, U.VFIO_REGION_INFO_FLAG_READ],
    'vfio_pci_ioctl_get_region_info reports the BAR, not the image',
  );
  assert.is(dev.read(ROM, 0, 2), 0xaa55);
  assert.is(dev.read(ROM, 0x4000, 4), 0xffffffff, 'past the image: the excluded range reads 0xff');
  assert.is(
    errno(() => dev.write(ROM, 0, 0, 4)),
    'EINVAL',
  );
  assert.is(
    errno(() => dev.mmap(ROM, 0n, 0x1000n)),
    'EINVAL',
  );
});

test('an invalid ROM: pci_map_rom fails, the region has size 0, dmesg says why (pci_get_rom_size)', () => {
  const h = host({ size: '0x10000', signature: 0x1234 });
  const { dev } = open(h, NIC);
  assert.equal([dev.getRegionInfo(ROM).size, dev.getRegionInfo(ROM).flags], [0n, 0]);
  assert.ok(
    h.dmesg.includes(`${NIC}: Invalid PCI ROM header signature: expecting 0xaa55, got 0x1234`),
    h.dmesg.join('\n'),
  );
  assert.is(
    errno(() => dev.read(ROM, 0, 4)),
    'ENOMEM',
  );
});

test('QEMU sizes BAR6 like the physical ROM BAR and reads the ROM only on the first guest read (vfio_rom_read)', () => {
  const r = bootQ35('0x40000');
  const d = r.machine.devices[0]!;
  assert.is(d.bars[6]!.size, 0x40000n);
  assert.is(d.rom!.region.name, `vfio[${NIC}].rom`);
  const rep = r.report.devices[0]!.rom!;
  assert.equal([rep.source, rep.loaded, rep.firmware!.valid], ['device', true, true]);
  assert.match(rep.firmware!.detail, 'x86 image at +0x0 for 8086:100e');
  assert.is(d.bars[6]!.addr, 0xffffffffffffffffn, 'the firmware put the original value back: disabled');
  // Not read until a guest reads: realize only sized it through the config region.
  const fresh = makeMachine('q35', hostJson('x86-4k-ir'), [{ host: NIC }]).devices[0]!;
  assert.is(fresh.rom!.stats.loads, 0);
  assert.is(fresh.rom!.region.readFn!(0, 2), 0xaa55);
  assert.is(fresh.rom!.stats.loads, 1, 'loaded once, on the first read');
  fresh.rom!.region.readFn!(2, 1);
  assert.is(fresh.rom!.stats.loads, 1);
});

test("info mtree shows the ROM region by QEMU's name while the guest enables it; vdm pci prints BAR6 as info pci does", () => {
  const r = bootQ35('0x40000');
  const d = r.machine.devices[0]!;
  d.configWrite(0x30, 0xc0000000 | 1, 4);
  assert.match(
    infoMtree([r.machine.addressSpaceMemory], {}),
    /00000000c0000000-00000000c003ffff \(prio 1, i\/o\): vfio\[0000:08:00\.0\]\.rom/,
  );
  const pci = runCli(['pci', '--machine', 'q35', '--device', `host=${NIC}`]);
  assert.match(pci.out, 'BAR6: 32 bit memory at 0xffffffffffffffff [0x0003fffe].');
});

test('an invalid ROM: QEMU\'s "Cannot read device rom" warnings, and the firmware finds no signature', () => {
  const r = bootQ35({ size: '0x10000', signature: 0x1234 });
  assert.ok(r.report.warnings.includes(`vfio-pci: Cannot read device rom at ${NIC}`), r.report.warnings.join('\n'));
  assert.ok(
    r.report.warnings.some((w) => w.startsWith('Device option ROM contents are probably invalid (check dmesg).')),
  );
  const f = r.report.devices[0]!.rom!.firmware!;
  assert.equal([f.valid, f.detail], [false, 'No option rom signature (got 0)']);
  const wrongIds = bootQ35({ size: '0x10000', vendor: 0x10ec }).report.devices[0]!.rom!.firmware!;
  assert.equal(
    [wrongIds.valid, wrongIds.detail],
    [false, 'Unable to find x86 BIOS rom'],
    "a PCIR for another vendor is not this device's ROM",
  );
});

test("vfio_pci_load_rom gives a ROM of the same vendor the device's own id and keeps the checksum", () => {
  const r = bootQ35({ size: '0x10000', device: 0x1234 });
  const d = r.machine.devices[0]!;
  d.configWrite(0x30, 0xc0000000 | 1, 4);
  const mem = r.machine.addressSpaceMemory;
  assert.is(mem.read(0xc0000000 + 0x1c + 6, 2), 0x100e);
  let sum = 0;
  for (let i = 0; i < 0x10000; i++) sum = (sum + mem.read(0xc0000000 + i, 1)) & 0xff;
  assert.is(sum, 0);
  assert.ok(r.report.devices[0]!.rom!.firmware!.valid);
});

test('rombar=0: no BAR6; romfile=FILE: the file behind BAR6 as "vfio-pci.rom", padded to a power of two, ids patched', () => {
  assert.is(bootQ35('0x40000', { romBar: false }).machine.devices[0]!.bars[6], null);
  const dir = mkdtempSync(join(tmpdir(), 'vdm-rom-'));
  const file = join(dir, 'e1000.rom');
  const img = new Uint8Array(0x3000);
  img.set([0x55, 0xaa], 0);
  img.set([0x1c, 0], 0x18);
  img.set(
    [...'PCIR'].map((c) => c.charCodeAt(0)),
    0x1c,
  );
  img.set([0x86, 0x80, 0x34, 0x12], 0x20); // 8086:1234, patched to 100e
  img.set([0x18, 0], 0x2c); // 0x18 images of 512 bytes
  img[0x31] = 0x80;
  writeFileSync(file, img);
  const r = bootQ35('0x40000', { romFile: file });
  const d = r.machine.devices[0]!;
  assert.equal([d.bars[6]!.size, d.bars[6]!.region.name, d.rom], [0x4000n, 'vfio-pci.rom', null]);
  assert.equal(r.report.devices[0]!.rom!.source, 'romfile');
  assert.ok(r.report.devices[0]!.rom!.firmware!.valid, r.report.devices[0]!.rom!.firmware!.detail);
  const missing = runCli(['boot', '--machine', 'q35', '--device', `host=${NIC},romfile=/nonexistent.rom`]);
  assert.is(missing.code, 2);
  assert.match(missing.err, 'failed to find romfile "/nonexistent.rom"');
});

test('host files: a ROM must be a power of two of at least 2 KiB; imageSize in 512-byte units', () => {
  assert.throws(() => host('0x3000'), /rom: expected a power of two of at least 2048/);
  assert.throws(() => host({ size: '0x10000', imageSize: 1000 }), /rom\.imageSize: expected a multiple of 512 bytes/);
  assert.throws(() => host({ size: '0x10000', bogus: 1 }), /rom\.bogus: unknown field/);
});

test.run();
