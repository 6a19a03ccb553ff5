// The hostile-guest campaign: random guest programs against a booted machine, through the machine's
// address spaces and config mechanism as a real guest would (wild config writes, MSI-X table and
// PBA writes, MSI-X entries aimed at foreign vectors, doorbells, forged descriptors and rings that
// point DMA outside the IOVA map, bus mastering toggles, BAR moves mid-run). The checker, unlike
// the guest, looks inside the machine: no crash, no memory written outside the DMA map, and every
// interrupt the device raised counted exactly once on its way to the guest.
import { readFileSync } from 'node:fs';
import {
  Machine,
  SimHost,
  VfioKernel,
  ConfigAccess,
  GuestKernel,
  NicDriver,
  RamBlock,
  enumerateAndAssign,
  isVfioDriver,
  loadMachineFile,
  parseGuestFile,
  parseHostFile,
  platformOf,
  type FoundFunction,
  type GuestPlatform,
  type HostSpec,
  type MachineSpec,
} from '../../src/index.ts';
import { NIC_DESC_SIZE, NIC_REGS } from '../../src/common/nic-datasheet.ts';
import { PCI_CAP_ID_MSIX } from '../../src/common/pci-regs.ts';
import { seededRandom } from '../fuzz/dump-mutator.ts';
import { hostSide, MACHINES_DIR } from '../vfio/helpers.ts';

/** Machines the campaign boots (virt-gicv2m's default host refuses assignment by design: no MSI isolation). */
export const HOSTILE_MACHINES = ['pc', 'q35', 'virt', 'pseries', 'ppce500'] as const;
/** Programs run on one booted machine before it is booted afresh (boots cost more than programs). */
const PROGRAMS_PER_BOOT = 5;

const MACHINES = MACHINES_DIR;
const PROGRAM = parseGuestFile(
  JSON.stringify({
    name: 'hostile',
    vectors: 2,
    ringSize: 8,
    bufferSize: 64,
    iterations: 1,
    statusReads: 1,
    maskEvery: 0,
  }),
  'hostile',
);

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, a: readonly T[]): T => a[int(r, a.length)]!;
const u32 = (r: Rand): number => pick(r, [0, 0xffffffff, 0x80000000, 1, Math.floor(r() * 2 ** 32)]);

/** What one program did wrong, with the ops that led there (enough to replay it). */
export interface HostileFinding {
  machine: string;
  seed: number;
  program: number;
  kind: 'crash' | 'memory' | 'interrupts';
  what: string;
  ops: string[];
}

export interface CampaignResult {
  programs: number;
  ops: number;
  findings: HostileFinding[];
  /** Totals over the campaign, to show the programs exercised what they claim to. */
  totals: Record<string, number>;
}

export interface Rig {
  name: string;
  m: Machine;
  p: GuestPlatform;
  cfg: ConfigAccess;
  fn: FoundFunction;
  kernel: GuestKernel;
  driver: NicDriver;
  msixCap: number;
  /** The capability's Table and PBA registers (BIR and offset; read-only, so read once). */
  msixTable: number;
  msixPba: number;
  /** BAR addresses as the guest last programmed them. */
  bars: Map<number, bigint>;
  /** A guest page for forged descriptors. */
  scratch: bigint;
  memory: string[];
  ledger: Ledger;
}

/** Counters the checker reads; the device's MSI-X signals are counted by wrapping its hardware. */
interface Ledger {
  /** Events the device signalled in MSI or MSI-X mode. */
  raised: number;
  raisedIntx: number;
  /** CPU stores to the MSI doorbell: interrupts the guest sent itself. */
  cpuDoorbell: number;
  dmaWrites: number;
  dmaRefused: number;
}

const specCache = new Map<string, { spec: MachineSpec; host: HostSpec }>();
function loadSpecs(name: string): { spec: MachineSpec; host: HostSpec } {
  let s = specCache.get(name);
  if (!s) {
    const spec = loadMachineFile(`${MACHINES}${name}.json`);
    const host = parseHostFile(
      readFileSync(`${MACHINES}hosts/${spec.defaultHost}.json`, 'utf8'),
      `${spec.defaultHost}.json`,
    );
    specCache.set(name, (s = { spec, host }));
  }
  return s;
}

