// `lspci -vvv` for a guest-visible config space (pciutils lspci.c:show_verbose, ls-caps.c,
// ls-ecaps.c): the header, the BARs, and each capability decoded bit by bit. Cold code: flags are
// read with the `bitwise` package, by bit number, as the PCI spec tables list them.
import bitwise from 'bitwise';
import * as R from '../common/pci-regs.ts';

/** Reads the config space as the guest does (offset, 1/2/4 bytes). */
export type ConfigRead = (offset: number, len: number) => number;

/** What lspci knows besides config space (from sysfs): where each BAR is and how large. */
export interface LspciDevice {
  /** "00:02.0" */
  slot: string;
  read: ConfigRead;
  /** By BAR number: address (all ones when unmapped) and size. */
  bars: ({ addr: bigint; size: bigint } | null)[];
  /** Config space size: 256, or 4096 for PCI Express (extended capabilities). */
  configSize: number;
}

type Flags = [name: string, bit: number][];

/** "Name+ Other-": each flag by its bit number. */
function flags(v: number, list: Flags): string {
  return list.map(([name, bit]) => `${name}${bitwise.integer.getBit(v, bit) ? '+' : '-'}`).join(' ');
}

/** A bit field: `width` bits from bit `lo`. */
function field(v: number, lo: number, width: number): number {
  return Math.floor(v / 2 ** lo) % 2 ** width;
}

const hex = (v: number, w: number) => v.toString(16).padStart(w, '0');

/** lspci.c:show_size. */
function size(n: bigint): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let u = 0;
  while (u < units.length - 1 && n >= 1024n && n % 1024n === 0n) {
    n /= 1024n;
    u++;
  }
  return `[size=${n}${units[u]}]`;
}

/** lspci.c:show_bases. */
function regions(d: LspciDevice, cmd: number): string[] {
  const out: string[] = [];
  for (let n = 0; n < 6; n++) {
    const bar = d.bars[n];
    if (!bar) continue;
    const low = d.read(R.PCI_BASE_ADDRESS_0 + 4 * n, 4);
    const unmapped = bar.addr === R.PCI_BAR_UNMAPPED;
    if (low & R.PCI_BASE_ADDRESS_SPACE_IO) {
      out.push(
        `\tRegion ${n}: I/O ports at ` +
          `${unmapped ? '<unassigned>' : hex(Number(bar.addr), 4)}${cmd & R.PCI_COMMAND_IO ? '' : ' [disabled]'} ${size(bar.size)}`,
      );
    } else {
      const type = field(low, 1, 2) === 2 ? '64-bit' : field(low, 1, 2) === 1 ? 'low-1M' : '32-bit';
      const pre = low & R.PCI_BASE_ADDRESS_MEM_PREFETCH ? 'prefetchable' : 'non-prefetchable';
      out.push(
        `\tRegion ${n}: Memory at ${unmapped ? '<unassigned>' : bar.addr.toString(16).padStart(8, '0')} ` +
          `(${type}, ${pre})${cmd & R.PCI_COMMAND_MEMORY ? '' : ' [disabled]'} ${size(bar.size)}`,
      );
    }
  }
  return out;
}

/** ls-caps.c:cap_pm. */
function pm(r: ConfigRead, at: number): string[] {
  const cap = r(at + 2, 2);
  const aux = [0, 55, 100, 160, 220, 270, 320, 375][field(cap, 6, 3)];
  const t = r(at + R.PCI_PM_CTRL, 2);
  return [
    `Power Management version ${field(cap, 0, 3)}`,
    `\t\tFlags: ${flags(cap, [
      ['PMEClk', 3],
      ['DSI', 5],
      ['D1', 9],
      ['D2', 10],
    ])} AuxCurrent=${aux}mA PME(${flags(cap, [
      ['D0', 11],
      ['D1', 12],
      ['D2', 13],
      ['D3hot', 14],
      ['D3cold', 15],
    ]).replace(/ /g, ',')})`,
    `\t\tStatus: D${field(t, 0, 2)} ${flags(t, [
      ['NoSoftRst', 3],
      ['PME-Enable', 8],
    ])} DSel=${field(t, 9, 4)} DScale=${field(t, 13, 2)} ${flags(t, [['PME', 15]])}`,
  ];
}

