import type { FunctionSpec } from '../host-file.ts';
import * as P from '../../common/pci-regs.ts';

/** Where each capability of a physical config space sits. */
export interface CapabilityLayout {
  id: number;
  offset: number;
  length: number;
}

/**
 * The COMMAND bits a host function implements (read-write): decode, bus master, parity error
 * response, SERR# enable and INTx disable, the read-write set of a PCI Express function (PCIe base
 * spec, Command register: special cycles, MWI, VGA palette snoop, IDSEL stepping and fast
 * back-to-back are hardwired to 0). A write keeps these bits of the value; the others read 0.
 */
export const COMMAND_IMPLEMENTED =
  P.PCI_COMMAND_IO |
  P.PCI_COMMAND_MEMORY |
  P.PCI_COMMAND_MASTER |
  P.PCI_COMMAND_PARITY |
  P.PCI_COMMAND_SERR |
  P.PCI_COMMAND_INTX_DISABLE;

/** A host function's real config space and where its capabilities are. */
export interface PhysicalConfig {
  bytes: Uint8Array;
  caps: CapabilityLayout[];
  /** Host physical address of each BAR (what the host firmware assigned; never shown to a user). */
  barAddresses: Map<number, bigint>;
}

const PM_LEN = 8;
const MSIX_LEN = 12;
const EXP_LEN = 0x3c;

function msiLength(spec: NonNullable<FunctionSpec['msi']>): number {
  return (spec.is64 ? 14 : 10) + (spec.perVectorMask ? 10 : 0);
}

/**
 * Builds the config space the host function really has, from its host-file description: header,
 * BARs at host addresses, and a capability list (PM, MSI, MSI-X, PCI Express) with the MSI-X
 * table/PBA BIR and offsets. Memory and I/O decode are on, as vfio-pci's enable leaves them;
 * bus mastering is off until the user sets it.
 */
export function buildPhysicalConfig(spec: FunctionSpec): PhysicalConfig {
  const legacy = spec.type === 'legacy-endpoint';
  const bytes = new Uint8Array(legacy ? 256 : 4096);
  const view = new DataView(bytes.buffer);
  view.setUint16(P.PCI_VENDOR_ID, spec.vendor, true);
  view.setUint16(P.PCI_DEVICE_ID, spec.device, true);
  view.setUint16(P.PCI_COMMAND, P.PCI_COMMAND_MEMORY | P.PCI_COMMAND_IO, true);
  view.setUint16(P.PCI_STATUS, P.PCI_STATUS_CAP_LIST, true);
  bytes[P.PCI_REVISION_ID] = 1;
  bytes[P.PCI_CLASS_PROG] = spec.classCode & 0xff;
  view.setUint16(P.PCI_CLASS_DEVICE, spec.classCode >> 8, true);
  bytes[P.PCI_HEADER_TYPE] = spec.multifunction ? P.PCI_HEADER_TYPE_MULTI_FUNCTION : 0;
  view.setUint16(P.PCI_SUBSYSTEM_VENDOR_ID, spec.vendor, true);
  view.setUint16(P.PCI_SUBSYSTEM_ID, spec.device, true);
  bytes[P.PCI_INTERRUPT_PIN] = spec.intxPin;

  const barAddresses = new Map<number, bigint>();
  let mem32 = 0xe0000000n + (BigInt(spec.bus) << 22n);
  let mem64 = 0x4000000000n + (BigInt(spec.bus) << 32n);
  let io = 0x1000n + (BigInt(spec.bus) << 8n);
  for (const b of spec.bars) {
    const align = (x: bigint) => (x + b.size - 1n) & ~(b.size - 1n);
    let addr: bigint;
    if (b.kind === 'io') [addr, io] = [align(io), align(io) + b.size];
    else if (b.kind === 'mem64') [addr, mem64] = [align(mem64), align(mem64) + b.size];
    else [addr, mem32] = [align(mem32), align(mem32) + b.size];
    barAddresses.set(b.index, addr);
    const at = P.PCI_BASE_ADDRESS_0 + b.index * 4;
    const flags =
      b.kind === 'io'
        ? P.PCI_BASE_ADDRESS_SPACE_IO
        : (b.kind === 'mem64' ? P.PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
          (b.prefetchable ? P.PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    view.setUint32(at, Number(addr & 0xffffffffn) | flags, true);
    if (b.kind === 'mem64') view.setUint32(at + 4, Number(addr >> 32n), true);
  }
  if (spec.romSize) view.setUint32(P.PCI_ROM_ADDRESS, Number(0xfe000000n & ~(spec.romSize - 1n)), true);

  const caps: CapabilityLayout[] = [{ id: P.PCI_CAP_ID_PM, offset: 0x40, length: PM_LEN }];
  if (spec.msi) caps.push({ id: P.PCI_CAP_ID_MSI, offset: 0x50, length: msiLength(spec.msi) });
  if (spec.msix) caps.push({ id: P.PCI_CAP_ID_MSIX, offset: 0x70, length: MSIX_LEN });
  if (!legacy) caps.push({ id: P.PCI_CAP_ID_EXP, offset: 0x80, length: EXP_LEN });
  bytes[P.PCI_CAPABILITY_LIST] = caps[0]!.offset;
  caps.forEach((c, i) => {
    bytes[c.offset] = c.id;
    bytes[c.offset + 1] = caps[i + 1]?.offset ?? 0;
  });
  view.setUint16(0x40 + 2, 0x0003, true); // PMC: version 3
  if (spec.msi) {
    const qmask = Math.log2(spec.msi.vectors) << 1;
    view.setUint16(
      0x50 + P.PCI_MSI_FLAGS,
      qmask | (spec.msi.is64 ? P.PCI_MSI_FLAGS_64BIT : 0) | (spec.msi.perVectorMask ? P.PCI_MSI_FLAGS_MASKBIT : 0),
      true,
    );
  }
  if (spec.msix) {
    view.setUint16(0x70 + P.PCI_MSIX_FLAGS, spec.msix.entries - 1, true);
    view.setUint32(0x70 + 4, (spec.msix.table.offset + spec.msix.table.bar) >>> 0, true);
    view.setUint32(0x70 + 8, (spec.msix.pba.offset + spec.msix.pba.bar) >>> 0, true);
  }
  if (!legacy) view.setUint16(0x80 + 2, 0x0002, true); // PCIe capability version 2, device type 0 (endpoint)
  return { bytes, caps, barAddresses };
}