/** Boots `name` with its default host's first vfio-pci function and probes the NIC driver. */
export function bootRig(name: string): Rig {
  const { spec, host: hostSpec } = loadSpecs(name);
  const host = new SimHost(hostSpec);
  const first = host.functions.find((f) => isVfioDriver(f.spec.driver))!;
  const m = new Machine(spec, new VfioKernel(host), [{ host: first.spec.address }]);
  const p = platformOf(m);
  const cfg = new ConfigAccess(p);
  const fn = enumerateAndAssign(p, cfg).find((f) => f.classCode >> 16 === 0x02)!;
  const kernel = new GuestKernel(p);
  const driver = new NicDriver(p, kernel, cfg, fn, PROGRAM);
  driver.probe();
  const msixCap = cfg.findCapability(fn.bus, fn.devfn, PCI_CAP_ID_MSIX);
  const rig: Rig = {
    name,
    m,
    p,
    cfg,
    fn,
    kernel,
    driver,
    msixCap,
    msixTable: msixCap ? cfg.read(fn.bus, fn.devfn, msixCap + 4, 4) : 0,
    msixPba: msixCap ? cfg.read(fn.bus, fn.devfn, msixCap + 8, 4) : 0,
    bars: new Map(fn.bars.map((b) => [b.index, b.address])),
    scratch: kernel.allocRam(0x2000n),
    memory: [],
    ledger: { raised: 0, raisedIntx: 0, cpuDoorbell: 0, dmaWrites: 0, dmaRefused: 0 },
  };
  instrument(rig);
  return rig;
}

/** Which RamBlock a DMA write is landing in, while one is in progress (set by instrument). */
let landing: { block: RamBlock; at: number; length: number }[] | null = null;

/**
 * Wraps the device's MSI-X signal (to count what it raised) and its DMA writes (to check each
 * against the VMM's DMA map and find where its bytes landed).
 */
function instrument(rig: Rig): void {
  const d = rig.m.devices[0]!;
  const hw = hostSide(d).hw;
  const signal = hw.interrupt.bind(hw);
  hw.interrupt = (v) => {
    // In INTx mode an event only holds the level up (counted on the INTx path, not in this ledger).
    if (hw.irqMode === 'intx') rig.ledger.raisedIntx++;
    else rig.ledger.raised++;
    return signal(v);
  };
  const dmaWrite = hw.dmaWrite.bind(hw);
  const container = rig.m.containers.find((c) => c.groups.includes(d.group))!;
  hw.dmaWrite = (at, bytes) => {
    const iova = BigInt(at);
    const mapped = [...Array(bytes.length).keys()].map((i) =>
      container.mappings.find((x) => x.iova <= iova + BigInt(i) && iova + BigInt(i) < x.iova + x.size),
    );
    landing = [];
    let ok: boolean;
    try {
      ok = dmaWrite(iova, bytes);
    } finally {
      const landed = landing;
      landing = null;
      checkLanding(rig, iova, bytes, mapped, landed, ok!);
    }
    return ok;
  };
}

/** A successful DMA write went only into guest RAM, only where the DMA map says, byte for byte. */
function checkLanding(
  rig: Rig,
  iova: bigint,
  bytes: ArrayLike<number>,
  mapped: ({ iova: bigint; region: string } | undefined)[],
  landed: { block: RamBlock; length: number }[],
  ok: boolean,
): void {
  const at = `DMA write of ${bytes.length} bytes at IOVA 0x${iova.toString(16)}`;
  if (!ok) {
    rig.ledger.dmaRefused++;
    if (landed.length) rig.memory.push(`${at} was refused but still wrote ${landed.length} piece(s)`);
    return;
  }
  rig.ledger.dmaWrites++;
  if (mapped.some((x) => !x)) return void rig.memory.push(`${at} succeeded although the VMM never mapped part of it`);
  if (landed.reduce((n, l) => n + l.length, 0) !== bytes.length)
    return void rig.memory.push(`${at} wrote ${landed.reduce((n, l) => n + l.length, 0)} bytes`);
  for (let i = 0; i < bytes.length; i++) {
    const x = mapped[i]!;
    const tce = /^tce -> 0x([0-9a-f]+)$/.exec(x.region);
    const gpa = (tce ? BigInt('0x' + tce[1]) : x.iova) + (iova + BigInt(i) - x.iova); // type1 and PAMU map IOVA = GPA
    const fr = rig.m.addressSpaceMemory.lookup(gpa);
    const block = fr?.mr.ramBlock;
    if (!fr || !block || fr.mr.isRamDevice)
      return void rig.memory.push(
        `${at}: the map sends byte ${i} to GPA 0x${gpa.toString(16)}, which is not guest RAM`,
      );
    if (!landed.some((l) => l.block === block))
      return void rig.memory.push(`${at} landed outside guest RAM (host memory)`);
    if (block.readByte(Number(fr.offsetInRegion + (gpa - fr.start))) !== (bytes[i]! & 0xff))
      return void rig.memory.push(`${at}: byte ${i} is not at GPA 0x${gpa.toString(16)}`);
  }
}

