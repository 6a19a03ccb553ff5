export * from './guest-file.ts';
export * from './platform.ts';
export * from './firmware.ts';
export * from './nic-driver.ts';
export * from './boot.ts';
export * from './report.ts';
export * from './kernel.ts';
export * from './verdict.ts';
