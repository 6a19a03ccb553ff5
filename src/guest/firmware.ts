import type { GuestPlatform } from './platform.ts';

/** PIIX3's PIRQ route control registers PIRQRC[A-D] (82371SB datasheet; QEMU hw/isa/piix.c). */
export const PIRQ_ROUTE_CONTROL = 0x60;
/** The ISA IRQs SeaBIOS gives PIRQ A-D (src/fw/pciinit.c: pci_irqs). */
const SEABIOS_PCI_IRQS = [10, 10, 11, 11];

/** One BAR as firmware assigned it. */
export interface AssignedBar {
  index: number;
  address: bigint;
  size: bigint;
  kind: 'mem32' | 'mem64' | 'io';
  prefetchable: boolean;
}

/** A function firmware found on bus 0. */
export interface FoundFunction {
  bus: number;
  devfn: number;
  vendor: number;
  device: number;
  classCode: number;
  bars: AssignedBar[];
  /** The expansion ROM as the firmware found it (BAR6 sized, placed, its header checked), or null. */
  rom: RomCheck | null;
}

/** What the firmware's option ROM scan saw (SeaBIOS src/optionrom.c:map_pcirom). */
export interface RomCheck {
  size: bigint;
  address: bigint;
  /** An x86 image for this vendor:device was found. */
  valid: boolean;
  /** SeaBIOS's words for what it found. */
  detail: string;
}

/** Config cycles through the machine's mechanism: CF8/CFC, ECAM loads and stores, or RTAS. */
export class ConfigAccess {
  readonly cycles = { reads: 0, writes: 0 };

  constructor(private readonly p: GuestPlatform) {}

  private cfgAddr(bus: number, devfn: number, reg: number): number {
    return (bus << 16) | (devfn << 8) | (reg & 0xff) | ((reg >> 8) << 24);
  }

  read(bus: number, devfn: number, reg: number, size: number): number {
    this.cycles.reads++;
    const f = this.p.firmware;
    if (f.config === 'ecam') return this.p.memory.read(Number(f.ecamBase!) + ((bus << 20) | (devfn << 12) | reg), size);
    if (f.config === 'rtas') {
      const r = this.p.rtas('read-pci-config', [this.cfgAddr(bus, devfn, reg), size]);
      return r[0] === 0 ? r[1]! >>> 0 : size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    }
    this.selectCf8(bus, devfn, reg);
    return f.configAddress === null
      ? this.p.io!.read(0xcfc + (reg & 3), size)
      : this.p.memory.read(Number(f.configAddress) + 4 + (reg & 3), size);
  }

  write(bus: number, devfn: number, reg: number, value: number, size: number): void {
    this.cycles.writes++;
    const f = this.p.firmware;
    if (f.config === 'ecam')
      return void this.p.memory.write(Number(f.ecamBase!) + ((bus << 20) | (devfn << 12) | reg), value >>> 0, size);
    if (f.config === 'rtas')
      return void this.p.rtas('write-pci-config', [this.cfgAddr(bus, devfn, reg), size, value >>> 0]);
    this.selectCf8(bus, devfn, reg);
    if (f.configAddress === null) this.p.io!.write(0xcfc + (reg & 3), value >>> 0, size);
    else this.p.memory.write(Number(f.configAddress) + 4 + (reg & 3), value >>> 0, size);
  }