/** The interrupt ledger: the machine's own counters, which must account for every signal once. */
export function interruptCounts(rig: Rig) {
  const d = rig.m.devices[0]!;
  const hw = hostSide(d).hw;
  const ks = hostSide(d).stats;
  return {
    raised: rig.ledger.raised,
    unrouted: hw.msiOutcomes.unrouted,
    blocked: hw.msiOutcomes.blocked,
    pendedInDevice: hw.msiOutcomes.pended,
    faulted: ks.msiFaults + ks.remapBlocked,
    lostInKernel: ks.lostInterrupts,
    signalled: ks.interrupts,
    raisedIntx: rig.ledger.raisedIntx,
    intxSignals: d.intx.stats.interrupts,
    cpuDoorbell: rig.ledger.cpuDoorbell,
    kvm: d.interrupts.kvm,
    vmm: d.interrupts.vmm,
    pendedInVmm: d.interrupts.pended,
    messages: d.msiMessagesSent,
    received: rig.m.irq.delivered + rig.m.irq.bogus,
    delivered: rig.m.irq.delivered,
    handled: rig.driver.stats.handled.reduce((a, b) => a + b, 0) + rig.kernel.spurious,
    dmaFaults: hw.dmaFaults.length,
    dmaBlocked: hw.dmaBlocked,
    dmaWrites: rig.ledger.dmaWrites,
    dmaRefused: rig.ledger.dmaRefused,
  };
}

/** What is wrong with the interrupts of one program (counter deltas), or null. */
export function interruptImbalance(c: ReturnType<typeof interruptCounts>): string | null {
  const accounted = c.unrouted + c.blocked + c.pendedInDevice + c.faulted + c.lostInKernel + c.signalled;
  if (c.raised !== accounted)
    return (
      `the device raised ${c.raised} interrupts; ${accounted} are accounted for (unrouted ${c.unrouted}, ` +
      `blocked ${c.blocked}, pended ${c.pendedInDevice}, faulted ${c.faulted}, lost ${c.lostInKernel}, ` +
      `signalled ${c.signalled})`
    );
  if (c.signalled !== c.kvm + c.vmm)
    return `the kernel signalled ${c.signalled} eventfds; KVM took ${c.kvm}, the VMM ${c.vmm}`;
  if (c.messages > c.kvm + c.vmm)
    return `the VMM sent ${c.messages} MSI messages for ${c.kvm + c.vmm} signals (duplicated)`;
  if (c.received > c.kvm + c.vmm + c.intxSignals + c.cpuDoorbell) {
    return (
      `the interrupt controller received ${c.received} interrupts for ${c.kvm + c.vmm} MSI signals, ` +
      `${c.intxSignals} INTx signals and ${c.cpuDoorbell} guest doorbell writes (duplicated)`
    );
  }
  if (c.delivered !== c.handled)
    return `${c.delivered} interrupts were delivered but the guest's entry point ran ${c.handled} times`;
  return null;
}

const diff = <T extends Record<string, number>>(a: T, b: T): T =>
  Object.fromEntries(Object.keys(a).map((k) => [k, a[k]! - b[k]!])) as T;

