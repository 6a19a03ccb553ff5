// One boot-scale point in a fresh process, so its peak memory is its own: a machine with `count`
// NICs copied from the machine's default host, every one assigned and driven by the guest.
// Prints one JSON line. Usage (bundled by boot-scale.ts): node boot-child.mjs MACHINE COUNT MACHINES_DIR/
import { readFileSync } from 'node:fs';
import { bootNicFarm, loadMachineFile, parseGuestFile } from '../../src/index.ts';

/**
 * Peak RSS of this process in MiB: VmHWM on Linux (reset by execve, unlike getrusage's maxrss,
 * which a spawned child inherits from its parent), else maxRSS.
 */
function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

const [machine, countText, root] = process.argv.slice(2) as [string, string, string];
const count = Number(countText);
const spec = loadMachineFile(`${root}${machine}.json`);
const template = JSON.parse(readFileSync(`${root}hosts/${spec.defaultHost}.json`, 'utf8'));
const guest = parseGuestFile(readFileSync(`${root}guests/nic.json`, 'utf8'), 'nic.json');
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const r = bootNicFarm(spec, template, guest, count);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const stats = r.machine.memorySystem.stats;
const a = r.report.accesses;
console.log(
  JSON.stringify({
    machine,
    devices: r.machine.devices.length,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    incremental: r.machine.memorySystem.incremental,
    renders: stats.renders,
    patches: stats.patches,
    fullRenderEquivalents: stats.fullRenderEquivalents,
    commitMs: stats.commitMs,
    flatRanges: r.machine.addressSpaceMemory.view.ranges.length,
    peakRssMiB: peakRssMiB(),
    rssBeforeMiB: rssBefore / 2 ** 20,
    heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    transmits: r.driver?.transmits ?? 0,
    completions: r.driver?.completions ?? 0,
    interrupts: r.report.interruptsDelivered,
    fastAccesses: a.fast.ram + a.fast.mmap,
    slowAccesses: a.slow.mmapExit + a.slow.msixOverlay + a.slow.trappedToKernel + a.slow.config,
    warnings: r.report.warnings.length,
  }),
);
