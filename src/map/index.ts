export * from './map-model.ts';
export * from './map-json.ts';
export * from './axis.ts';
export * from './render-svg.ts';
export * from './map-page.ts';
