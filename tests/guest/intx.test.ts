// INTx end to end: an INTx-only NIC completes the workload on every machine type, through KVM's
// resampling irqfd and through QEMU's VMM path (hw/vfio/pci.c vfio_intx_*), routed as each board
// wires its pins; the driver falls back MSI-X -> MSI -> INTx (pci_alloc_irq_vectors) and turns INTx
// off when it gets MSI or MSI-X (pci_intx_for_msi); a shared line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  boot,
  bootNicFarm,
  infoMtree,
  loadMachineFile,
  parseGuestFile,
  parseHostFile,
  SimHost,
  type VfioPciOptions,
} from '../../src/index.ts';
import { runCli } from '../../src/cli/main.ts';
import { hostJson, hostSide, MACHINES_DIR } from '../vfio/helpers.ts';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE } from '../../src/common/pci-regs.ts';

const MACHINES = MACHINES_DIR;
const INTX_NIC = '0000:08:00.0';

function program(extra: object = {}) {
  return parseGuestFile(
    JSON.stringify({ name: 't', vectors: 2, ringSize: 16, bufferSize: 64, iterations: 40, ...extra }),
    't.json',
  );
}

function bootOn(
  machine: string,
  devices: VfioPciOptions[],
  extra: object = {},
  editHost?: (j: { pci: Record<string, unknown>[] }) => void,
) {
  const spec = loadMachineFile(`${MACHINES}${machine}.json`);
  const j = hostJson(spec.defaultHost!);
  j.allowUnsafeInterrupts = true; // virt-gicv2m's host does not isolate MSIs; INTx does not care
  editHost?.(j);
  return boot(spec, new SimHost(parseHostFile(JSON.stringify(j), 'h.json')), program(extra), devices);
}

// Where each board sends slot S pin A, and what the driver therefore requests.
const EXPECTED_IRQ: Record<string, (slot: number) => number> = {
  pc: (s) => [10, 10, 11, 11][(s - 1) & 3]!, // PIIX3 PIRQ (slot - 1 + pin) & 3, SeaBIOS's 10, 10, 11, 11
  q35: (s) => 16 + (s % 4) + 4, // ICH9 PIRQ[E-H] -> GSI 20-23
  virt: (s) => 35 + (s % 4), // GPEX: SPIs 3-6 (INTID 35-38), swizzled
  'virt-gicv2m': (s) => 35 + (s % 4),
  pseries: (s) => 4096 + (s % 4), // the PHB's four LSIs from SPAPR_IRQ_PCI_LSI
  ppce500: (s) => 1 + (s % 4), // MPIC sources 1-4
};

for (const machine of Object.keys(EXPECTED_IRQ)) {
  for (const noKvmIntx of [false, true]) {
    test(`${machine}, ${noKvmIntx ? 'VMM path (x-no-kvm-intx=on)' : 'KVM irqfd + resample'}: the INTx-only ` +
      'NIC completes every transmit, one interrupt each', () => {
      const r = bootOn(machine, [{ host: INTX_NIC, noKvmIntx }]);
      const d = r.report.devices[0]!;
      const slot = r.machine.devices[0]!.devfn >> 3;
      assert.is(r.driver!.irqMode, 'intx');
      assert.is(r.driver!.completions, 40);
      assert.equal(r.driver!.handled, [40]);
      assert.is(r.driver!.vectorIrqs[0], EXPECTED_IRQ[machine]!(slot));
      assert.is(d.intx!.irq, EXPECTED_IRQ[machine]!(slot));
      assert.is(d.intx!.raised, 40, 'the host kernel took 40 interrupts');
      assert.is(r.report.interruptsDelivered, 40, 'and the guest 40');
      assert.is(r.machine.irq.eois, 40, 'each EOIed');
      if (noKvmIntx) {
        assert.is(d.intx!.path, 'vmm');
        assert.is(d.intx!.viaVmm, 40);
        assert.is(d.intx!.vmmEois, 40, 'vfio_intx_eoi: each EOI came from a trapped BAR access');
        assert.is(
          d.intx!.mmapsDisabled,
          1,
          'the mmaps went off at the first interrupt and stayed off (1100 ms > the run)',
        );
        assert.ok(d.bars[0]!.accesses.trapped > 80, 'the report shows the trapped accesses');
        assert.ok(r.report.warnings.some((w) => /trapped/.test(w)));
      } else {
        assert.is(d.intx!.path, 'kvm-resample');
        assert.is(d.intx!.viaVmm, 0);
        assert.is(d.bars[0]!.accesses.trapped, 0, 'the mmaps stayed on');
        assert.ok(d.bars[0]!.accesses.mmap > 80);
      }
    });
  }
}

