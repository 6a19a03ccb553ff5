export * from './common/index.ts';
export * from './memory/index.ts';
export * from './pci/index.ts';
export * from './host/index.ts';
export * from './vfio/index.ts';
export * from './machine/index.ts';
export * from './guest/index.ts';
export * from './util/errors.ts';
