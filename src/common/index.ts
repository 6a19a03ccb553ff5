export * from './pci-regs.ts';
export * from './vfio-uapi.ts';
export * from './eventfd.ts';
export * from './ram-block.ts';
export * from './nic-datasheet.ts';
export * from './papr.ts';
