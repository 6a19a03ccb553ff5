export * from './machine-file.ts';
export * from './interrupt-controller.ts';
export * from './rtas.ts';
export * from './machine.ts';
export * from './clock.ts';
export * from './intx-routing.ts';
export * from './access-path.ts';
