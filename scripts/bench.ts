// vdm benchmarks: accesses against a direct call and the real v86, dispatch paths against three
// other designs, render and commit cost as the tree grows, guests booting with many NICs, and
// 1,500-byte device DMA through the IOMMU.
// Usage: npm run bench [-- --only dispatch,render,boot,dma --sizes 10,1000 --paths mmio,ram
//          --access-streams mmio-seq,nic-trace --strategies addressSpace,binary --seconds 0.1
//          --devices 1,16 --out bench-results]
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBenchArgs, USAGE } from './bench/options.ts';
import { Progress, line, markdown, fixed, thousands } from './bench/output.ts';
import { runDispatch, STRATEGIES, type DispatchRow } from './bench/dispatch.ts';
import { accessSteps, runAccess, type AccessRow, type Spread } from './bench/access.ts';
import { runRender, type RenderRow } from './bench/render.ts';
import { dispatchChart } from './bench/chart.ts';
import { runBootScale, type BootRow } from './bench/boot-scale.ts';
import { DMA_TARGET_NS, runDma, type DmaRow } from './bench/dma.ts';

let opts: ReturnType<typeof parseBenchArgs>;
try {
  opts = parseBenchArgs(process.argv.slice(2));
} catch (e) {
  console.error(`bench: ${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const progress = new Progress();
const d = opts.dispatch;
if (opts.phases.includes('access')) progress.plan(accessSteps(opts.access));
if (opts.phases.includes('dispatch')) progress.plan(d.sizes.length * d.paths.length * d.orders.length * d.ops.length);
if (opts.phases.includes('render')) progress.plan(opts.renderSizes.length);
if (opts.phases.includes('boot')) progress.plan(opts.bootMachines.length * opts.devices.length * 2);
if (opts.phases.includes('dma')) progress.plan(opts.dma.cases.length);
const started = performance.now();
/** Seconds each phase took, so a run that outgrows its budget says where. */
const phaseSeconds: Record<string, number> = {};
let phaseStarted = started;
function phaseDone(name: string): void {
  const now = performance.now();
  phaseSeconds[name] = (now - phaseStarted) / 1000;
  phaseStarted = now;
}
const md: string[] = [];
const result: Record<string, unknown> = { node: process.version, date: new Date().toISOString(), options: opts };
// A phase that fails (a child that crashed, answers that differ) ends the run with its message and
// exit status 1, and what the finished phases measured is kept in partial.json and partial.md.
process.on('uncaughtException', (e) => {
  progress.finish();
  const done = Object.keys(phaseSeconds);
  let kept = '';
  if (done.length > 0) {
    try {
      writeOut('partial.json', JSON.stringify({ ...result, phaseSeconds, error: e.message }, null, 2));
      writeOut('partial.md', md.join('\n'));
      kept = `\nwhat the finished phases (${done.join(', ')}) measured: ${opts.out}/partial.json, partial.md`;
    } catch (w) {
      kept = `\n(the finished phases could not be kept: ${(w as Error).message})`;
    }
  }
  console.error(`\nbench: ${e.message}${kept}`);
  process.exit(1);
});
// A partial result of an earlier run must not sit beside this run's.
for (const name of ['partial.json', 'partial.md']) rmSync(join(opts.out, name), { force: true });

const STRATEGY_LABEL: Record<(typeof STRATEGIES)[number], string> = {
  direct: 'direct call',
  addressSpace: 'AddressSpace',
  linear: 'linear scan',
  binary: 'binary search',
  block: 'block table + search',
};

if (opts.phases.includes('access')) {
  const a = opts.access;
  progress.print(
    `Access: ns per access (CPU time; median of ${a.procs * a.rounds} rounds of ${a.ms} ms, min-max; ` +
      `${a.procs} process${a.procs > 1 ? 'es' : ''} of ${a.rounds} rounds per size, stream, op and strategy), ` +
      `node ${process.version}`,
  );
  progress.print(
    'direct = the handler called with its offset, RAM as a bare Uint32Array; v86 = npm v86 ' +
      '(mmap_read32/mmap_write32 for MMIO, wasm read32s/write32 for RAM, mixed and nic-trace); op rw = the ' +
      "trace's loads and stores as recorded",
  );
  const flags =
    'flags: "noisy" = that strategy\'s rounds spread wider than ±20% of its median; "deopt" = V8 deoptimised ' +
    'or (re)optimised code during a timed round of that strategy even after such rounds were timed again ' +
    `(up to ${a.rounds} times per process), so its rounds did not all time the same code`;
  progress.print(flags);
  const header = ['regions', 'stream', 'op', 'direct', 'vdm', 'v86', 'vdm/direct', 'vdm/v86', 'flags'];
  const widths = [8, -10, -5, 18, 18, 18, 10, 8, -14];
  const fmt = (s: Spread | undefined) => (s ? `${fixed(s.median)} (${fixed(s.min)}-${fixed(s.max)})` : '-');
  const cells = (r: AccessRow) => [
    thousands(r.regions),
    r.stream,
    r.op,
    fmt(r.ns.direct),
    fmt(r.ns.vdm),
    fmt(r.ns.v86),
    fixed(r.vdmToDirect, 2),
    r.vdmToV86 === undefined ? '-' : fixed(r.vdmToV86, 2),
    [...r.noisy.map((s) => `${s} noisy`), ...r.deopt.map((s) => `${s} deopt`)].join(', '),
  ];
  progress.print(line(header, widths));
  const { rows, summaries } = runAccess(a, progress, (r) => progress.print(line(cells(r), widths)));
  result.access = { rows, summaries };
  phaseDone('access');
  for (const s of summaries)
    progress.print(
      `${thousands(s.regions)} regions: vdm heap ` +
        `${s.heapPerRegion === undefined ? '-' : fixed(s.heapPerRegion, 0)} bytes/region; a written 4 KiB RAM ` +
        `block ${s.ramBlock4k === undefined ? '-' : fixed(s.ramBlock4k, 0)} bytes`,
    );
  md.push(
    '#### Accesses: vdm against a direct call and v86 (ns per access, median of the rounds, min-max)',
    '',
    `${flags}.`,
    '',
    ...markdown(header, rows.map(cells)),
    '',
  );
  md.push(
    ...markdown(
      ['regions', 'vdm heap bytes per region', 'written 4 KiB RAM block, bytes', 'setup ms (direct / vdm / v86)'],
      summaries.map((s) => [
        thousands(s.regions),
        s.heapPerRegion === undefined ? '-' : fixed(s.heapPerRegion, 0),
        s.ramBlock4k === undefined ? '-' : fixed(s.ramBlock4k, 0),
        ['direct', 'vdm', 'v86']
          .map((k) => {
            const v = s.setupMs[k as keyof typeof s.setupMs];
            return v === undefined ? '-' : fixed(v, 0);
          })
          .join(' / '),
      ]),
    ),
    '',
  );
  const asDispatch = rows.map((r) => ({
    regions: r.regions,
    flatRanges: 0,
    path: r.stream,
    op: 'read',
    order: r.op,
    ns: { direct: r.ns.direct?.median, addressSpace: r.ns.vdm?.median, linear: r.ns.v86?.median },
    ratio: {},
  })) as unknown as DispatchRow[];
  writeOut(
    'access.svg',
    dispatchChart(
      asDispatch,
      [
        { key: 'direct', label: 'direct call / bare array' },
        { key: 'addressSpace', label: 'vdm AddressSpace' },
        { key: 'linear', label: 'v86 (npm)' },
      ],
      (stream, op) => `${stream} ${op}`,
    ),
  );
}

if (opts.phases.includes('dispatch')) {
  const strategies = STRATEGIES.filter((s) => s === 'direct' || d.strategies.includes(s));
  const widths = [8, -11, -5, -10, ...strategies.map(() => 18)];
  const cells = (r: DispatchRow) => [
    thousands(r.regions),
    r.path,
    r.op,
    r.order,
    ...strategies.map((s) => (s === 'direct' ? fixed(r.ns[s]!) : `${fixed(r.ns[s]!)} (${fixed(r.ratio[s]!, 2)}x)`)),
  ];
  progress.print(
    `Dispatch: ns per 4-byte access, (ratio to the direct call); ${d.seconds} s per strategy and row, node ` +
      `${process.version}`,
  );
  progress.print(line(['regions', 'path', 'op', 'stream', ...strategies.map((s) => STRATEGY_LABEL[s])], widths));
  const { rows, trees } = runDispatch(d, progress, (r) => progress.print(line(cells(r), widths)));
  result.dispatch = { rows, trees };
  phaseDone('dispatch');
  // For the README: every strategy on MMIO reads, then the AddressSpace on every path.
  const cell = (r: DispatchRow | undefined, s: (typeof strategies)[number]) =>
    !r?.ns[s] ? '-' : s === 'direct' ? fixed(r.ns[s]!) : `${fixed(r.ns[s]!)} (${fixed(r.ratio[s]!, 2)}x)`;
  const find = (regions: number, order: string, path: string, op: string) =>
    rows.find((r) => r.regions === regions && r.order === order && r.path === path && r.op === op);
  const groups = [...new Set(rows.map((r) => `${r.regions}/${r.order}`))]
    .map((g) => g.split('/'))
    .map(([n, o]) => [Number(n), o!] as const);
  if (d.paths.includes('mmio') && d.ops.includes('read')) {
    md.push('#### MMIO callback reads, every strategy: ns per access (ratio to the direct call)', '');
    md.push(
      ...markdown(
        ['regions', 'stream', ...strategies.map((s) => STRATEGY_LABEL[s])],
        groups.map(([n, o]) => [thousands(n), o, ...strategies.map((s) => cell(find(n, o, 'mmio', 'read'), s))]),
      ),
      '',
    );
  }
  for (const op of d.ops) {
    md.push(
      `#### ${op === 'read' ? 'Reads' : 'Writes'} through the AddressSpace, every path: ns per access (ratio ` +
        'to the direct call)',
      '',
    );
    md.push(
      ...markdown(
        ['regions', 'stream', ...d.paths],
        groups.map(([n, o]) => [thousands(n), o, ...d.paths.map((p) => cell(find(n, o, p, op), 'addressSpace'))]),
      ),
      '',
    );
  }
  md.push(
    ...markdown(
      ['regions', 'flat ranges', 'build + render + compile', 'block-table blocks used', 'of them mixed'],
      trees.map((t) => [
        thousands(t.regions),
        thousands(t.flatRanges),
        `${fixed(t.buildMs, 0)} ms`,
        t.usedBlocks,
        t.mixedBlocks,
      ]),
    ),
    '',
  );
  writeOut(
    'dispatch.svg',
    dispatchChart(
      rows,
      strategies.map((s) => ({ key: s, label: STRATEGY_LABEL[s] })),
    ),
  );
}

