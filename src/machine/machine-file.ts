import { FileError, Reader, describe, parseJson, readInputFile } from '../util/json-reader.ts';
import type { IntxRouterKind } from './intx-routing.ts';

/** A malformed machine file: names the file, the field path and what was expected. */
export class MachineFileError extends FileError {
  override name = 'MachineFileError';
}

export type MachineArch = 'x86_64' | 'aarch64' | 'ppc64' | 'e500';
export type ConfigMechanism = 'cf8' | 'ecam' | 'rtas';
export type InterruptControllerKind = 'lapic' | 'gicv3-its' | 'gicv2m' | 'xics' | 'xive' | 'mpic';
export type MachineIommu = 'type1' | 'spapr-tce' | 'fsl-pamu';

export interface Window {
  base: bigint;
  size: bigint;
}

/** Per-path costs of the boot report's time estimate, in nanoseconds per access. */
export interface AccessCosts {
  ram: number;
  mmap: number;
  vmmTrap: number;
  kernelTrap: number;
  interrupt: number;
}

/** A machine type (machines/*.json): everything that differs between pc, q35, virt, pseries, ppce500. */
export interface MachineSpec {
  file: string;
  name: string;
  description: string;
  arch: MachineArch;
  /** The host page size this machine type normally runs on (a mismatch is a warning, not an error). */
  hostPageSize: number;
  /** The host file `vdm boot` uses when none is given (a name in machines/hosts/ or a path). */
  defaultHost: string | null;
  ram: { name: string; base: bigint; size: bigint }[];
  pci: {
    host: string;
    config: ConfigMechanism;
    /** cf8 on a non-x86 machine: the MMIO address of CONFIG_ADDRESS (CONFIG_DATA follows at +4). */
    configAddress: bigint | null;
    ecam: Window | null;
    mmio32: Window;
    mmio64: Window | null;
    io: Window | null;
    express: boolean;
    /** The slot the first assigned device gets. */
    firstSlot: number;
  };
  interrupts: {
    controller: InterruptControllerKind;
    /** The MMIO range MSI writes land in (LAPIC window, ITS frame, GICv2m frame, MSI window, MSIIR page). */
    doorbell: Window;
    /** First interrupt number MSIs are allocated from (SPI base, LPI base, XICS/XIVE IRQ base, MSIR base). */
    msiBase: number;
    /**
     * How root-bus INTx pins are wired: PIIX3 PIRQ links, ICH9 PIRQ[E-H] to GSIs 16-23, or a swizzle onto
     * four lines from `base`.
     */
    intx: { router: IntxRouterKind; base: number };
  };
  iommu: MachineIommu;
  /** false = QEMU's vfio-no-msix-emulation machine property (pseries). */
  msixEmulation: boolean;
  spapr: { dma32WindowSize: bigint; pageShift: number; dma64WindowAddr: bigint } | null;
  pamu: { windows: number; msiBankIova: bigint } | null;
  costs: AccessCosts;
}

const ARCHES: MachineArch[] = ['x86_64', 'aarch64', 'ppc64', 'e500'];
const CONFIGS: ConfigMechanism[] = ['cf8', 'ecam', 'rtas'];
const CONTROLLERS: InterruptControllerKind[] = ['lapic', 'gicv3-its', 'gicv2m', 'xics', 'xive', 'mpic'];
const IOMMUS: MachineIommu[] = ['type1', 'spapr-tce', 'fsl-pamu'];

const KIB4 = 0x1000n;
const MIB = 0x100000n;
/** The largest RAM range vdm models (RAM blocks are allocated as the guest touches them, but are bounded). */
export const MAX_RAM_RANGE = 1n << 40n;

/** A {base, size} window, page aligned (or `align`), that does not wrap past 2^64. */
function window(r: Reader, align = KIB4): Window {
  r.onlyKeys(['base', 'size']);
  const w = { base: r.at('base').big(), size: r.at('size').big() };
  if (w.size === 0n) r.at('size').fail('expected a non-zero size');
  if (w.base % align) r.at('base').fail(`expected a multiple of 0x${align.toString(16)}, got 0x${w.base.toString(16)}`);
  if (w.size % align) r.at('size').fail(`expected a multiple of 0x${align.toString(16)}, got 0x${w.size.toString(16)}`);
  if (w.base + w.size > 1n << 64n)
    r.at('size').fail(
      `0x${w.base.toString(16)}+0x${w.size.toString(16)} runs past the end of the 64-bit address space`,
    );
  return w;
}

/**
 * The interrupt numbers an MSI can name on each controller, so msiBase leaves the guest vectors:
 * LAPIC vectors 16-255 (0-15 are reserved, Intel SDM vol. 3 10.5.2), GICv2m's 64 SPIs inside
 * INTIDs 32-1019, ITS LPIs from 8192, and a 24-bit source number elsewhere.
 */