test('VMM path: the mmaps come back x-intx-mmap-timeout-ms after an interrupt, in guest time ' +
  '(vfio_intx_mmap_enable)', () => {
  const slow = bootOn('q35', [{ host: INTX_NIC, noKvmIntx: true, intxMmapTimeoutMs: 1 }], { iterationUs: 2000 });
  const d = slow.report.devices[0]!.intx!;
  assert.is(d.mmapsDisabled, 40, 'off at each interrupt');
  assert.is(d.mmapsReenabled, 40, 'and back 1 ms later, before the next (2 ms apart)');
  assert.is(slow.driver!.completions, 40);
  const never = bootOn('q35', [{ host: INTX_NIC, noKvmIntx: true, intxMmapTimeoutMs: 0 }], { iterationUs: 2000 });
  assert.equal(
    [never.report.devices[0]!.intx!.mmapsDisabled, never.report.devices[0]!.intx!.mmapsReenabled],
    [1, 0],
    'a timeout of 0 disables the timer',
  );
});

test('info mtree shows the mmap subregions disabled while INTx is on the VMM path', () => {
  const r = bootOn('q35', [{ host: INTX_NIC, noKvmIntx: true }]);
  const tree = infoMtree([r.machine.addressSpaceMemory], { disabled: true });
  assert.match(tree, /\(prio 0, ramd\): 0000:08:00\.0 BAR 0 mmaps\[0\] \[disabled\]/);
  const kvm = bootOn('q35', [{ host: INTX_NIC }]);
  assert.not.match(infoMtree([kvm.machine.addressSpaceMemory], { disabled: true }), /mmaps\[0\] \[disabled\]/);
});

test('pc: INTx is routed only once the firmware programs the PIIX3 PIRQ links; the routing notifier then ' +
  'turns on the KVM path', () => {
  const r = bootOn('pc', [{ host: INTX_NIC }]);
  const dev = r.machine.devices[0]!;
  assert.is(dev.intx.path, 'kvm-resample');
  assert.ok(
    dev.calls.filter((c) => c === 'SET_IRQS(INTX, EVENTFD|UNMASK, 0, 1)').length === 1,
    'the resample fd was bound after the PIRQ write',
  );
  assert.is(r.machine.piix3!.cfg.byte(0x60 + (((dev.devfn >> 3) - 1) & 3)), EXPECTED_IRQ.pc!(dev.devfn >> 3));
});

test('pci_alloc_irq_vectors falls back MSI-X -> MSI -> INTx; noMsix/noMsi force it', () => {
  const all = bootOn('q35', [{ host: '0000:01:00.0' }]);
  assert.is(all.driver!.irqMode, 'msix');
  const msi = bootOn('q35', [{ host: '0000:01:00.0' }], { noMsix: true });
  assert.is(msi.driver!.irqMode, 'msi');
  assert.is(msi.driver!.completions, 40);
  assert.equal(msi.driver!.handled, [40]);
  assert.ok(msi.machine.devices[0]!.calls.includes('SET_IRQS(MSI, EVENTFD|TRIGGER, 0, 1)'));
  const intx = bootOn('q35', [{ host: '0000:01:00.0' }], { noMsix: true, noMsi: true });
  assert.is(intx.driver!.irqMode, 'intx');
  assert.is(intx.driver!.completions, 40);
  assert.is(intx.report.devices[0]!.intx!.raised, 40);
  const rtasMsi = bootOn('pseries', [{ host: '0000:01:00.0' }], { noMsix: true });
  assert.is(rtasMsi.driver!.irqMode, 'intx', 'the POWER9 NIC has no MSI capability: straight to INTx');
});

