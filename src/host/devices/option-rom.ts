import type { FunctionSpec } from '../host-file.ts';

/** The ROM header signature 55 AA and the PCI data structure signature "PCIR" (PCI Firmware 3.0). */
export const ROM_SIGNATURE = 0xaa55;
export const PCIR_SIGNATURE = 0x52494350;
/** Where the header keeps the PCI data structure's offset. */
export const ROM_PCIR_POINTER = 0x18;
const PCIR_AT = 0x1c;

/**
 * The expansion ROM a host file describes: a single x86 image of `imageSize` bytes (at most the
 * BAR) with the 55 AA header and a PCIR structure naming `vendor`:`device`, checksummed; the rest
 * of the BAR reads 0xff (only the image is kept). `signature` lets a file describe a broken ROM.
 */
export function buildOptionRom(spec: FunctionSpec): Uint8Array | null {
  const rom = spec.rom;
  if (!rom) return null;
  // Only the image is stored; the rest of the BAR reads 0xff.
  const image = Number(rom.imageSize);
  const bytes = new Uint8Array(image);
  const v = new DataView(bytes.buffer);
  v.setUint16(0, rom.signature, true);
  bytes[2] = image / 512; // initialization size in 512-byte units
  v.setUint16(ROM_PCIR_POINTER, PCIR_AT, true);
  v.setUint32(PCIR_AT, PCIR_SIGNATURE, true);
  v.setUint16(PCIR_AT + 4, rom.vendor, true);
  v.setUint16(PCIR_AT + 6, rom.device, true);
  v.setUint16(PCIR_AT + 10, 0x18, true); // structure length
  bytes[PCIR_AT + 13] = spec.classCode & 0xff;
  v.setUint16(PCIR_AT + 14, spec.classCode >> 8, true);
  v.setUint16(PCIR_AT + 16, image / 512, true); // image length
  bytes[PCIR_AT + 20] = 0; // code type: x86 PC-AT
  bytes[PCIR_AT + 21] = 0x80; // last image
  let sum = 0;
  for (let i = 0; i < image - 1; i++) sum = (sum + bytes[i]!) & 0xff;
  bytes[image - 1] = (0x100 - sum) & 0xff;
  return bytes;
}

/**
 * drivers/pci/rom.c:pci_get_rom_size: walk the images (55 AA, then "PCIR") and return how many
 * bytes they cover, at most the BAR; 0 when the first image is not valid, with the kernel's message.
 */
export function romImageSize(rom: Uint8Array): { size: number; message: string | null } {
  const v = new DataView(rom.buffer, rom.byteOffset, rom.byteLength);
  let image = 0;
  for (;;) {
    if (image + 2 > rom.length || v.getUint16(image, true) !== ROM_SIGNATURE) {
      const got = image + 2 <= rom.length ? v.getUint16(image, true) : 0xffff;
      return {
        size: image,
        message: `Invalid PCI ROM header signature: expecting 0xaa55, got 0x${got.toString(16).padStart(4, '0')}`,
      };
    }
    const pds = image + v.getUint16(image + ROM_PCIR_POINTER, true);
    if (pds + 24 > rom.length || v.getUint32(pds, true) !== PCIR_SIGNATURE) {
      const got = pds + 4 <= rom.length ? v.getUint32(pds, true) : 0xffffffff;
      return {
        size: image,
        message: `Invalid PCI ROM data signature: expecting 0x52494350, got 0x${got.toString(16).padStart(8, '0')}`,
      };
    }
    const last = (rom[pds + 21]! & 0x80) !== 0;
    const length = v.getUint16(pds + 16, true);
    image += length * 512;
    if (image >= rom.length || !length || last) return { size: Math.min(image, rom.length), message: null };
  }
}