/** One random guest operation, performed; returns its description for the replay log. */
function randomOp(r: Rand, rig: Rig): string {
  const { p, cfg, fn } = rig;
  const bar0 = rig.bars.get(0)!;
  const table = (rig.bars.get(rig.msixTable & 7) ?? bar0) + BigInt((rig.msixTable & ~7) >>> 0);
  const pba = (rig.bars.get(rig.msixPba & 7) ?? bar0) + BigInt((rig.msixPba & ~7) >>> 0);
  const ramEnd = p.firmware.ram.base + p.firmware.ram.size;
  switch (int(r, 15)) {
    case 0: {
      const reg = pick(r, [
        int(r, 0x40),
        0x40 + int(r, 0xc0),
        rig.msixCap + int(r, 12),
        0x100 + int(r, 0xf00),
        0x1000 + int(r, 0x10000),
      ]);
      const size = pick(r, [1, 2, 4]);
      const v = u32(r);
      cfg.write(fn.bus, fn.devfn, reg, size === 4 ? v : v & ((1 << (size * 8)) - 1), size);
      return `config write ${size}@0x${reg.toString(16)} = 0x${v.toString(16)}`;
    }
    case 1: {
      const v = pick(r, [0, 2, 4, 6, 7, 0x406, int(r, 0x10000)]);
      cfg.write(fn.bus, fn.devfn, 4, v, 2);
      return `command = 0x${v.toString(16)} (bus master ${v & 4 ? 'on' : 'off'})`;
    }
    case 2: {
      const b = pick(r, fn.bars);
      const w = p.firmware.mmio32;
      const addr = pick(r, [
        w.base + BigInt(int(r, Number(w.size / b.size))) * b.size,
        0xffffffffn,
        BigInt(u32(r) >>> 0) & ~0xfn,
      ]);
      cfg.write(fn.bus, fn.devfn, 0x10 + 4 * b.index, Number(addr & 0xffffffffn), 4);
      if (addr !== 0xffffffffn)
        rig.bars.set(b.index, (rig.bars.get(b.index)! & ~0xffffffffn) | (addr & ~(b.size - 1n) & 0xffffffffn));
      return `BAR${b.index} moved to 0x${addr.toString(16)}`;
    }
    case 3: {
      const e = int(r, 4);
      const off = pick(r, [0, 4, 8, 12]);
      const v = u32(r);
      store(rig, table + BigInt(e * 16 + off), v, 4);
      return `MSI-X entry ${e} +${off} = 0x${v.toString(16)}`;
    }
    case 4: {
      // An entry aimed at someone else's vector (or a vector nobody has), then a transmit to fire it.
      const e = int(r, 2);
      const n = int(r, Math.min(p.firmware.msiVectors, 512));
      const msg = p.firmware.msiMessage(n);
      store(rig, table + BigInt(e * 16), Number(msg.address & 0xffffffffn), 4);
      store(rig, table + BigInt(e * 16 + 4), Number(msg.address >> 32n), 4);
      store(rig, table + BigInt(e * 16 + 8), msg.data, 4);
      store(rig, table + BigInt(e * 16 + 12), 0, 4);
      rig.driver.run();
      return `MSI-X entry ${e} aimed at guest vector ${n}; transmit`;
    }
    case 5: {
      const off = int(r, 16);
      if (r() < 0.5) store(rig, pba + BigInt(off), u32(r), 4);
      else p.memory.read(Number(pba) + off, 4);
      return `PBA access +${off}`;
    }
    case 6: {
      const v = pick(r, [0x8000, 0xc000, 0x4000, 0, int(r, 0x10000)]);
      if (rig.msixCap) cfg.write(fn.bus, fn.devfn, rig.msixCap + 2, v, 2);
      return `MSI-X control = 0x${v.toString(16)}`;
    }
    case 7: {
      const tail = int(r, 20);
      store(rig, bar0 + BigInt(NIC_REGS.DOORBELL), tail, 4);
      return `doorbell tail ${tail}`;
    }
    case 8: {
      // A descriptor the guest forges in its own page, with a buffer anywhere; the ring moved there.
      const buf = pick(r, [
        rig.scratch + 0x1000n,
        ramEnd + BigInt(int(r, 0x100000)),
        p.firmware.mmio32.base,
        1n << 63n,
        0n,
        ramEnd - 8n,
      ]);
      const d = rig.scratch + BigInt(int(r, 4) * NIC_DESC_SIZE);
      store(rig, d, Number(buf & 0xffffffffn), 4);
      store(rig, d + 4n, Number(buf >> 32n), 4);
      store(rig, d + 8n, pick(r, [64, 4096, 0xffffffff]), 4);
      store(rig, bar0 + BigInt(NIC_REGS.RING_LO), Number(rig.scratch & 0xffffffffn), 4);
      store(rig, bar0 + BigInt(NIC_REGS.RING_HI), Number(rig.scratch >> 32n), 4);
      store(rig, bar0 + BigInt(NIC_REGS.RING_LEN), 1 + int(r, 8), 4);
      store(rig, bar0 + BigInt(NIC_REGS.DOORBELL), 1 + int(r, 3), 4);
      return `forged descriptor, buffer 0x${buf.toString(16)}`;
    }
    case 9: {
      const ring = pick(r, [BigInt(u32(r) >>> 0), ramEnd - 16n, 1n << 62n, rig.scratch]);
      store(rig, bar0 + BigInt(NIC_REGS.RING_LO), Number(ring & 0xffffffffn), 4);
      store(rig, bar0 + BigInt(NIC_REGS.RING_HI), Number(ring >> 32n), 4);
      return `ring base 0x${ring.toString(16)}`;
    }
    case 10: {
      const addr = pick(r, [
        bar0 + BigInt(int(r, 0x4000)),
        p.firmware.mmio32.base + BigInt(int(r, Number(p.firmware.mmio32.size))),
        BigInt(int(r, 2 ** 32)),
        p.firmware.ram.base + BigInt(int(r, 0x100000)),
      ]);
      const size = pick(r, [1, 2, 4]);
      if (r() < 0.5)
        store(rig, addr & ~BigInt(size - 1), u32(r) & (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1), size);
      else p.memory.readAt(addr, size);
      return `CPU access ${size}@0x${addr.toString(16)}`;
    }
    case 11: {
      const v = int(r, 2);
      store(rig, table + BigInt(v * 16 + 12), r() < 0.5 ? 1 : 0, 4);
      return `vector ${v} mask toggled`;
    }
    case 12:
      store(rig, bar0 + BigInt(NIC_REGS.CTRL), 1, 4);
      return 'device reset (CTRL)';
    case 13: {
      // The guest rings the MSI doorbell itself, with some vector's message or a garbled one.
      const msg = p.firmware.msiMessage(int(r, Math.min(p.firmware.msiVectors, 512)));
      const data = r() < 0.7 ? msg.data : u32(r);
      store(rig, msg.address, data, 4);
      return `CPU write 0x${data.toString(16)} to the MSI doorbell 0x${msg.address.toString(16)}`;
    }
    default:
      rig.driver.run();
      return 'transmit';
  }
}