test('with MSI-X or MSI the driver sets COMMAND.INTX_DISABLE (drivers/pci/msi/msi.c: pci_intx_for_msi in ' +
  'msix_capability_init, msi_capability_init), the kernel takes it as virq_disabled, and the boot report still ' +
  'counts every interrupt', () => {
  for (const [extra, mode, disabled] of [
    [{}, 'msix', true],
    [{ noMsix: true }, 'msi', true],
    [{ noMsix: true, noMsi: true }, 'intx', false],
  ] as const) {
    const r = bootOn('q35', [{ host: '0000:01:00.0' }], extra);
    const d = r.machine.devices[0]!;
    const k = hostSide(d);
    assert.is(r.driver!.irqMode, mode);
    const cmd = r.machine.pciHost.configRead(0, d.devfn, PCI_COMMAND, 2);
    assert.is((cmd & PCI_COMMAND_INTX_DISABLE) !== 0, disabled, `${mode}: the guest's COMMAND`);
    assert.is(k.intx.virqDisabled, disabled, `${mode}: the kernel's virq_disabled`);
    assert.is(k.hw.intxDisabled, disabled, `${mode}: the PCI 2.3 bit follows outside INTx`);
    assert.is(r.driver!.completions, 40);
    assert.is(r.report.interruptsDelivered, 40, `${mode}: every completion interrupt delivered`);
    assert.is(r.report.devices[0]!.intx!.raised, mode === 'intx' ? 40 : 0);
  }
});

test('out of LAPIC vectors, the driver falls back to INTx and the device still works (verdict: working, INTx)', () => {
  const spec = loadMachineFile(`${MACHINES}q35.json`);
  const r = bootNicFarm(spec, hostJson('x86-4k-ir'), program({ vectors: 64, iterations: 10 }), 5);
  const v = r.report.verdict;
  assert.equal(
    v.devices.map((d) => d.working),
    [true, true, true, true, true],
  );
  assert.match(v.devices[4]!.summary, '10/10 transmits completed, INTx via KVM irqfd');
});

test('a shared line: two INTx NICs on one guest interrupt, each handler reads its own cause, every interrupt ' +
  'handled', () => {
  const twin = (j: { pci: Record<string, unknown>[] }) => {
    const port = j.pci.find((f) => f.address === '0000:00:1c.0') as { children: Record<string, unknown>[] };
    j.pci.push({ ...port, address: '0000:00:1d.0', children: [{ ...port.children[0], address: '0000:09:00.0' }] });
  };
  // pc slots 3 and 7 both swizzle onto PIRQC (IRQ 11).
  const r = bootOn(
    'pc',
    [
      { host: INTX_NIC, addr: '3' },
      { host: '0000:09:00.0', addr: '7' },
    ],
    {},
    twin,
  );
  assert.equal(r.driver!.vectorIrqs, [11, 11]);
  assert.is(r.driver!.completions, 80);
  assert.equal(r.driver!.handled, [40, 40]);
  assert.is(r.report.devices[0]!.intx!.raised + r.report.devices[1]!.intx!.raised, 80);
});

test('vdm pci shows "IRQ N, pin A" (PCI_INTERRUPT_LINE as the guest wrote it, pci_assign_irq)', () => {
  const r = runCli(['pci', '--machine', 'q35', '--device', `host=${INTX_NIC}`]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /IRQ 21, pin A\./);
});

test.run();
