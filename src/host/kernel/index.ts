export * from '../../common/vfio-uapi.ts';
export * from '../../common/eventfd.ts';
export * from './type1.ts';
export * from '../devices/function-hardware.ts';
export * from './device.ts';
export * from './kernel-vfio.ts';
export * from './intx.ts';
