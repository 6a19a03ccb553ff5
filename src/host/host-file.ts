import { Reader, parseJson } from '../util/json-reader.ts';
import { NIC_BAR0_MIN_SIZE, NIC_REGS } from '../common/nic-datasheet.ts';
import { RTL8168_BAR2_MIN_SIZE, RTL8168_WINDOW, RTL8168_WINDOW_BAR } from '../common/rtl8168-datasheet.ts';
import { HostFileError } from './errors.ts';
import { kernelBehaviour } from './kernel/behaviour.ts';

export type Arch = 'x86_64' | 'aarch64' | 'ppc64' | 'e500';
export type IommuKind = 'intel-vtd' | 'amd-vi' | 'arm-smmu-v3' | 'arm-smmu-v2' | 'spapr-tce' | 'fsl-pamu' | 'none';
export type MsiControllerKind = 'x86-ir' | 'x86-noir' | 'gicv3-its' | 'gicv2m' | 'xics' | 'xive' | 'mpic-msi';
export type ReservedType = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';
/** The role a function plays in the topology; decides DMA aliasing and how ACS counts. */
export type FunctionType =
  | 'root-port'
  | 'switch-upstream'
  | 'switch-downstream'
  | 'pcie-to-pci-bridge'
  | 'pci-bridge'
  | 'endpoint'
  | 'rc-endpoint'
  | 'legacy-endpoint';
export type AcsFlag = 'SV' | 'TB' | 'RR' | 'CR' | 'UF' | 'EC' | 'DT';

export interface BarSpec {
  index: number;
  size: bigint;
  kind: 'mem32' | 'mem64' | 'io';
  prefetchable: boolean;
}

/**
 * An expansion ROM: "rom": "0x10000" is a valid image for the function; the object form can break
 * it: another signature, a PCIR naming other ids, an image shorter than the BAR.
 */
export interface RomSpec {
  size: bigint;
  imageSize: bigint;
  signature: number;
  vendor: number;
  device: number;
}

export interface MsixSpec {
  entries: number;
  table: { bar: number; offset: number };
  pba: { bar: number; offset: number };
}

export interface MsiSpec {
  vectors: number;
  is64: boolean;
  perVectorMask: boolean;
}

/** One PCI function of the host. */
export interface FunctionSpec {
  /** Where the function is described: its field path in the host file ("pci[0].children[1]"). */
  path: string;
  address: string;
  domain: number;
  bus: number;
  slot: number;
  fn: number;
  type: FunctionType;
  vendor: number;
  device: number;
  classCode: number;
  driver: string | null;
  multifunction: boolean;
  /** ACS capability bits and control bits, or null when the function has no ACS capability. */
  acs: { cap: AcsFlag[]; ctrl: AcsFlag[] } | null;
  bars: BarSpec[];
  romSize: bigint;
  /** The expansion ROM's image (its size is romSize), or null without a ROM. */
  rom: RomSpec | null;
  msix: MsixSpec | null;
  msi: MsiSpec | null;
  intxPin: number;
  /**
   * PCI 2.3 INTx masking (COMMAND.INTX_DISABLE and STATUS.INTERRUPT work): the kernel masks at the
   * device and can share the line; without it it disables the whole host line, exclusively.
   */
  intxMasking: boolean;
  /** The host IRQ the pin is wired to (pdev->irq); functions on one line share it. */
  intxLine: number;
  /** Reserved IOVA ranges of this device (an RMRR or IORT RMR), on top of the IOMMU's own. */
  reserved: ReservedRegion[];
  /** Physical behaviour model in src/host/devices (e.g. "nic"), or null for a passive function. */
  model: string | null;
  children: FunctionSpec[];
  /** Secondary bus of a bridge. */
  secondaryBus: number | null;
}

export interface ReservedRegion {
  start: bigint;
  end: bigint;
  type: ReservedType;
}