/** ls-caps.c:cap_msi. */
function msi(r: ConfigRead, at: number): string[] {
  const cap = r(at + R.PCI_MSI_FLAGS, 2);
  const is64 = bitwise.integer.getBit(cap, 7) === 1;
  const maskable = bitwise.integer.getBit(cap, 8) === 1;
  const out = [
    `MSI: ${flags(cap, [['Enable', 0]])} Count=${1 << field(cap, 4, 3)}/${1 << field(cap, 1, 3)} ${flags(cap, [
      ['Maskable', 8],
      ['64bit', 7],
    ])}`,
  ];
  const hi = is64 ? hex(r(at + 8, 4), 8) : '';
  out.push(`\t\tAddress: ${hi}${hex(r(at + R.PCI_MSI_ADDRESS_LO, 4), 8)}  Data: ${hex(r(at + (is64 ? 12 : 8), 2), 4)}`);
  if (maskable)
    out.push(`\t\tMasking: ${hex(r(at + (is64 ? 16 : 12), 4), 8)}  Pending: ${hex(r(at + (is64 ? 20 : 16), 4), 8)}`);
  return out;
}

/** ls-caps.c:cap_msix. */
function msix(r: ConfigRead, at: number): string[] {
  const cap = r(at + R.PCI_MSIX_FLAGS, 2);
  const table = r(at + R.PCI_MSIX_TABLE, 4);
  const pba = r(at + R.PCI_MSIX_PBA, 4);
  const bir = (v: number) => `BAR=${field(v, 0, 3)} offset=${hex(v - field(v, 0, 3), 8)}`;
  return [
    `MSI-X: ${flags(cap, [['Enable', 15]])} Count=${field(cap, 0, 11) + 1} ${flags(cap, [['Masked', 14]])}`,
    `\t\tVector table: ${bir(table)}`,
    `\t\tPBA: ${bir(pba)}`,
  ];
}

const EXP_TYPES: Record<number, string> = {
  0: 'Endpoint',
  1: 'Legacy Endpoint',
  4: 'Root Port (Slot-)',
  5: 'Upstream Port',
  6: 'Downstream Port (Slot-)',
  7: 'PCI-Express to PCI/PCI-X Bridge',
  9: 'Root Complex Integrated Endpoint',
  10: 'Root Complex Event Collector',
};
const L0S = ['<64ns', '<128ns', '<256ns', '<512ns', '<1us', '<2us', '<4us', 'unlimited'];
const L1 = ['<1us', '<2us', '<4us', '<8us', '<16us', '<32us', '<64us', 'unlimited'];
const SPEED = (s: number) => ['unknown', '2.5GT/s', '5GT/s', '8GT/s', '16GT/s', '32GT/s', '64GT/s'][s] ?? 'unknown';
const ASPM = ['not supported', 'L0s', 'L1', 'L0s L1'];
const ASPM_CTL = ['Disabled', 'L0s Enabled', 'L1 Enabled', 'L0s L1 Enabled'];

const ATTENTION: Flags = [
  ['AttnBtn', 12],
  ['AttnInd', 13],
  ['PwrInd', 14],
];

