import type { PciDevice } from './pci-device.ts';

/** An MSI message: a 4-byte write of `data` at `address` (QEMU's MSIMessage). */
export interface MsiMessage {
  address: bigint;
  data: number;
}

/**
 * msi_send_message → pci_msi_trigger: one 4-byte little-endian store in the device's bus-master
 * address space, so it reaches whatever the machine put there (an APIC, ITS or MSI bank region)
 * only while bus mastering is enabled. Returns the MemTxResult.
 */
export function sendMsiMessage(dev: PciDevice, msg: MsiMessage): number {
  const as = dev.busMasterAs;
  if (!as) return 2; // not on a bus yet: nothing decodes the write
  dev.msiMessagesSent++;
  return msg.address < 2n ** 53n
    ? as.write(Number(msg.address), msg.data >>> 0, 4)
    : as.writeAt(msg.address, BigInt(msg.data >>> 0), 4);
}