export interface HostSpec {
  file: string;
  name: string;
  description: string;
  arch: Arch;
  pageSize: number;
  kernel: string;
  iommu: {
    kind: IommuKind;
    pageSizes: bigint[];
    aperture: { start: bigint; end: bigint };
    reserved: ReservedRegion[];
    dmaEntryLimit: number;
    spapr: {
      dma32WindowSize: bigint;
      pageSizes: bigint[];
      maxWindows: number;
      levels: number;
      ddwStart: bigint;
      ownershipOps: boolean;
    } | null;
    pamu: { apertureSize: bigint; maxSubwindows: number } | null;
  };
  msi: { controller: MsiControllerKind; doorbell: bigint; banks: number };
  allowUnsafeInterrupts: boolean;
  eeh: boolean;
  functions: FunctionSpec[];
}

const ARCHES: Arch[] = ['x86_64', 'aarch64', 'ppc64', 'e500'];
const IOMMUS: IommuKind[] = ['intel-vtd', 'amd-vi', 'arm-smmu-v3', 'arm-smmu-v2', 'spapr-tce', 'fsl-pamu', 'none'];
const MSIS: MsiControllerKind[] = ['x86-ir', 'x86-noir', 'gicv3-its', 'gicv2m', 'xics', 'xive', 'mpic-msi'];
const RESERVED: ReservedType[] = ['direct', 'direct-relaxable', 'reserved', 'msi', 'sw-msi'];
const TYPES: FunctionType[] = [
  'root-port',
  'switch-upstream',
  'switch-downstream',
  'pcie-to-pci-bridge',
  'pci-bridge',
  'endpoint',
  'rc-endpoint',
  'legacy-endpoint',
];
const BRIDGES: FunctionType[] = [
  'root-port',
  'switch-upstream',
  'switch-downstream',
  'pcie-to-pci-bridge',
  'pci-bridge',
];
const ACS: AcsFlag[] = ['SV', 'TB', 'RR', 'CR', 'UF', 'EC', 'DT'];

/** True for functions with a type 1 header (they forward to a secondary bus). */
export function isBridge(t: FunctionType): boolean {
  return BRIDGES.includes(t);
}

/** Parses and validates a host description; every error names the file and field path. */
export function parseHostFile(text: string, file = '<host>'): HostSpec {
  const json = parseJson(text, file, HostFileError);
  const r = new Reader(file, json, '', HostFileError);
  r.onlyKeys([
    'name',
    'description',
    'arch',
    'pageSize',
    'kernel',
    'iommu',
    'msi',
    'allowUnsafeInterrupts',
    'eeh',
    'pci',
  ]);
  const arch = r.at('arch').oneOf(ARCHES);
  const pageSize = r.at('pageSize').int(4096, 65536);
  if (pageSize !== 4096 && pageSize !== 65536) r.at('pageSize').fail(`expected 4096 or 65536, got ${pageSize}`);
  const kernel = r.at('kernel').string();
  try {
    kernelBehaviour(kernel);
  } catch {
    r.at('kernel').fail(`expected a kernel version like "6.8", got "${kernel}"`);
  }
  const spec: HostSpec = {
    file,
    name: r.at('name').string(),
    description: r.has('description') ? r.at('description').string() : '',
    arch,
    pageSize,
    kernel,
    iommu: readIommu(r.at('iommu'), BigInt(pageSize)),
    msi: readMsi(r.at('msi')),
    allowUnsafeInterrupts: r.has('allowUnsafeInterrupts') ? r.at('allowUnsafeInterrupts').bool() : false,
    eeh: r.has('eeh') ? r.at('eeh').bool() : false,
    functions: [],
  };
  const seen = new Map<string, string>();
  spec.functions = r
    .at('pci')
    .array()
    .map((f) => readFunction(f, 0, seen));
  markMultifunction(spec.functions);
  return spec;
}

