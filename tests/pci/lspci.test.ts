// `vdm pci -v`: lspci -vvv of the guest-visible config space (pciutils lspci.c:show_verbose,
// ls-caps.c:cap_pm/cap_msi/cap_msix/cap_express_dev/cap_express_link, ls-ecaps.c:cap_acs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { packageRoot } from '../../src/cli/package-root.ts';
import { lspciVerbose, PCI_EXT_CAP_ID_ACS } from '../../src/pci/index.ts';

const golden = (name: string) => readFileSync(join(packageRoot(), 'tests/fixtures/lspci', name), 'utf8');

test('golden: vdm pci -v on q35 (MSI-X Enable+ Count=128, table BAR=0 offset=00002000, PBA offset=00003000)', () => {
  const r = runCli(['pci', '-v', '--machine', 'q35']);
  assert.is(r.code, 0, r.err);
  assert.fixture(r.out, golden('q35-pci-v.txt'));
  assert.match(r.out, 'DisINTx+', 'the MSI-X driver set INTX_DISABLE (drivers/pci/msi/msi.c:msix_capability_init)');
  assert.match(
    r.out,
    'MSI-X: Enable+ Count=128 Masked-\n\t\tVector table: BAR=0 offset=00002000\n\t\tPBA: BAR=0 offset=00003000',
  );
  assert.match(r.out, 'Region 0: Memory at 100000000 (64-bit, non-prefetchable) [size=16K]');
  assert.match(r.out, 'Region 4: Memory at 100004000 (64-bit, prefetchable) [size=16K]');
});

test('golden: vdm pci -v on virt with x-msix-relocation=bar2 shows the table where QEMU moved it', () => {
  const r = runCli(['pci', '-v', '--machine', 'virt', '--device', 'host=0000:01:00.0,x-msix-relocation=bar2']);
  assert.fixture(r.out, golden('virt-relocated-pci-v.txt'));
  assert.match(r.out, 'Vector table: BAR=2 offset=00000000');
});

/** A config space in a byte array, read little-endian as the bus does. */
function space(bytes: Uint8Array) {
  return (o: number, len: number) => {
    let v = 0;
    for (let i = len - 1; i >= 0; i--) v = v * 256 + bytes[o + i]!;
    return v;
  };
}

test("decodes a root port's link (speed, width, ASPM, DLActive) and ACS bits, and MSI masking", () => {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 0x8086, true);
  dv.setUint16(2, 0x1901, true);
  dv.setUint16(4, 0x0407, true); // I/O+ Mem+ BusMaster+ DisINTx+
  dv.setUint16(6, 0x0010, true); // Cap+
  dv.setUint16(0x0a, 0x0604, true);
  b[0x34] = 0x50;
  // MSI at 0x50: enabled, 4 of 8 vectors, 64-bit, maskable; mask 0x5, pending 0x1.
  b.set([0x05, 0x80], 0x50);
  dv.setUint16(0x52, 0x0001 | (3 << 1) | (2 << 4) | 0x80 | 0x100, true);
  dv.setUint32(0x54, 0xfee00000, true);
  dv.setUint32(0x58, 0x1, true);
  dv.setUint16(0x5c, 0x4021, true);
  dv.setUint32(0x60, 0x5, true);
  dv.setUint32(0x64, 0x1, true);
  // PCI Express v2 root port at 0x80: link cap 8GT/s x16 ASPM L1 port 3; link up at 8GT/s x8.
  b.set([0x10, 0x00], 0x80);
  dv.setUint16(0x82, 0x0042, true);
  dv.setUint32(0x84, 0x00008002, true); // MaxPayload 512, RBE+
  dv.setUint16(0x88, 0x0020 | 0x000f, true); // MPS 256, all error reporting on
  dv.setUint32(0x8c, (3 << 24) | (2 << 10) | (16 << 4) | 3 | (1 << 20), true);
  dv.setUint16(0x90, 0x0042, true); // ASPM L1 Enabled, CommClk+
  dv.setUint16(0x92, 0x2000 | (8 << 4) | 3, true);
  // ACS extended capability at 0x100: SV TB RR CR UF supported; SV RR CR UF enabled.
  dv.setUint32(0x100, PCI_EXT_CAP_ID_ACS | (1 << 16), true);
  dv.setUint16(0x104, 0x1f, true);
  dv.setUint16(0x106, 0x1d, true);
  const text = lspciVerbose({ slot: '00:1c.0', read: space(b), bars: [], configSize: 4096 });
  assert.match(text, '00:1c.0 PCI bridge: Device 8086:1901 (rev 00)');
  assert.match(
    text,
    'Control: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- FastB2B- DisINTx+',
  );
  assert.match(
    text,
    'Capabilities: [50] MSI: Enable+ Count=4/8 Maskable+ 64bit+\n\t\tAddress: 00000001fee00000  Data: ' +
      '4021\n\t\tMasking: 00000005  Pending: 00000001',
  );
  assert.match(text, 'Capabilities: [80] Express (v2) Root Port (Slot-), MSI 00');
  assert.match(text, 'DevCap:\tMaxPayload 512 bytes, PhantFunc 0\n');
  assert.match(text, 'DevCtl:\tReport errors: Correctable+ Non-Fatal+ Fatal+ Unsupported+');
  assert.match(text, 'MaxPayload 256 bytes, MaxReadReq 128 bytes');
  assert.match(
    text,
    'LnkCap:\tPort #3, Speed 8GT/s, Width x16, ASPM L1, Exit Latency L0s <64ns, L1 <1us\n\t\t\tClockPM- ' +
      'Surprise- LLActRep+ BwNot- ASPMOptComp-',
  );
  assert.match(text, 'LnkCtl:\tASPM L1 Enabled; RCB 64 bytes Disabled- CommClk+');
  assert.match(text, 'LnkSta:\tSpeed 8GT/s, Width x8, TrErr- Train- SlotClk- DLActive+ BWMgmt- ABWMgmt-');
  assert.match(
    text,
    'Capabilities: [100 v1] Access Control Services\n\t\tACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ ' +
      'UpstreamFwd+ EgressCtrl- DirectTrans-\n\t\tACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ ' +
      'UpstreamFwd+ EgressCtrl- DirectTrans-',
  );
});

test('a capability list that loops ends (lspci.c:show_caps guards the same way)', () => {
  const b = new Uint8Array(256);
  b[6] = 0x10;
  b[0x34] = 0x40;
  b.set([0x01, 0x40], 0x40); // PM pointing at itself
  const text = lspciVerbose({ slot: '00:00.0', read: space(b), bars: [], configSize: 256 });
  assert.is(text.match(/Capabilities:/g)!.length, 1);
});

test.run();