const MSI_BASE_RANGE: Record<InterruptControllerKind, [number, number]> = {
  lapic: [16, 255],
  gicv2m: [32, 1020 - 64],
  'gicv3-its': [8192, (1 << 24) - 65536],
  xics: [0, (1 << 24) - 65536],
  xive: [0, (1 << 24) - 65536],
  mpic: [0, (1 << 24) - 256],
};

/**
 * Nothing the machine maps at a CPU address may overlap anything else: RAM, PCI windows, ECAM, config ports,
 * the MSI doorbell.
 */
function checkLayout(r: Reader, spec: Pick<MachineSpec, 'arch' | 'ram' | 'pci' | 'interrupts'>): void {
  const p = spec.pci;
  const placed: { field: string; base: bigint; size: bigint }[] = [];
  spec.ram.forEach((x, i) => placed.push({ field: `ram[${i}]`, ...x }));
  placed.push({ field: 'pci.mmio32', ...p.mmio32 });
  if (p.mmio64) placed.push({ field: 'pci.mmio64', ...p.mmio64 });
  if (p.ecam) placed.push({ field: 'pci.ecam', ...p.ecam });
  if (p.io && spec.arch !== 'x86_64') placed.push({ field: 'pci.io', ...p.io }); // x86: the I/O window is in port space
  if (p.configAddress !== null) placed.push({ field: 'pci.configAddress', base: p.configAddress, size: 8n });
  placed.push({ field: 'interrupts.doorbell', ...spec.interrupts.doorbell });
  placed.forEach((a, i) => {
    const b = placed.slice(0, i).find((o) => a.base < o.base + o.size && o.base < a.base + a.size);
    if (b)
      fieldReader(r, a.field).fail(
        `0x${a.base.toString(16)}+0x${a.size.toString(16)} overlaps ${b.field} ` +
          `(0x${b.base.toString(16)}+0x${b.size.toString(16)})`,
      );
  });
  if (spec.arch === 'x86_64' && p.io && p.io.base + p.io.size > 0x10000n)
    fieldReader(r, 'pci.io').fail('expected a range inside the 64 KiB x86 I/O port space');
}

/** An address aligned to `align` bytes. */
function aligned(r: Reader, align: bigint): bigint {
  const v = r.big();
  if (v % align) r.fail(`expected a multiple of ${align}, got 0x${v.toString(16)}`);
  return v;
}

/** The reader of a dotted field path like "pci.mmio32" or "ram[1]". */
function fieldReader(r: Reader, field: string): Reader {
  return field.split('.').reduce((at, k) => {
    const m = /^(\w+)\[(\d+)\]$/.exec(k);
    return m ? at.at(m[1]!).array()[Number(m[2])]! : at.at(k);
  }, r);
}

function ns(r: Reader): number {
  const v = r.value;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    r.fail(`expected a non-negative number of nanoseconds, got ${typeof v === 'number' ? v : describe(v)}`);
  return v as number;
}

