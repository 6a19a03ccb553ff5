// The RTL8168's BAR2 window registers, shared by its hardware model (src/host/devices/rtl8168.ts)
// and the vfio-pci quirk that traps them (src/vfio/quirks.ts), as described in QEMU's
// hw/vfio/pci-quirks.c (from Linux's r8169 driver).

/** BAR2 offsets of the window's data and address registers. */
export const RTL8168_WINDOW = { DATA: 0x70, ADDRESS: 0x74 } as const;
/** The BAR that holds the window. */
export const RTL8168_WINDOW_BAR = 2;
/** Address register bit 31: "write" when the driver sets it, "latched/complete" when the device answers. */
export const RTL8168_WINDOW_FLAG = 0x80000000;
/** Address register bits 16:30: the target; 0x1 is the MSI-X table. Bits 0:11: the offset in it. */
export const RTL8168_TARGET_MSIX = 0x1;
/** The smallest BAR 2 that holds the window registers. */
export const RTL8168_BAR2_MIN_SIZE = 0x100;