/** ls-caps.c:cap_express, cap_express_dev, cap_express_link (the device and link registers). */
function express(r: ConfigRead, at: number): string[] {
  const f = r(at + R.PCI_EXP_FLAGS, 2);
  const type = field(f, 4, 4);
  const endpoint = type === 0 || type === 1;
  // Endpoints, upstream ports and PCIe-to-PCI bridges have attention button/indicator bits.
  const attention = endpoint || type === 5 || type === 7;
  const out = [
    `Express (v${field(f, 0, 4)}) ${EXP_TYPES[type] ?? `Unknown type ${type}`}, MSI ${hex(field(f, 9, 5), 2)}`,
  ];
  const dc = r(at + 4, 4);
  out.push(
    `\t\tDevCap:\tMaxPayload ${128 << field(dc, 0, 3)} bytes, PhantFunc ` +
      `${(1 << field(dc, 3, 2)) - 1}${endpoint ? `, Latency L0s ${L0S[field(dc, 6, 3)]}, L1 ${L1[field(dc, 9, 3)]}` : ''}`,
  );
  out.push(
    `\t\t\t${flags(dc, [['ExtTag', 5], ...(attention ? ATTENTION : []), ['RBE', 15], ...(endpoint ? ([['FLReset', 28]] as Flags) : [])])}`,
  );
  const ctl = r(at + R.PCI_EXP_DEVCTL, 2);
  out.push(
    `\t\tDevCtl:\tReport errors: ${flags(ctl, [
      ['Correctable', 0],
      ['Non-Fatal', 1],
      ['Fatal', 2],
      ['Unsupported', 3],
    ])}`,
  );
  out.push(
    `\t\t\t${flags(ctl, [['RlxdOrd', 4], ['ExtTag', 8], ['PhantFunc', 9], ['AuxPwr', 10], ['NoSnoop', 11], ...(endpoint && bitwise.integer.getBit(dc, 28) ? ([['FLReset', 15]] as Flags) : [])])}`,
  );
  out.push(`\t\t\tMaxPayload ${128 << field(ctl, 5, 3)} bytes, MaxReadReq ${128 << field(ctl, 12, 3)} bytes`);
  const sta = r(at + 10, 2);
  out.push(
    `\t\tDevSta:\t${flags(sta, [
      ['CorrErr', 0],
      ['UncorrErr', 1],
      ['FatalErr', 2],
      ['UnsuppReq', 3],
      ['AuxPwr', 4],
      ['TransPend', 5],
    ])}`,
  );
  if (type === 9 || type === 10) return out; // no link
  const lc = r(at + 12, 4);
  out.push(
    `\t\tLnkCap:\tPort #${field(lc, 24, 8)}, Speed ${SPEED(field(lc, 0, 4))}, Width x${field(lc, 4, 6)}, ASPM ` +
      `${ASPM[field(lc, 10, 2)]}, Exit Latency L0s ${L0S[field(lc, 12, 3)]}, L1 ${L1[field(lc, 15, 3)]}`,
  );
  out.push(
    `\t\t\t${flags(lc, [
      ['ClockPM', 18],
      ['Surprise', 19],
      ['LLActRep', 20],
      ['BwNot', 21],
      ['ASPMOptComp', 22],
    ])}`,
  );
  const lctl = r(at + 16, 2);
  out.push(
    `\t\tLnkCtl:\tASPM ${ASPM_CTL[field(lctl, 0, 2)]}; RCB ${bitwise.integer.getBit(lctl, 3) ? 128 : 64} bytes ${flags(
      lctl,
      [
        ['Disabled', 4],
        ['CommClk', 6],
      ],
    )}`,
  );
  out.push(
    `\t\t\t${flags(lctl, [
      ['ExtSynch', 7],
      ['ClockPM', 8],
      ['AutWidDis', 9],
      ['BWInt', 10],
      ['AutBWInt', 11],
    ])}`,
  );
  const ls = r(at + 18, 2);
  out.push(
    `\t\tLnkSta:\tSpeed ${SPEED(field(ls, 0, 4))}, Width x${field(ls, 4, 6)}, ${flags(ls, [
      ['TrErr', 10],
      ['Train', 11],
      ['SlotClk', 12],
      ['DLActive', 13],
      ['BWMgmt', 14],
      ['ABWMgmt', 15],
    ])}`,
  );
  return out;
}

const ACS: Flags = [
  ['SrcValid', 0],
  ['TransBlk', 1],
  ['ReqRedir', 2],
  ['CmpltRedir', 3],
  ['UpstreamFwd', 4],
  ['EgressCtrl', 5],
  ['DirectTrans', 6],
];
/** PCI_EXT_CAP_ID_ACS. */
export const PCI_EXT_CAP_ID_ACS = 0x0d;

/** ls-ecaps.c:cap_acs. */
function acs(r: ConfigRead, at: number): string[] {
  return [
    'Access Control Services',
    `\t\tACSCap:\t${flags(r(at + 4, 2), ACS)}`,
    `\t\tACSCtl:\t${flags(r(at + 6, 2), ACS)}`,
  ];
}

