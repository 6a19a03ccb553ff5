import { readFileSync } from 'node:fs';
import { BadInputError } from '../util/errors.ts';
import type { PciDevice } from './pci-device.ts';
import * as R from '../common/pci-regs.ts';

/** A romfile= that cannot be used; the message is QEMU's. */
export class RomFileError extends BadInputError {
  override name = 'RomFileError';
}

/**
 * hw/pci/pci.c:pci_add_option_rom for romfile=FILE: the file, padded with zeros to a power of two,
 * becomes a ROM region "<type>.rom" registered as BAR6 (no BAR with rombar=0), its PCIR device id
 * patched to the device's when the vendor matches (pci_patch_ids).
 */
export function addOptionRom(dev: PciDevice, typeName: string, path: string, romBar: boolean): void {
  let data: Uint8Array;
  try {
    data = readFileSync(path);
  } catch {
    throw new RomFileError(`failed to find romfile "${path}"`);
  }
  if (data.length === 0) throw new RomFileError(`romfile "${path}" is empty`);
  if (!romBar) return; // QEMU then loads it through fw_cfg for the firmware; no BAR
  let size = 1;
  while (size < data.length) size *= 2;
  const region = dev.mem.rom(`${typeName}.rom`, size);
  const bytes = new Uint8Array(size);
  bytes.set(data);
  patchIds(dev, bytes);
  region.ramBlock!.writeBytes(0, bytes);
  dev.registerBar(R.PCI_ROM_SLOT, 0, region);
}

/** pci_patch_ids: a valid ROM of the device's vendor gets the device's id, the checksum kept. */
export function patchIds(dev: PciDevice, rom: Uint8Array): void {
  if (rom[0] !== 0x55 || rom[1] !== 0xaa) return;
  const pcir = rom[0x18]! | (rom[0x19]! << 8);
  if (pcir + 8 >= rom.length || String.fromCharCode(...rom.subarray(pcir, pcir + 4)) !== 'PCIR') return;
  const word = (o: number) => rom[o]! | (rom[o + 1]! << 8);
  if (word(pcir + 4) !== dev.vendorId || word(pcir + 6) === dev.deviceId) return;
  const old = word(pcir + 6);
  rom[pcir + 6] = dev.deviceId & 0xff;
  rom[pcir + 7] = dev.deviceId >> 8;
  // Keep the image's byte sum: move the difference into byte 6, as QEMU does.
  const delta = (old & 0xff) + (old >> 8) - (dev.deviceId & 0xff) - (dev.deviceId >> 8);
  rom[6] = (rom[6]! + delta) & 0xff;
}
