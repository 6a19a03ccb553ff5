// The words of the boot report, for someone who has not lived in VFIO and KVM (`vdm boot --explain-terms`).

/** Term and its meaning, in the order a reader meets them in the report. */
export const GLOSSARY: [string, string][] = [
  [
    'vfio-pci',
    "QEMU's device model that hands a real host PCI device to the guest through the kernel's VFIO API (hw/vfio/pci.c).",
  ],
  ['IOMMU group', 'the smallest set of host devices the IOMMU can isolate from each other; VFIO assigns whole groups.'],
  [
    'container',
    "a VFIO container: one IOMMU address space the VMM fills with the guest's RAM so the device can DMA to it.",
  ],
  [
    'type1',
    'the x86/Arm VFIO IOMMU backend (VFIO_TYPE1v2_IOMMU, "TYPE1v2"): the VMM maps guest RAM at its ' +
      'guest-physical addresses. sPAPR (POWER) and PAMU (e500) are the other backends.',
  ],
  [
    'BAR',
    "Base Address Register: a window of device registers or memory the guest's firmware places in its " +
      'physical address space.',
  ],
  [
    'mmap / memslot',
    'the kernel lets the VMM mmap a BAR; KVM installs that mapping as a memslot, so guest accesses go ' +
      'straight to the device with no exit (the fast path).',
  ],
  [
    'trapped',
    'a BAR range that is not mmapped: every guest access exits to the VMM, which forwards it to the kernel ' +
      'with pread/pwrite on the device fd (the slowest path).',
  ],
  [
    'overlay',
    'a region the VMM lays over part of an mmapped BAR to emulate it, here the MSI-X table and PBA; accesses ' +
      'there exit to the VMM. KVM maps whole host pages, so the rest of a host page that holds an overlay ' +
      'exits too ("mmapped, exits (shared page)"); x-msix-relocation=barN moves the table out of the way.',
  ],
  [
    'MSI-X table',
    "the device's per-vector table of interrupt addresses and data; QEMU emulates it so it can route vectors " +
      'through KVM.',
  ],
  [
    'PBA',
    'Pending Bit Array: one bit per MSI-X vector, set when the vector fires while masked; delivered when the ' +
      'guest unmasks it.',
  ],
  [
    'irqfd',
    'a KVM eventfd: when the kernel signals it, KVM injects the interrupt into the guest without waking the ' +
      'VMM (the fast interrupt path). Masked vectors go to the VMM instead.',
  ],
  [
    'exit',
    "the guest stops and KVM or the VMM handles the access; the report's costs per path come from the " +
      'machine\'s "costs" (machines/NAME.json).',
  ],
  [
    'config cycles',
    'guest reads and writes of PCI configuration space (the 256 B/4 KiB header and capabilities); the VMM ' +
      'emulates or forwards each.',
  ],
  [
    'TCE',
    'Translation Control Entry: one entry of the POWER (sPAPR) IOMMU table; the pseries guest maps each DMA ' +
      'buffer with an H_PUT_TCE hypercall.',
  ],
  [
    'RTAS',
    'the POWER firmware call interface; pseries guests program MSI-X with ibm,change-msi instead of writing the table.',
  ],
];

/** The glossary as text, each meaning wrapped to `width` columns under its term's column. */
export function formatGlossary(width = 100): string {
  const w = Math.max(...GLOSSARY.map(([t]) => t.length)) + 2;
  const out: string[] = [];
  for (const [term, text] of GLOSSARY) {
    let line = term.padEnd(w);
    for (const word of text.split(' ')) {
      if (line.length + word.length > width && line.trim().length > term.length) {
        out.push(line.trimEnd());
        line = ' '.repeat(w);
      }
      line += `${word} `;
    }
    out.push(line.trimEnd());
  }
  return out.join('\n') + '\n';
}
