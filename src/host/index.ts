export * from './errors.ts';
export * from './host-file.ts';
export * from './iommu-groups.ts';
export * from './sim-host.ts';
export * from './kernel/index.ts';
export * from './user-memory.ts';
export * from './devices/nic.ts';
export * from './nic-farm.ts';
