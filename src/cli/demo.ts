import { MemorySystem, infoMtree, unassignedIoOps, U64_SPAN, type AddressSpace } from '../memory/index.ts';

export const DEMO_HELP = `usage: vdm demo

Builds a small PC-like memory map (RAM below 4 GiB through an alias, a PCI hole at priority -1,
a passthrough-style BAR: a trapped register region with an mmapped part and an MSI-X table overlay)
and drives a burst of guest accesses through it, then prints the flat view and which path each
access took. The full machine/guest boot arrives with the machine types.
`;

/** `vdm demo`: the memory core end to end on a hand-built map. */
export function demoCommand(): { out: string; err: string } {
  const mem = new MemorySystem();
  const system = mem.container('system', U64_SPAN);
  const ram = mem.ram('pc.ram', 0x10000000);
  const pci = mem.container('pci', U64_SPAN);
  const io = mem.io('io', 0x10000, unassignedIoOps);
  let doorbells = 0;
  mem.transaction(() => {
    system.addSubregion(0, mem.alias('ram-below-4g', ram, 0, 0x10000000));
    system.addSubregionOverlap(0, pci, -1);
    // A BAR laid out the way vfio-pci builds one: container, trapped region, mmapped part, MSI-X overlay.
    const bar = mem.container('0000:01:00.0 BAR 0', 0x4000);
    bar.addSubregion(0, mem.io('0000:01:00.0 BAR 0', 0x4000, { read: () => 0, write: () => void doorbells++ }));
    bar.addSubregionOverlap(0x1000, mem.ramDevice('0000:01:00.0 BAR 0 mmaps[0]', 0x3000), 0);
    bar.addSubregionOverlap(
      0,
      mem.io('msix-table', 0x30, {
        read: () => 1,
        write: () => {},
        valid: { minAccessSize: 4, maxAccessSize: 8 },
        impl: { maxAccessSize: 4 },
      }),
      1,
    );
    pci.addSubregionOverlap(0xfe000000, bar, 1);
  });
  const memory = mem.addressSpace('memory', system);
  const ioSpace = mem.addressSpace('I/O', io);
  memory.stats = ioSpace.stats = true; // the demo prints the access paths taken

  for (let i = 0; i < 1000; i++) {
    memory.write(0x100000 + i * 4, i, 4); // guest RAM
    memory.write(0xfe001000 + (i % 64) * 4, i, 4); // mmapped BAR page: no exit
    if (i % 100 === 0) memory.write(0xfe000040, i, 4); // trapped doorbell register
  }
  memory.read(0xfe000000, 4); // MSI-X vector 0, emulated
  memory.read(0xa0000000, 4); // nothing there
  ioSpace.read(0x80, 1); // unclaimed port

  const out = [
    infoMtree([memory, ioSpace], { flat: true }).split('FlatView #1')[0]!.trimEnd(),
    '',
    'Access paths',
    ...counters(memory),
    ...counters(ioSpace),
    `  doorbell writes seen by the device model: ${doorbells}`,
    '',
  ];
  return { out: out.join('\n'), err: '' };
}

function counters(as: AddressSpace): string[] {
  const c = as.counters;
  return [
    `  ${as.name.padEnd(7)} RAM ${c.ram}  RAM-device (mmapped) ${c.ramDevice}  MMIO (trapped) ${c.mmio}  ` +
      `unassigned ${c.unassigned}  invalid ${c.invalid}`,
  ];
}