/** A CPU store; one that reaches the interrupt controller's doorbell is a guest-made MSI, counted apart. */
function store(rig: Rig, addr: bigint, value: number, size: number): void {
  if (rig.p.memory.lookup(addr)?.mr === rig.m.irq.region) rig.ledger.cpuDoorbell++;
  rig.p.memory.writeAt(addr, BigInt(value >>> 0), size);
}

/**
 * Runs `programs` random guest programs of up to `maxOps` operations each, cycling through the
 * machines, `PROGRAMS_PER_BOOT` programs per boot. Deterministic for a seed.
 */
export function runHostileCampaign(programs: number, seed: number, maxOps = 30): CampaignResult {
  return watchingDma(() => campaign(programs, seed, maxOps));
}

/** Runs `fn` with every RamBlock write recorded while a device DMA write is in progress. */
export function watchingDma<T>(fn: () => T): T {
  // writeFrom: every bulk write into a block (writeBytes and device DMA) goes through it.
  const writeFrom = RamBlock.prototype.writeFrom;
  RamBlock.prototype.writeFrom = function (this: RamBlock, at: number, src: Uint8Array, from: number, length: number) {
    landing?.push({ block: this, at, length });
    return writeFrom.call(this, at, src, from, length);
  };
  try {
    return fn();
  } finally {
    RamBlock.prototype.writeFrom = writeFrom;
  }
}

function campaign(programs: number, seed: number, maxOps: number): CampaignResult {
  const findings: HostileFinding[] = [];
  const totals: Record<string, number> = {};
  let ops = 0;
  let rig: Rig | null = null;
  let sinceBoot: ReturnType<typeof interruptCounts> | null = null;
  for (let i = 0; i < programs; i++) {
    const machine = HOSTILE_MACHINES[Math.floor(i / PROGRAMS_PER_BOOT) % HOSTILE_MACHINES.length]!;
    const r = seededRandom(seed * 100_003 + i);
    const log: string[] = [];
    try {
      if (i % PROGRAMS_PER_BOOT === 0) {
        rig = bootRig(machine);
        sinceBoot = interruptCounts(rig);
      }
      const before = interruptCounts(rig!);
      rig!.memory.length = 0;
      for (let n = 1 + int(r, maxOps); n > 0; n--) {
        log.push(randomOp(r, rig!));
        ops++;
      }
      const delta = diff(interruptCounts(rig!), before);
      for (const [k, v] of Object.entries(delta)) totals[k] = (totals[k] ?? 0) + v;
      // Checked since boot: a vector pended in one program may be delivered in the next.
      const bad = interruptImbalance(diff(interruptCounts(rig!), sinceBoot!));
      if (bad) findings.push({ machine, seed, program: i, kind: 'interrupts', what: bad, ops: log });
      for (const what of rig!.memory) findings.push({ machine, seed, program: i, kind: 'memory', what, ops: log });
    } catch (e) {
      findings.push({
        machine,
        seed,
        program: i,
        kind: 'crash',
        what: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e),
        ops: log,
      });
      rig = null;
      i += PROGRAMS_PER_BOOT - 1 - (i % PROGRAMS_PER_BOOT); // boot afresh for the next program
    }
  }
  return { programs, ops, findings, totals };
}