function readIommu(r: Reader, pageSize: bigint): HostSpec['iommu'] {
  r.onlyKeys(['kind', 'pageSizes', 'aperture', 'reserved', 'dmaEntryLimit', 'spapr', 'pamu']);
  const kind = r.at('kind').oneOf(IOMMUS);
  const pageSizes = r.has('pageSizes')
    ? r
        .at('pageSizes')
        .array()
        .map((p) => p.pow2(0x1000n))
    : [pageSize];
  const aperture = r.has('aperture') ? readRange(r.at('aperture')) : { start: 0n, end: (1n << 48n) - 1n };
  const reserved = readReserved(r);
  let spapr: HostSpec['iommu']['spapr'] = null;
  if (r.has('spapr')) {
    const s = r.at('spapr');
    s.onlyKeys(['dma32WindowSize', 'pageSizes', 'maxWindows', 'levels', 'ddwStart', 'ownershipOps']);
    spapr = {
      dma32WindowSize: s.at('dma32WindowSize').pow2(0x1000n),
      pageSizes: s
        .at('pageSizes')
        .array()
        .map((p) => p.pow2(0x1000n)),
      maxWindows: s.has('maxWindows') ? s.at('maxWindows').int(1, 2) : 2,
      levels: s.has('levels') ? s.at('levels').int(1, 5) : 5,
      ddwStart: s.has('ddwStart') ? s.at('ddwStart').big() : 1n << 59n,
      ownershipOps: s.has('ownershipOps') ? s.at('ownershipOps').bool() : true,
    };
  } else if (kind === 'spapr-tce')
    r.at('spapr').fail('expected the sPAPR window facts (dma32WindowSize, pageSizes) for an spapr-tce IOMMU');
  let pamu: HostSpec['iommu']['pamu'] = null;
  if (r.has('pamu')) {
    const p = r.at('pamu');
    p.onlyKeys(['apertureSize', 'maxSubwindows']);
    pamu = { apertureSize: p.at('apertureSize').pow2(0x1000n), maxSubwindows: Number(p.at('maxSubwindows').pow2(1n)) };
  } else if (kind === 'fsl-pamu')
    r.at('pamu').fail('expected the PAMU geometry (apertureSize, maxSubwindows) for an fsl-pamu IOMMU');
  return {
    kind,
    pageSizes,
    aperture,
    reserved,
    dmaEntryLimit: r.has('dmaEntryLimit') ? r.at('dmaEntryLimit').int(1, 65535) : 65535,
    spapr,
    pamu,
  };
}

function readRange(r: Reader): { start: bigint; end: bigint } {
  const start = r.at('start').big();
  const end = r.at('end').big();
  if (end < start)
    r.at('end').fail(`expected an inclusive end at or after start 0x${start.toString(16)}, got 0x${end.toString(16)}`);
  return { start, end };
}

/** A "reserved" list of IOVA ranges (iommu_get_resv_regions), or [] when absent. */
function readReserved(r: Reader): ReservedRegion[] {
  if (!r.has('reserved')) return [];
  return r
    .at('reserved')
    .array()
    .map((x) => {
      x.onlyKeys(['start', 'end', 'type']);
      return { ...readRange(x), type: x.at('type').oneOf(RESERVED) };
    });
}

function readMsi(r: Reader): HostSpec['msi'] {
  r.onlyKeys(['controller', 'doorbell', 'banks']);
  const controller = r.at('controller').oneOf(MSIS);
  const defaults: Record<MsiControllerKind, bigint> = {
    'x86-ir': 0xfee00000n,
    'x86-noir': 0xfee00000n,
    'gicv3-its': 0x8090040n,
    gicv2m: 0x8020040n,
    xics: 0n,
    xive: 0n,
    'mpic-msi': 0xffe41740n,
  };
  return {
    controller,
    doorbell: r.has('doorbell') ? r.at('doorbell').big() : defaults[controller],
    banks: r.has('banks') ? r.at('banks').int(1, 8) : controller === 'mpic-msi' ? 3 : 0,
  };
}

/** One MSI-X table entry: address, data, vector control (PCI 3.0 6.8.2). */
const MSIX_TABLE_ENTRY_SIZE = 16;

const ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