/** Parses and validates a machine description; every error names the file and the field path. */
export function parseMachineFile(text: string, file = '<machine>'): MachineSpec {
  const r = new Reader(file, parseJson(text, file, MachineFileError), '', MachineFileError);
  r.onlyKeys([
    'name',
    'description',
    'arch',
    'hostPageSize',
    'defaultHost',
    'ram',
    'pci',
    'interrupts',
    'iommu',
    'msixEmulation',
    'spapr',
    'pamu',
    'costs',
  ]);
  const arch = r.at('arch').oneOf(ARCHES);
  const hostPageSize = r.at('hostPageSize').int(4096, 65536);
  if (hostPageSize !== 4096 && hostPageSize !== 65536)
    r.at('hostPageSize').fail(`expected 4096 or 65536, got ${hostPageSize}`);
  const ram = r
    .at('ram')
    .array()
    .map((x) => {
      x.onlyKeys(['name', 'base', 'size']);
      const size = x.at('size').big();
      if (size === 0n || size % KIB4) x.at('size').fail('expected a non-zero multiple of 4 KiB');
      if (size > MAX_RAM_RANGE)
        x.at('size').fail(
          `vdm models RAM ranges up to 1 TiB (0x${MAX_RAM_RANGE.toString(16)}), got 0x${size.toString(16)}`,
        );
      const base = x.at('base').big();
      if (base % KIB4) x.at('base').fail(`expected a multiple of 4 KiB, got 0x${base.toString(16)}`);
      if (base + size > 1n << 64n)
        x.at('size').fail(
          `0x${base.toString(16)}+0x${size.toString(16)} runs past the end of the 64-bit address space`,
        );
      return { name: x.at('name').string(), base, size };
    });
  if (!ram.length) r.at('ram').fail('expected at least one RAM range');
  const p = r.at('pci');
  p.onlyKeys(['host', 'config', 'configAddress', 'ecam', 'mmio32', 'mmio64', 'io', 'express', 'firstSlot']);
  const config = p.at('config').oneOf(CONFIGS);
  const pci = {
    host: p.at('host').string(),
    config,
    configAddress: p.has('configAddress') ? aligned(p.at('configAddress'), 4n) : null,
    ecam: p.has('ecam') ? window(p.at('ecam'), MIB) : null, // one bus is 1 MiB of ECAM
    mmio32: window(p.at('mmio32')),
    mmio64: p.has('mmio64') ? window(p.at('mmio64')) : null,
    io: p.has('io') ? window(p.at('io')) : null,
    express: p.has('express') ? p.at('express').bool() : false,
    firstSlot: p.has('firstSlot') ? p.at('firstSlot').int(0, 31) : 1,
  };
  if (config === 'cf8' && arch !== 'x86_64' && pci.configAddress === null)
    p.at('configAddress').fail(
      'expected the MMIO address of CONFIG_ADDRESS (config "cf8" outside x86 has no I/O ports)',
    );
  if (config === 'ecam' && !pci.ecam) p.at('ecam').fail('expected the ECAM window {base, size} for config "ecam"');
  const i = r.at('interrupts');
  i.onlyKeys(['controller', 'doorbell', 'msiBase', 'intx']);
  const x = i.at('intx');
  x.onlyKeys(['router', 'base']);
  const router = x.at('router').oneOf(['piix3', 'ich9', 'swizzle'] as const);
  if (router === 'swizzle' && !x.has('base'))
    x.at('base').fail('expected the first of the four interrupt numbers the swizzle routes to');
  const intx = { router, base: x.has('base') ? x.at('base').int(0, 1 << 24) : 0 };
  const controller = i.at('controller').oneOf(CONTROLLERS);
  const [lo, hi] = MSI_BASE_RANGE[controller];
  const msiBase = i.at('msiBase').int(0, 1 << 24);
  if (msiBase < lo || msiBase > hi)
    i.at('msiBase').fail(
      `expected ${lo} to ${hi} for a ${controller} (the interrupt numbers its MSIs can name), got ${msiBase}`,
    );
  const interrupts = { controller, doorbell: window(i.at('doorbell')), msiBase, intx };
  checkLayout(r, { arch, ram, pci, interrupts });
  const iommu = r.at('iommu').oneOf(IOMMUS);
  let spapr: MachineSpec['spapr'] = null;
  if (r.has('spapr')) {
    const s = r.at('spapr');
    s.onlyKeys(['dma32WindowSize', 'pageShift', 'dma64WindowAddr']);
    spapr = {
      dma32WindowSize: s.at('dma32WindowSize').pow2(0x1000n),
      pageShift: s.at('pageShift').int(12, 24),
      dma64WindowAddr: s.at('dma64WindowAddr').big(),
    };
  } else if (iommu === 'spapr-tce')
    r.at('spapr').fail(
      'expected the guest DMA window facts {dma32WindowSize, pageShift, dma64WindowAddr} for an spapr-tce machine',
    );
  let pamu: MachineSpec['pamu'] = null;
  if (r.has('pamu')) {
    const s = r.at('pamu');
    s.onlyKeys(['windows', 'msiBankIova']);
    pamu = { windows: Number(s.at('windows').pow2(1n)), msiBankIova: s.at('msiBankIova').big() };
  } else if (iommu === 'fsl-pamu') r.at('pamu').fail('expected {windows, msiBankIova} for an fsl-pamu machine');
  const c = r.at('costs');
  c.onlyKeys(['ram', 'mmap', 'vmmTrap', 'kernelTrap', 'interrupt']);
  const costs = {
    ram: ns(c.at('ram')),
    mmap: ns(c.at('mmap')),
    vmmTrap: ns(c.at('vmmTrap')),
    kernelTrap: ns(c.at('kernelTrap')),
    interrupt: ns(c.at('interrupt')),
  };
  return {
    file,
    name: r.at('name').string(),
    description: r.has('description') ? r.at('description').string() : '',
    arch,
    hostPageSize,
    defaultHost: r.has('defaultHost') ? r.at('defaultHost').string() : null,
    ram,
    pci,
    interrupts,
    iommu,
    msixEmulation: r.at('msixEmulation').bool(),
    spapr,
    pamu,
    costs,
  };
}

/** Reads a machine file from disk; `display` is the name errors and reports show (default: the path). */
export function loadMachineFile(path: string, display = path) {
  return parseMachineFile(readInputFile(path, 'machine file', MachineFileError, undefined, display), display);
}
