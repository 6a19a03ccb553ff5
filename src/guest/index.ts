export * from './guest-file.ts';
export * from './platform.ts';
export * from './firmware.ts';
export * from './nic-driver.ts';
export * from './run-guest.ts';
export * from './kernel.ts';