function readFunction(r: Reader, expectedBus: number | null, seen: Map<string, string>): FunctionSpec {
  r.onlyKeys([
    'address',
    'type',
    'vendor',
    'device',
    'class',
    'driver',
    'multifunction',
    'acs',
    'bars',
    'rom',
    'msix',
    'msi',
    'intxPin',
    'intxMasking',
    'intxLine',
    'model',
    'reserved',
    'children',
  ]);
  const address = r.at('address').string().toLowerCase();
  const m = ADDRESS.exec(address);
  if (!m) return r.at('address').fail(`expected a PCI address like "0000:03:00.1", got "${address}"`);
  const [domain, bus, slot, fn] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), Number(m[4])];
  if (slot > 31) r.at('address').fail(`slot ${slot} is past 31`);
  if (expectedBus !== null && bus !== expectedBus)
    r.at('address').fail(`expected bus ${hex2(expectedBus)} (the bus this function sits on), got ${hex2(bus)}`);
  if (seen.has(address)) r.at('address').fail(`duplicate address ${address} (also at ${seen.get(address)})`);
  seen.set(address, r.path);
  const type = r.at('type').oneOf(TYPES);
  const intxPin = r.has('intxPin') ? r.at('intxPin').int(0, 4) : 1;
  const vendor = r.at('vendor').int(0, 0xffff);
  const device = r.at('device').int(0, 0xffff);
  const rom = r.has('rom') ? readRom(r.at('rom'), vendor, device) : null;
  const bars = r.has('bars') ? r.at('bars').array().map(readBar) : [];
  bars.forEach((b, i) => {
    const clash = bars.find(
      (o, j) => j !== i && (o.index === b.index || (o.kind === 'mem64' && o.index + 1 === b.index)),
    );
    if (clash)
      r.at('bars')
        .array()
        [i]!.at('index')
        .fail(
          `BAR ${b.index} overlaps BAR ` +
            `${clash.index}${clash.index !== b.index ? ` (a 64-bit BAR takes two slots: ${clash.index} and ${clash.index + 1})` : ''}`,
        );
    if (b.kind === 'mem64' && b.index === 5) r.at('bars').fail('a 64-bit BAR cannot start at BAR 5');
    if (isBridge(type) && b.index > 1) r.at('bars').fail(`a bridge has only BAR 0 and 1, got BAR ${b.index}`);
  });
  const barSize = (n: number, what: Reader) => {
    const b = bars.find((x) => x.index === n && x.kind !== 'io');
    if (!b) what.fail(`BAR ${n} is not a memory BAR of this function`);
    return b!.size;
  };
  let msix: MsixSpec | null = null;
  if (r.has('msix')) {
    const x = r.at('msix');
    x.onlyKeys(['entries', 'table', 'pba']);
    const entries = x.at('entries').int(1, 2048);
    const place = (k: 'table' | 'pba') => {
      const p = x.at(k);
      p.onlyKeys(['bar', 'offset']);
      const bar = p.at('bar').int(0, 5);
      const offset = p.at('offset').int(0, 2 ** 40);
      if (offset % 8)
        p.at('offset').fail(
          `expected an 8-byte aligned offset (the low 3 bits hold the BIR), got 0x${offset.toString(16)}`,
        );
      barSize(bar, p.at('bar'));
      return { bar, offset };
    };
    msix = { entries, table: place('table'), pba: place('pba') };
    const tableEnd = msix.table.offset + entries * MSIX_TABLE_ENTRY_SIZE;
    if (BigInt(tableEnd) > barSize(msix.table.bar, x.at('table')))
      x.at('table').fail(`a ${entries}-entry table does not fit in BAR ${msix.table.bar}`);
    // A PBA wholly past its BAR is hardware misreporting, which vfio-pci fixes for some devices
    // (hw/vfio/pci.c:vfio_msix_early_setup) and refuses for others; one that straddles the end is not.
    const pbaBytes = Math.ceil(entries / 64) * 8;
    const pbaBarSize = barSize(msix.pba.bar, x.at('pba'));
    if (BigInt(msix.pba.offset) < pbaBarSize && BigInt(msix.pba.offset + pbaBytes) > pbaBarSize)
      x.at('pba')
        .at('offset')
        .fail(
          `a ${entries}-entry PBA (${pbaBytes} bytes) at 0x${msix.pba.offset.toString(16)} runs past the end ` +
            `of BAR ${msix.pba.bar} (0x${pbaBarSize.toString(16)} bytes)`,
        );
    if (
      msix.pba.bar === msix.table.bar &&
      msix.pba.offset < tableEnd &&
      msix.table.offset < msix.pba.offset + pbaBytes
    ) {
      x.at('pba')
        .at('offset')
        .fail(
          `the PBA (0x${msix.pba.offset.toString(16)}+0x${pbaBytes.toString(16)}) overlaps the table ` +
            `(0x${msix.table.offset.toString(16)}+0x${(entries * MSIX_TABLE_ENTRY_SIZE).toString(16)}) in BAR ` +
            `${msix.table.bar} (hw/pci/msix.c:msix_init refuses it)`,
        );
    }
  }
  let msi: MsiSpec | null = null;
  if (r.has('msi')) {
    const x = r.at('msi');
    x.onlyKeys(['vectors', 'is64', 'perVectorMask']);
    const vectors = Number(x.at('vectors').pow2(1n));
    if (vectors > 32) x.at('vectors').fail(`expected at most 32 MSI vectors, got ${vectors}`);
    msi = {
      vectors,
      is64: x.has('is64') ? x.at('is64').bool() : true,
      perVectorMask: x.has('perVectorMask') ? x.at('perVectorMask').bool() : false,
    };
  }
  let acs: FunctionSpec['acs'] = null;
  if (r.has('acs')) {
    const a = r.at('acs');
    if (Array.isArray(a.value)) {
      const flags = a.array().map((f) => f.oneOf(ACS));
      acs = { cap: flags, ctrl: flags };
    } else {
      a.onlyKeys(['cap', 'ctrl']);
      acs = {
        cap: a
          .at('cap')
          .array()
          .map((f) => f.oneOf(ACS)),
        ctrl: a
          .at('ctrl')
          .array()
          .map((f) => f.oneOf(ACS)),
      };
    }
  }
  const children = r.has('children') ? r.at('children') : null;
  if (children && !isBridge(type)) children.fail(`only bridges and ports have children; this is a ${type}`);
  const kids = children?.array() ?? [];
  let secondaryBus: number | null = null;
  if (kids.length) {
    const first = kids[0]!.at('address').string().toLowerCase();
    const fm = ADDRESS.exec(first);
    if (!fm) return kids[0]!.at('address').fail(`expected a PCI address like "0000:03:00.1", got "${first}"`);
    secondaryBus = parseInt(fm[2]!, 16);
    if (secondaryBus <= bus)
      kids[0]!
        .at('address')
        .fail(`a child bus must be numbered after its parent bus ${hex2(bus)}, got ${hex2(secondaryBus)}`);
  }
  return {
    path: r.path,
    address,
    domain,
    bus,
    slot,
    fn,
    type,
    vendor,
    device,
    classCode: r.has('class') ? r.at('class').int(0, 0xffffff) : isBridge(type) ? 0x060400 : 0x020000,
    driver: r.has('driver') ? r.at('driver').string() : null,
    multifunction: r.has('multifunction') ? r.at('multifunction').bool() : false,
    acs,
    bars,
    romSize: rom?.size ?? 0n,
    rom,
    msix,
    reserved: readReserved(r),
    msi,
    intxPin,
    intxMasking: r.has('intxMasking') ? r.at('intxMasking').bool() : true,
    // Default wiring: the root complex swizzles slot and pin onto four lines from IRQ 16.
    intxLine: r.has('intxLine') ? r.at('intxLine').int(1, 1023) : 16 + ((slot + Math.max(intxPin, 1) - 1) & 3),
    model: readModel(r, bars),
    children: kids.map((k) => readFunction(k, secondaryBus, seen)),
    secondaryBus,
  };
}