if (opts.phases.includes('render')) {
  progress.print(
    '\nRender and commit: median ms per change (commit = render + listener events; compile = dispatch table ' +
      'on the next access)',
  );
  progress.print(
    "mode 'full' renders every view from scratch (QEMU's way), 'incremental' patches; both on the same tree",
  );
  const header = [
    'regions',
    'flat ranges',
    'change',
    'mode',
    'commit ms',
    'compile ms',
    'total ms',
    'of first',
    'renders',
    'patches',
    'listener events',
  ];
  const widths = [8, 11, -12, -11, 10, 10, 10, 9, 7, 7, 15];
  const firstOf = new Map<number, number>();
  const cells = (r: RenderRow) => {
    if (r.change === 'firstRender') firstOf.set(r.regions, r.totalMs);
    const first = firstOf.get(r.regions);
    const share =
      r.change === 'build' || r.change === 'firstRender' || !first
        ? ''
        : `${fixed((100 * r.totalMs) / first, r.totalMs < first / 100 ? 2 : 0)}%`;
    return [
      thousands(r.regions),
      thousands(r.flatRanges),
      r.change,
      r.mode,
      fixed(r.commitMs, 3),
      fixed(r.compileMs, 2),
      fixed(r.totalMs, 2),
      share,
      r.renders,
      r.patches,
      thousands(r.listenerEvents),
    ];
  };
  progress.print(line(header, widths));
  const { rows, growth } = runRender(opts.renderSizes, progress, (r) => progress.print(line(cells(r), widths)));
  result.render = { rows, growth };
  phaseDone('render');
  const fit = growth
    .filter((g) => g.change !== 'build' && g.change !== 'firstRender')
    .map(
      (g) =>
        `${g.change} ${g.mode}: n^${fixed(g.exponent, 2)} (commit alone n^${fixed(g.commitExponent, 2)}; ` +
        `${fixed(g.msPerThousand, 3)} ms per 1 000 regions at the largest size)`,
    );
  progress.print(`growth:\n  ${fit.join('\n  ')}`);
  md.push(
    '### Render and commit (median ms per change; "of first" = total as a share of the first render + compile ' +
      'of that tree)',
    '',
    ...markdown(header, rows.map(cells)),
    '',
    'Growth (least-squares fit of ms against regions, log-log):',
    '',
    ...fit.map((f) => `- ${f}`),
    '',
  );
}

