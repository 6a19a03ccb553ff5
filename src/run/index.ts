export * from './platform.ts';
export * from './report.ts';
export * from './format-report.ts';
export * from './boot.ts';
export * from './verdict.ts';
export * from './glossary.ts';
export * from './host-checks.ts';
