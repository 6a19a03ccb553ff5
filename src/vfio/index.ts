export * from './msix-layout.ts';
export * from './container.ts';
export * from './vfio-pci.ts';
