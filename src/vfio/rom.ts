import type { MemoryRegion, MemorySystem } from '../memory/index.ts';
import { VfioError } from '../common/errno.ts';
import * as R from '../common/pci-regs.ts';
import * as U from '../common/vfio-uapi.ts';
import type { DeviceFd } from '../common/vfio-api.ts';

/** The device fd calls the ROM needs (pread on the config and ROM regions, GET_REGION_INFO). */
export type RomDeviceFd = Pick<DeviceFd, 'read' | 'write' | 'getRegionInfo'>;

/**
 * The device's option ROM as QEMU's vfio-pci serves it (hw/vfio/pci.c): sized like the physical
 * ROM BAR through the config region (vfio_pci_size_rom), an I/O region "vfio[HOST].rom" whose
 * first guest read loads the whole ROM with pread (vfio_rom_read → vfio_pci_load_rom, which
 * fixes a PCIR device id that differs under the same vendor); writes are ignored.
 */
export class VfioRom {
  readonly region: MemoryRegion;
  /** The loaded contents, null until the first guest read. */
  private contents: Uint8Array | null = null;
  private readFailed = false;
  readonly stats = { guestReads: 0, loads: 0 };

  private constructor(
    mem: MemorySystem,
    private readonly hostName: string,
    private readonly fd: RomDeviceFd,
    readonly size: bigint,
    private readonly ids: { vendor: number; device: number },
    private readonly warn: (m: string) => void,
  ) {
    this.region = mem.io(`vfio[${hostName}].rom`, size, {
      valid: { minAccessSize: 1, maxAccessSize: 4 },
      impl: { minAccessSize: 1, maxAccessSize: 4 },
      endianness: 'little',
      read: (off, sz) => this.read(off, sz),
      write: () => {},
    });
  }

  /**
   * vfio_pci_size_rom: write all ones to the ROM BAR through the config region, read the size
   * back, restore it. Null when the device has no ROM BAR.
   */
  static size(
    mem: MemorySystem,
    hostName: string,
    fd: RomDeviceFd,
    ids: { vendor: number; device: number },
    warn: (m: string) => void,
  ): VfioRom | null {
    const cfg = U.VFIO_PCI_CONFIG_REGION_INDEX;
    let size: number;
    try {
      const orig = fd.read(cfg, R.PCI_ROM_ADDRESS, 4);
      fd.write(cfg, R.PCI_ROM_ADDRESS, R.PCI_ROM_ADDRESS_MASK, 4);
      size = fd.read(cfg, R.PCI_ROM_ADDRESS, 4);
      fd.write(cfg, R.PCI_ROM_ADDRESS, orig, 4);
    } catch (e) {
      if (!(e instanceof VfioError)) throw e;
      warn(`vfio_pci_size_rom(${hostName}) ROM access failed`);
      return null;
    }
    const bytes = (~(size & R.PCI_ROM_ADDRESS_MASK) + 1) >>> 0;
    if (!bytes) return null;
    return new VfioRom(mem, hostName, fd, BigInt(bytes), ids, warn);
  }

  /** vfio_rom_read: the ROM loaded on first use; bytes past it read 0. */
  private read(off: number, size: number): number {
    this.stats.guestReads++;
    if (!this.contents && !this.readFailed) this.load();
    const rom = this.contents;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (rom && off + i < rom.length ? rom[off + i]! : 0);
    return v;
  }

  /** vfio_pci_load_rom. */
  private load(): void {
    this.stats.loads++;
    const info = this.fd.getRegionInfo(U.VFIO_PCI_ROM_REGION_INDEX);
    if (info.size === 0n) {
      this.readFailed = true;
      this.warn(`vfio-pci: Cannot read device rom at ${this.hostName}`);
      this.warn(
        'Device option ROM contents are probably invalid (check dmesg).\nSkip option ROM probe with rombar=0, ' +
          'or load from file with romfile=',
      );
      return;
    }
    const rom = new Uint8Array(Number(info.size)).fill(0xff);
    try {
      for (let o = 0; o < rom.length; o += 4) {
        const v = this.fd.read(U.VFIO_PCI_ROM_REGION_INDEX, o, 4);
        for (let i = 0; i < 4; i++) rom[o + i] = (v >>> (8 * i)) & 0xff;
      }
    } catch (e) {
      if (!(e instanceof VfioError)) throw e;
      this.warn(`vfio: Error reading device ROM: ${e.message}`);
    }
    fixDeviceId(rom, this.ids);
    this.contents = rom;
  }
}

/**
 * vfio_pci_load_rom's fix: a valid ROM of the device's vendor naming another device id gets the
 * device's id, and byte 6 takes the checksum (Intel IGD ROMs need it).
 */
function fixDeviceId(rom: Uint8Array, ids: { vendor: number; device: number }): void {
  const word = (o: number) => rom[o]! | (rom[o + 1]! << 8);
  if (word(0) !== 0xaa55) return;
  const pcir = word(0x18);
  if (pcir + 8 >= rom.length || String.fromCharCode(...rom.subarray(pcir, pcir + 4)) !== 'PCIR') return;
  if (word(pcir + 4) !== ids.vendor || word(pcir + 6) === ids.device) return;
  rom[pcir + 6] = ids.device & 0xff;
  rom[pcir + 7] = ids.device >> 8;
  rom[6] = 0;
  let sum = 0;
  for (const b of rom) sum = (sum + b) & 0xff;
  rom[6] = (0x100 - sum) & 0xff;
}
