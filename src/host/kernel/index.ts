export * from './behaviour.ts';
export * from './type1.ts';
export * from './spapr-tce.ts';
export * from './pamu.ts';
export * from '../devices/function-hardware.ts';
export * from './device.ts';
export * from './kernel-vfio.ts';
export * from './intx.ts';