if (opts.phases.includes('boot')) {
  progress.print(
    '\nBoot scale: the nic guest (machines/guests/nic.json) driving each of N assigned NICs, one process per point',
  );
  progress.print(
    "mode 'full' renders every view from scratch on every commit (VDM_FULL_RENDER=1, QEMU's way); " +
      "'incremental' patches",
  );
  const header = [
    'machine',
    'NICs',
    'mode',
    'boot ms',
    'CPU ms',
    'commit ms',
    'renders',
    'full-render equiv.',
    'patches',
    'flat ranges',
    'peak RSS',
    'completions',
    'fast',
    'slow',
  ];
  const widths = [-8, 5, -11, 9, 9, 9, 8, 18, 8, 11, 10, 11, 10, 8];
  const cells = (r: BootRow): (string | number)[] =>
    r.error
      ? [r.machine, r.devices, r.mode, `does not boot: ${r.error}`]
      : [
          r.machine,
          r.devices,
          r.mode,
          fixed(r.wallMs!, 0),
          fixed(r.cpuMs!, 0),
          fixed(r.commitMs!, 0),
          thousands(r.renders!),
          thousands(r.fullRenderEquivalents!),
          thousands(r.patches!),
          thousands(r.flatRanges!),
          `${fixed(r.peakRssMiB!, 0)} MiB`,
          thousands(r.completions!),
          thousands(r.fastAccesses!),
          thousands(r.slowAccesses!),
        ];
  progress.print(line(header, widths));
  const rows = runBootScale(opts.bootMachines, opts.devices, progress, (r) => progress.print(line(cells(r), widths)));
  result.boot = rows;
  phaseDone('boot');
  md.push(
    '### Boot scale (one process per point)',
    '',
    ...markdown(header, rows.filter((r) => !r.error).map(cells)),
    '',
  );
  for (const r of rows.filter((x) => x.error))
    md.push(`- ${r.machine} with ${r.devices} NICs does not boot: ${r.error}`);
  md.push('');
}