/** The behaviour model, which needs the BAR its registers live in. */
function readModel(r: Reader, bars: BarSpec[]): string | null {
  if (!r.has('model')) return null;
  const model = r.at('model').oneOf(['nic', 'rtl8168']);
  if (model === 'rtl8168') {
    const bar2 = bars.find((b) => b.index === RTL8168_WINDOW_BAR && b.kind !== 'io');
    if (!bar2 || bar2.size < RTL8168_BAR2_MIN_SIZE)
      r.at('model').fail(
        `the "rtl8168" model needs a memory BAR 2 of at least 0x${RTL8168_BAR2_MIN_SIZE.toString(16)} bytes ` +
          `(its window registers at 0x${RTL8168_WINDOW.DATA.toString(16)} and ` +
          `0x${RTL8168_WINDOW.ADDRESS.toString(16)})`,
      );
    return model;
  }
  const bar0 = bars.find((b) => b.index === 0 && b.kind !== 'io');
  if (!bar0 || bar0.size < NIC_BAR0_MIN_SIZE)
    r.at('model').fail(
      `the "nic" model needs a memory BAR 0 of at least 0x${NIC_BAR0_MIN_SIZE.toString(16)} bytes (its ` +
        `registers, and the doorbell at 0x${NIC_REGS.DOORBELL.toString(16)})`,
    );
  return model;
}

