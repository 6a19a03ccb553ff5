// The synthetic NIC's datasheet: what both its hardware model (src/host/devices/nic.ts) and a guest
// driver (src/guest/nic-driver.ts) must agree on, as a real device's programming manual is shared
// by the silicon and the driver without either including the other.

/** BAR0 register map of the synthetic NIC. The doorbell sits in its own 4 KiB page. */
export const NIC_REGS = {
  CTRL: 0x000, // bit 0: reset
  STATUS: 0x008, // bit 0: link up (read-only)
  PACKETS: 0x010, // descriptors completed (read-only)
  ICR: 0x018, // interrupt cause, cleared by reading
  RING_LO: 0x100,
  RING_HI: 0x104,
  RING_LEN: 0x108, // entries
  RING_HEAD: 0x10c, // next descriptor the device will process (read-only)
  DOORBELL: 0x1000, // the driver writes the new tail here
} as const;

/** BAR0 must hold the registers and the doorbell's page. */
export const NIC_BAR0_MIN_SIZE = 0x2000;

/** Descriptor layout: u64 buffer IOVA, u32 length, u32 status (bit 0 = done). */
export const NIC_DESC_SIZE = 16;
export const NIC_DESC_DONE = 1;
export const NIC_ICR_TX_DONE = 1;
/**
 * The longest buffer one descriptor may name (a 64 KiB TSO frame). Longer descriptors are refused
 * without any DMA, as real NICs bound their descriptor length fields.
 */
export const NIC_MAX_BUFFER = 0x10000;