if (opts.phases.includes('dma')) {
  progress.print(
    `\nDMA: ns per 1,500-byte device DMA through the IOMMU (CPU time; median of ${opts.dma.rounds} rounds, ` +
      `min-max), one process per case; target <= ${DMA_TARGET_NS} ns`,
  );
  progress.print(
    'set = a bare Uint8Array.set of the same 1,500 bytes of process memory; vdm = FunctionHardware.dmaReadInto / ' +
      'dmaWrite; before = the path before translateRun (per-4 KiB bigint translate, a linear mapping scan)',
  );
  const header = ['case', 'mappings', 'op', 'set', 'vdm', 'before', 'vdm/set', 'before/vdm', 'target', 'spread > ±20%'];
  const widths = [-12, 8, -5, 16, 16, 22, 7, 10, -6, -14];
  const fmt = (s: Spread) => `${fixed(s.median, 0)} (${fixed(s.min, 0)}-${fixed(s.max, 0)})`;
  const cells = (r: DmaRow) => [
    r.case,
    thousands(r.mappings),
    r.op,
    fmt(r.ns.set),
    fmt(r.ns.vdm),
    fmt(r.ns.before),
    fixed(r.vdmToSet, 2),
    fixed(r.beforeToVdm, 1),
    r.meetsTarget ? 'met' : 'MISSED',
    r.noisy.join(','),
  ];
  progress.print(line(header, widths));
  const rows = runDma(opts.dma, progress, (r) => progress.print(line(cells(r), widths)));
  result.dma = rows;
  phaseDone('dma');
  md.push(
    `#### DMA: ns per 1,500-byte DMA through the IOMMU (median, min-max; target <= ${DMA_TARGET_NS} ns)`,
    '',
    ...markdown(header, rows.map(cells)),
    '',
  );
}

progress.finish();
const seconds = (performance.now() - started) / 1000;
result.seconds = seconds;
result.phaseSeconds = phaseSeconds;
writeOut(`bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, JSON.stringify(result, null, 2));
writeOut('latest.json', JSON.stringify(result, null, 2));
writeOut('latest.md', md.join('\n'));
const svgs = [
  opts.phases.includes('access') ? ', access.svg' : '',
  opts.phases.includes('dispatch') ? ', dispatch.svg' : '',
].join('');
const phases = Object.entries(phaseSeconds)
  .map(([name, s]) => `${name} ${fixed(s, 0)} s`)
  .join(', ');
console.log(`\ndone in ${fixed(seconds, 0)} s (${phases}); results in ${opts.out}/ (latest.json, latest.md${svgs})`);

function writeOut(name: string, text: string): void {
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, name), text);
}
