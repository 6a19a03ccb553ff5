// Boot scale: guests booting with 1 to 256 assigned NICs, each point in its own process (wall
// time of the boot, topology renders, peak RSS). A point that a machine's root bus or interrupt
// controller cannot hold is reported as such, with the machine's own error.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundleChild } from './bundle.ts';
import type { Progress } from './output.ts';

export interface BootRow {
  machine: string;
  devices: number;
  /** 'incremental' (the default) or 'full' (VDM_FULL_RENDER=1: every commit renders from scratch). */
  mode: 'full' | 'incremental';
  wallMs?: number;
  /** CPU time of the boot (user + system), steadier than wall time on a shared machine. */
  cpuMs?: number;
  renders?: number;
  patches?: number;
  fullRenderEquivalents?: number;
  /** Wall time spent in topology commits. */
  commitMs?: number;
  flatRanges?: number;
  peakRssMiB?: number;
  rssBeforeMiB?: number;
  transmits?: number;
  completions?: number;
  interrupts?: number;
  fastAccesses?: number;
  slowAccesses?: number;
  /** Why the point could not boot (the machine's error), when it could not. */
  error?: string;
}

const MACHINES = fileURLToPath(new URL('../../machines/', import.meta.url));

export function runBootScale(
  machines: string[],
  counts: number[],
  progress: Progress,
  onRow: (row: BootRow) => void,
): BootRow[] {
  // Bundled, as dist/ ships it: under tsx, compiling the sources took most of a small boot's second.
  const child = bundleChild('boot-child');
  const rows: BootRow[] = [];
  for (const machine of machines)
    for (const devices of counts)
      for (const mode of ['full', 'incremental'] as const) {
        progress.step(`boot: ${machine} with ${devices} NIC${devices > 1 ? 's' : ''}, ${mode} render`);
        const env = { ...process.env, VDM_FULL_RENDER: mode === 'full' ? '1' : '0' };
        const r = spawnSync(process.execPath, [child, machine, String(devices), MACHINES], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
          env,
        });
        const last = r.stdout.trim().split('\n').pop() ?? '';
        let row: BootRow;
        if (r.status === 0 && last.startsWith('{')) row = { ...(JSON.parse(last) as BootRow), mode };
        else {
          const message =
            /Error: ([^\n]+)/.exec(r.stderr)?.[1] ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`);
          row = { machine, devices, mode, error: message };
        }
        rows.push(row);
        onRow(row);
      }
  return rows;
}
