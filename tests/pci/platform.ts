// A minimal PC-like platform for PCI tests: "system" with RAM and an "apic-msi" region that
// records every MSI write, a "pci" container at priority -1 (as on QEMU's pc machines), the "io"
// space with the 0xCF8/0xCFC ports, and an ECAM window.
import { MemorySystem, unassignedIoOps, U64_SPAN } from '../../src/memory/index.ts';
import { PciHost, PciDevice, type PciDeviceOptions } from '../../src/pci/index.ts';

export const ECAM_BASE = 0xb0000000;

export function platform() {
  const mem = new MemorySystem();
  const system = mem.container('system', U64_SPAN);
  const pci = mem.container('pci', U64_SPAN);
  const io = mem.io('io', 0x10000, unassignedIoOps);
  const msis: { addr: number; data: number; size: number }[] = [];
  const apic = mem.io('apic-msi', 0x100000, {
    endianness: 'little',
    write: (addr, data, size) => void msis.push({ addr: 0xfee00000 + addr, data: Number(data), size }),
    read: () => 0,
  });
  const host = new PciHost(mem, { memSpace: pci, ioSpace: io, dmaRoot: system });
  const ports = host.portRegions();
  mem.transaction(() => {
    system.addSubregion(0, mem.ram('pc.ram', 0x1000000));
    system.addSubregionOverlap(0, pci, -1);
    system.addSubregionOverlap(0xfee00000, apic, 4096);
    system.addSubregion(ECAM_BASE, host.ecamRegion());
    io.addSubregion(0xcf8, ports.index);
    io.addSubregion(0xcfc, ports.data);
  });
  const memory = mem.addressSpace('memory', system);
  const ioAs = mem.addressSpace('I/O', io);
  /** CF8/CFC config cycles the way a guest makes them. */
  const cfg = {
    read(bus: number, devfn: number, reg: number, len = 4): number {
      ioAs.write(0xcf8, (0x80000000 | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0, 4);
      return ioAs.read(0xcfc + (reg & 3), len);
    },
    write(bus: number, devfn: number, reg: number, value: number, len = 4): void {
      ioAs.write(0xcf8, (0x80000000 | (bus << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0, 4);
      ioAs.write(0xcfc + (reg & 3), value, len);
    },
  };
  return { mem, system, pci, io, host, memory, ioAs, msis, cfg };
}

export function device(mem: MemorySystem, name = 'testdev', extra: Partial<PciDeviceOptions> = {}): PciDevice {
  return new PciDevice({ mem, name, vendorId: 0x1af4, deviceId: 0x10f1, classCode: 0x020000, ...extra });
}
