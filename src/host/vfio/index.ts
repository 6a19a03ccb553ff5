export * from './uapi.ts';
export * from './eventfd.ts';
export * from './type1.ts';
export * from './physical.ts';
export * from './device.ts';
export * from './kernel-vfio.ts';
export * from './intx.ts';