  private selectCf8(bus: number, devfn: number, reg: number): void {
    const v = (0x80000000 | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0;
    const f = this.p.firmware;
    if (f.configAddress === null) this.p.io!.write(0xcf8, v, 4);
    else this.p.memory.write(Number(f.configAddress), v, 4);
  }

  /** pci_find_capability by walking the list. */
  findCapability(bus: number, devfn: number, id: number): number {
    if (!(this.read(bus, devfn, 6, 2) & 0x10)) return 0;
    const seen = new Set<number>();
    for (let p = this.read(bus, devfn, 0x34, 1) & ~3; p && !seen.has(p); p = this.read(bus, devfn, p + 1, 1) & ~3) {
      seen.add(p);
      if (this.read(bus, devfn, p, 1) === id) return p;
    }
    return 0;
  }
}

/**
 * The firmware stage (SeaBIOS / EDK2 / SLOF in miniature): enumerate bus 0, size every BAR with
 * all-ones writes, place them naturally aligned in the machine's 32- and 64-bit windows (largest
 * first), and enable memory decode and bus mastering.
 */
export function enumerateAndAssign(p: GuestPlatform, cfg: ConfigAccess): FoundFunction[] {
  const found: FoundFunction[] = [];
  for (let devfn = 0; devfn < 256; devfn++) {
    const id = cfg.read(0, devfn, 0, 4);
    if (id === 0xffffffff || id === 0) {
      if ((devfn & 7) === 0) devfn += 7; // no function 0: skip the slot
      continue;
    }
    const bars = sizeBars(cfg, devfn);
    const rom = sizeRom(cfg, devfn);
    if (rom) bars.push(rom);
    found.push({
      bus: 0,
      devfn,
      vendor: id & 0xffff,
      device: id >>> 16,
      classCode: cfg.read(0, devfn, 8, 4) >>> 8,
      bars,
      rom: null,
    });
    if ((devfn & 7) === 0 && !(cfg.read(0, devfn, 0x0e, 1) & 0x80)) devfn += 7;
  }
  const f = p.firmware;
  const cursor = { low: f.mmio32.base, high: f.mmio64?.base ?? f.mmio32.base };
  const all = found
    .flatMap((fn) => fn.bars.map((b) => ({ fn, b })))
    .sort((a, b) => (a.b.size > b.b.size ? -1 : a.b.size < b.b.size ? 1 : 0));
  for (const { fn, b } of all) {
    if (b.kind === 'io') continue;
    const high = b.kind === 'mem64' && f.mmio64 !== null;
    const at = ((high ? cursor.high : cursor.low) + b.size - 1n) & ~(b.size - 1n);
    if (high) cursor.high = at + b.size;
    else cursor.low = at + b.size;
    b.address = at;
    const reg = b.index === ROM_SLOT ? PCI_ROM_ADDRESS : 0x10 + 4 * b.index;
    cfg.write(fn.bus, fn.devfn, reg, Number(at & 0xffffffffn), 4);
    if (b.kind === 'mem64') cfg.write(fn.bus, fn.devfn, reg + 4, Number(at >> 32n), 4);
  }
  for (const fn of found) cfg.write(fn.bus, fn.devfn, 4, 0x6, 2); // MEMORY | MASTER
  for (const fn of found) {
    const b = fn.bars.find((x) => x.index === ROM_SLOT);
    if (!b) continue;
    fn.bars.splice(fn.bars.indexOf(b), 1); // BAR6 is not a BAR a driver maps
    fn.rom = checkRom(p, cfg, fn, b);
  }
  // SeaBIOS piix_isa_bridge_setup: PIRQ A-D to ISA IRQs 10, 10, 11, 11.
  const router = p.firmware.pirqRouterDevfn;
  if (router !== null && found.some((f) => f.devfn === router))
    SEABIOS_PCI_IRQS.forEach((irq, i) => cfg.write(0, router, PIRQ_ROUTE_CONTROL + i, irq, 1));
  return found;
}

const ROM_SLOT = 6;
const PCI_ROM_ADDRESS = 0x30;
const PCI_ROM_ADDRESS_ENABLE = 1;
const PCI_ROM_ADDRESS_MASK = 0xfffff800;

/** SeaBIOS pci_bios_get_bar for the ROM: write ~ENABLE, read the mask back, restore. */
function sizeRom(cfg: ConfigAccess, devfn: number): AssignedBar | null {
  const orig = cfg.read(0, devfn, PCI_ROM_ADDRESS, 4);
  cfg.write(0, devfn, PCI_ROM_ADDRESS, ~PCI_ROM_ADDRESS_ENABLE >>> 0, 4);
  const v = cfg.read(0, devfn, PCI_ROM_ADDRESS, 4) & PCI_ROM_ADDRESS_MASK;
  cfg.write(0, devfn, PCI_ROM_ADDRESS, orig, 4);
  if (!v) return null;
  return { index: ROM_SLOT, address: 0n, size: BigInt((~v + 1) >>> 0), kind: 'mem32', prefetchable: false };
}

/**
 * SeaBIOS map_pcirom: enable the ROM at its address, walk its images for the 55 AA header, a
 * "PCIR" structure and an x86 image naming this vendor:device, then write the original value
 * back, which leaves the ROM disabled.
 */
function checkRom(p: GuestPlatform, cfg: ConfigAccess, fn: FoundFunction, b: AssignedBar): RomCheck {
  const done = (valid: boolean, detail: string): RomCheck => ({ size: b.size, address: b.address, valid, detail });
  if (b.address + b.size > 0x100000000n) return done(false, 'not placed: no 32-bit PCI window on this machine');
  const orig = cfg.read(fn.bus, fn.devfn, PCI_ROM_ADDRESS, 4);
  cfg.write(fn.bus, fn.devfn, PCI_ROM_ADDRESS, orig | PCI_ROM_ADDRESS_ENABLE, 4);
  const base = Number(b.address);
  const rd = (off: number, size: number) => p.memory.read(base + off, size);
  let result: RomCheck | null = null;
  for (let image = 0; !result && image < Number(b.size); ) {
    const sig = rd(image, 2);
    if (sig !== 0xaa55) {
      result = done(false, `No option rom signature (got ${sig.toString(16)})`);
      break;
    }
    const pcir = image + rd(image + 0x18, 2);
    if (pcir + 24 > Number(b.size) || rd(pcir, 4) !== 0x52494350) {
      result = done(false, 'No valid pci signature found');
      break;
    }
    if (rd(pcir + 4, 2) === fn.vendor && rd(pcir + 6, 2) === fn.device && rd(pcir + 20, 1) === 0)
      result = done(true, `x86 image at +0x${image.toString(16)} for ${hex4(fn.vendor)}:${hex4(fn.device)}`);
    else if (rd(pcir + 21, 1) & 0x80) break;
    else image += rd(pcir + 16, 2) * 512 || Number(b.size);
  }
  cfg.write(fn.bus, fn.devfn, PCI_ROM_ADDRESS, orig, 4);
  return result ?? done(false, 'Unable to find x86 BIOS rom');
}

const hex4 = (v: number) => v.toString(16).padStart(4, '0');

function sizeBars(cfg: ConfigAccess, devfn: number): AssignedBar[] {
  const bars: AssignedBar[] = [];
  for (let n = 0; n < 6; n++) {
    const reg = 0x10 + 4 * n;
    const orig = cfg.read(0, devfn, reg, 4);
    cfg.write(0, devfn, reg, 0xffffffff, 4);
    const low = cfg.read(0, devfn, reg, 4);
    cfg.write(0, devfn, reg, orig, 4);
    if (low === 0) continue;
    if (low & 1) {
      bars.push({ index: n, address: 0n, size: BigInt((~(low & ~3) + 1) & 0xffff), kind: 'io', prefetchable: false });
      continue;
    }
    const is64 = (low & 6) === 4;
    let mask = BigInt((low & ~0xf) >>> 0);
    if (is64) {
      cfg.write(0, devfn, reg + 4, 0xffffffff, 4);
      mask |= BigInt(cfg.read(0, devfn, reg + 4, 4)) << 32n;
    } else mask |= 0xffffffff00000000n;
    bars.push({
      index: n,
      address: 0n,
      size: (~mask & 0xffffffffffffffffn) + 1n,
      kind: is64 ? 'mem64' : 'mem32',
      prefetchable: (low & 8) !== 0,
    });
    if (is64) n++;
  }
  return bars;
}
