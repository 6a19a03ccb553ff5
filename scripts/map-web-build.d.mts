import type { BuildOptions } from 'esbuild';
/** esbuild options of the map's page script. */
export declare const mapWebOptions: BuildOptions;