const CLASSES: Record<number, string> = {
  0x0200: 'Ethernet controller',
  0x0280: 'Network controller',
  0x0300: 'VGA compatible controller',
  0x0604: 'PCI bridge',
  0x0108: 'Non-Volatile memory controller',
};

/** One device as `lspci -vvv` prints it. */
export function lspciVerbose(d: LspciDevice): string {
  const r = d.read;
  const cls = r(R.PCI_CLASS_DEVICE, 2);
  const out = [
    `${d.slot} ${CLASSES[cls] ?? `Class ${hex(cls, 4)}`}: Device ` +
      `${hex(r(R.PCI_VENDOR_ID, 2), 4)}:${hex(r(R.PCI_DEVICE_ID, 2), 4)} (rev ${hex(r(R.PCI_REVISION_ID, 1), 2)})`,
  ];
  out.push(`\tSubsystem: Device ${hex(r(R.PCI_SUBSYSTEM_VENDOR_ID, 2), 4)}:${hex(r(R.PCI_SUBSYSTEM_ID, 2), 4)}`);
  const cmd = r(R.PCI_COMMAND, 2);
  out.push(
    `\tControl: ${flags(cmd, [
      ['I/O', 0],
      ['Mem', 1],
      ['BusMaster', 2],
      ['SpecCycle', 3],
      ['MemWINV', 4],
      ['VGASnoop', 5],
      ['ParErr', 6],
      ['Stepping', 7],
      ['SERR', 8],
      ['FastB2B', 9],
      ['DisINTx', 10],
    ])}`,
  );
  const st = r(R.PCI_STATUS, 2);
  const devsel = ['fast', 'medium', 'slow', '??'][field(st, 9, 2)];
  out.push(
    `\tStatus: ${flags(st, [
      ['Cap', 4],
      ['66MHz', 5],
      ['UDF', 6],
      ['FastB2B', 7],
      ['ParErr', 8],
    ])} DEVSEL=${devsel} ${flags(st, [
      ['>TAbort', 11],
      ['<TAbort', 12],
      ['<MAbort', 13],
      ['>SERR', 14],
      ['<PERR', 15],
      ['INTx', 3],
    ])}`,
  );
  const pin = r(R.PCI_INTERRUPT_PIN, 1);
  if (pin) out.push(`\tInterrupt: pin ${String.fromCharCode(64 + pin)} routed to IRQ ${r(R.PCI_INTERRUPT_LINE, 1)}`);
  out.push(...regions(d, cmd));
  // The capability list, guarded against loops as lspci.c:show_caps does.
  const seen = new Set<number>();
  for (
    let at = st & R.PCI_STATUS_CAP_LIST ? r(R.PCI_CAPABILITY_LIST, 1) & ~3 : 0;
    at && !seen.has(at);
    at = r(at + 1, 1) & ~3
  ) {
    seen.add(at);
    const id = r(at, 1);
    const body =
      id === R.PCI_CAP_ID_PM
        ? pm(r, at)
        : id === R.PCI_CAP_ID_MSI
          ? msi(r, at)
          : id === R.PCI_CAP_ID_MSIX
            ? msix(r, at)
            : id === R.PCI_CAP_ID_EXP
              ? express(r, at)
              : [`#${hex(id, 2)} [${hex(r(at + 2, 2), 4)}]`];
    out.push(`\tCapabilities: [${hex(at, 2)}] ${body[0]}`, ...body.slice(1));
  }
  if (d.configSize > 256) {
    const ext = new Set<number>();
    for (let at = 0x100; at && !ext.has(at); ) {
      ext.add(at);
      const h = r(at, 4);
      if (h === 0 || h === 0xffffffff) break;
      const id = field(h, 0, 16);
      const body = id === PCI_EXT_CAP_ID_ACS ? acs(r, at) : [`Extended Capability ID ${hex(id, 4)}`];
      out.push(`\tCapabilities: [${hex(at, 3)} v${field(h, 16, 4)}] ${body[0]}`, ...body.slice(1));
      at = field(h, 20, 12) & ~3;
    }
  }
  return out.join('\n') + '\n';
}