/** The largest BAR vdm models: per-page bookkeeping of a BAR grows with its size (256 GiB covers today's GPUs). */
export const MAX_BAR_SIZE = 1n << 38n;

/** The expansion ROM BAR: address bits 31:11, so 2 KiB to 2 GiB (PCI 3.0 6.2.5.2). */
function readRomSize(r: Reader): bigint {
  const size = r.pow2(0x800n);
  if (size > 1n << 31n)
    r.fail(`an expansion ROM is at most 2 GiB (its BAR holds address bits 31:11), got 0x${size.toString(16)}`);
  return size;
}

/** A ROM's image is kept in memory: by default it fills the BAR up to 1 MiB (the rest reads 0xff). */
const ROM_IMAGE_DEFAULT_MAX = 1n << 20n;

function readRom(r: Reader, vendor: number, device: number): RomSpec {
  if (typeof r.value === 'string' || typeof r.value === 'number') {
    const size = readRomSize(r);
    return {
      size,
      imageSize: size < ROM_IMAGE_DEFAULT_MAX ? size : ROM_IMAGE_DEFAULT_MAX,
      signature: 0xaa55,
      vendor,
      device,
    };
  }
  r.onlyKeys(['size', 'imageSize', 'signature', 'vendor', 'device']);
  const size = readRomSize(r.at('size'));
  const imageSize = r.has('imageSize')
    ? r.at('imageSize').int(512, Math.min(Number(size), 1 << 24))
    : Math.min(Number(size), Number(ROM_IMAGE_DEFAULT_MAX));
  if (imageSize % 512)
    r.at('imageSize').fail(
      `expected a multiple of 512 bytes (ROM images are counted in 512-byte units), got ${imageSize}`,
    );
  return {
    size,
    imageSize: BigInt(imageSize),
    signature: r.has('signature') ? r.at('signature').int(0, 0xffff) : 0xaa55,
    vendor: r.has('vendor') ? r.at('vendor').int(0, 0xffff) : vendor,
    device: r.has('device') ? r.at('device').int(0, 0xffff) : device,
  };
}

function readBar(r: Reader): BarSpec {
  r.onlyKeys(['index', 'size', 'kind', 'prefetchable']);
  const kind = r.at('kind').oneOf(['mem32', 'mem64', 'io'] as const);
  const size = r.at('size').pow2(kind === 'io' ? 4n : 16n);
  if (kind === 'mem32' && size > 1n << 31n) r.at('size').fail('a 32-bit BAR is at most 2 GiB');
  if (kind === 'io' && size > 0x10000n)
    r.at('size').fail(`an I/O BAR is at most 64 KiB (the whole I/O space), got 0x${size.toString(16)}`);
  if (size > MAX_BAR_SIZE)
    r.at('size').fail(`vdm models BARs up to 256 GiB (0x${MAX_BAR_SIZE.toString(16)}), got 0x${size.toString(16)}`);
  return {
    index: r.at('index').int(0, 5),
    size,
    kind,
    prefetchable: r.has('prefetchable') ? r.at('prefetchable').bool() : false,
  };
}

/**
 * Linux sets pdev->multifunction for every function of a slot whose function 0 says so; a slot with several
 * functions must.
 */
function markMultifunction(fns: FunctionSpec[]): void {
  const bySlot = new Map<string, FunctionSpec[]>();
  for (const f of fns) bySlot.set(`${f.bus}:${f.slot}`, [...(bySlot.get(`${f.bus}:${f.slot}`) ?? []), f]);
  for (const group of bySlot.values()) {
    const multi = group.length > 1 || group.some((f) => f.multifunction);
    for (const f of group) f.multifunction = multi;
  }
  for (const f of fns) markMultifunction(f.children);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
