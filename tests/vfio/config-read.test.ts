// What a guest reads from an assigned device's config space: hw/vfio/pci.c:vfio_pci_read_config
// combines, bit by bit, QEMU's copy where vdev->emulated_config_bits is set (vfio_pci_config_setup,
// vfio_add_std_cap, vfio_realize for MSI/MSI-X) and the kernel's config region elsewhere, which
// drivers/vfio/pci/vfio_pci_config.c virtualizes (init_pci_cap_basic_perm, vfio_default_config_read).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as R from '../../src/common/pci-regs.ts';
import * as U from '../../src/common/vfio-uapi.ts';
import { assignBars, hostJson, hostSide, makeMachine } from './helpers.ts';
import type { Machine, VfioPciDevice, VfioPciOptions } from '../../src/index.ts';

/** The legacy-INTx NIC behind 00:1c.0 on the x86 host (pin A, a 256K ROM, one 32-bit BAR). */
const INTX_NIC = '0000:08:00.0';

function booted(options: Partial<VfioPciOptions> = {}, host: string | object = 'x86-4k-ir') {
  const m = makeMachine('q35', host, [{ host: INTX_NIC, ...options }]);
  const d = m.devices[0]!;
  const bars = assignBars(m, d);
  return { m, d, k: hostSide(d), bars, read: (o: number, len: number) => guestRead(m, d, o, len) };
}

function guestRead(m: Machine, d: VfioPciDevice, offset: number, len: number): number {
  return m.pciHost.configRead(0, d.devfn, offset, len);
}

/** What the kernel's config region answers QEMU's pread with. */
function kernelRead(d: VfioPciDevice, offset: number, len: number): number {
  return d.deviceFd.read(U.VFIO_PCI_CONFIG_REGION_INDEX, offset, len);
}

test("STATUS.INTERRUPT is the device's: set while it asserts INTx, clear after (vfio_pci_read_config; the kernel virtualizes only STATUS.CAP_LIST, init_pci_cap_basic_perm)", () => {
  const { m, d, k, read } = booted();
  m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
  assert.is(read(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT, 0);
  k.hw.setIntx(true);
  assert.is(read(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT, R.PCI_STATUS_INTERRUPT, 'pending while asserted');
  assert.is(
    d.cfg.word(R.PCI_STATUS) & R.PCI_STATUS_INTERRUPT,
    0,
    "QEMU's own copy never has it: the guest reads it from the kernel",
  );
  assert.is(read(R.PCI_COMMAND, 4) >>> 16, read(R.PCI_STATUS, 2), 'a dword read at COMMAND combines the same way');
  k.hw.setIntx(false);
  assert.is(read(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT, 0, 'clear once the device deasserts');
});

test("COMMAND is the kernel's: INTX_DISABLE from its vconfig, MEMORY/IO/MASTER from the device (vfio_pci_config.c:init_pci_cap_basic_perm, vfio_default_config_read)", () => {
  const { m, d, k, read } = booted();
  const cmd = R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER;
  m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, cmd, 2);
  assert.is(read(R.PCI_COMMAND, 2), cmd, 'the write reached the device (vfio_pci_write_config writes through)');
  assert.ok(k.hw.busMaster && k.hw.memoryDecode);
  // The device loses memory decode behind QEMU's back (a backdoor reset): the guest sees it.
  k.hw.memoryDecode = false;
  assert.is(read(R.PCI_COMMAND, 2), R.PCI_COMMAND_MASTER, 'MEMORY read from the device');
  assert.is(d.cfg.word(R.PCI_COMMAND), cmd, "while QEMU's copy (which maps the BARs) still has it");
  // vfio_intx_handler masks the asserting device with pci_check_and_mask_intx: the hardware's
  // INTX_DISABLE goes up, the guest's (kept in vconfig) does not.
  k.hw.setIntx(true);
  assert.ok(k.hw.intxDisabled, 'the kernel masked INTx at the device');
  assert.is(read(R.PCI_COMMAND, 2) & R.PCI_COMMAND_INTX_DISABLE, 0, "the kernel's own mask is hidden");
  m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE, 2);
  assert.is(read(R.PCI_COMMAND, 2), R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE, "the guest's own reads back");
  // Memory-write-and-invalidate: hardwired to 0 on a PCI Express function.
  m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_INVALIDATE, 2);
  assert.is(read(R.PCI_COMMAND, 2), 0, 'a bit this device does not implement reads 0 from the device');
  // Parity error response: the device implements it, QEMU's copy does not take it (pci_init_wmask:
  // IO, MEMORY, MASTER, INTX_DISABLE and SERR); the guest reads the device's.
  m.pciHost.configWrite(0, d.devfn, R.PCI_COMMAND, R.PCI_COMMAND_PARITY | R.PCI_COMMAND_SERR, 2);
  assert.is(read(R.PCI_COMMAND, 2), R.PCI_COMMAND_PARITY | R.PCI_COMMAND_SERR, 'both reach the device');
  assert.is(d.cfg.word(R.PCI_COMMAND), R.PCI_COMMAND_SERR, "QEMU's copy has SERR only");
});

test("a BAR and the ROM BAR stay QEMU's (vfio_pci_config_setup: 'QEMU can choose to expose the ROM or not', 'QEMU can also add or extend BARs')", () => {
  const { d, bars, read } = booted();
  const bar0 = Number(bars[0]!);
  // QEMU's own pwrite of a different value to the kernel alone: the guest still reads QEMU's BAR.
  d.deviceFd.write(U.VFIO_PCI_CONFIG_REGION_INDEX, R.PCI_BASE_ADDRESS_0, 0, 4);
  assert.is(kernelRead(d, R.PCI_BASE_ADDRESS_0, 4), 0);
  assert.is(read(R.PCI_BASE_ADDRESS_0, 4), bar0);
  // rombar=0: the kernel sizes the device's 256K ROM, but QEMU exposes no ROM BAR.
  const hidden = booted({ romBar: false });
  hidden.m.pciHost.configWrite(0, hidden.d.devfn, R.PCI_ROM_ADDRESS, 0xfffff800, 4);
  assert.is(kernelRead(hidden.d, R.PCI_ROM_ADDRESS, 4), 0xfffc0000, "the kernel's ROM BAR sizes as 256K");
  assert.is(hidden.read(R.PCI_ROM_ADDRESS, 4), 0, "the guest's reads 0: QEMU registered no ROM");
});

test("the interrupt line is not emulated: QEMU writes it through and reads the kernel's vconfig (init_pci_cap_basic_perm: PCI_INTERRUPT_LINE ALL_VIRT, ALL_WRITE)", () => {
  const { m, d, read } = booted();
  m.pciHost.configWrite(0, d.devfn, R.PCI_INTERRUPT_LINE, 11, 1);
  assert.is(read(R.PCI_INTERRUPT_LINE, 1), 11);
  assert.is(kernelRead(d, R.PCI_INTERRUPT_LINE, 1), 11, 'the kernel keeps what the guest wrote');
  d.deviceFd.write(U.VFIO_PCI_CONFIG_REGION_INDEX, R.PCI_INTERRUPT_LINE, 5, 1);
  assert.is(read(R.PCI_INTERRUPT_LINE, 1), 5, "the guest reads the kernel's byte, not QEMU's copy");
  assert.is(d.cfg.byte(R.PCI_INTERRUPT_LINE), 11);
  assert.is(read(R.PCI_INTERRUPT_PIN, 1), 1, 'the pin, virtualized by the kernel, is the device pin');
});

test("HEADER_TYPE: only the multifunction bit is QEMU's (vfio_pci_config_setup emulates PCI_HEADER_TYPE_MULTI_FUNCTION)", () => {
  const host = hostJson('x86-4k-ir');
  const walk = (l: Record<string, unknown>[]) => {
    for (const f of l) {
      if (f.address === INTX_NIC) f.multifunction = true;
      walk((f.children as Record<string, unknown>[]) ?? []);
    }
  };
  walk(host.pci);
  const { d, read } = booted({}, host);
  assert.is(
    kernelRead(d, R.PCI_HEADER_TYPE, 1),
    R.PCI_HEADER_TYPE_MULTI_FUNCTION,
    'the host function is multifunction',
  );
  assert.is(read(R.PCI_HEADER_TYPE, 1), R.PCI_HEADER_TYPE_NORMAL, 'QEMU presents a single function');
  const multi = booted({ multifunction: true }, host);
  assert.is(multi.read(R.PCI_HEADER_TYPE, 1), R.PCI_HEADER_TYPE_MULTI_FUNCTION);
});

test("MSI-X is QEMU's whole, other capability bodies the kernel's (vfio_add_std_cap, vfio_realize)", () => {
  const m = makeMachine('q35', 'x86-4k-ir');
  const d = m.devices[0]!;
  const k = hostSide(d);
  const read = (o: number, len: number) => guestRead(m, d, o, len);
  const PM = 0x40;
  const MSIX = 0x70;
  // PMCSR lives on the device: a power state the kernel set shows through.
  k.hw.config.bytes[PM + 4] = 3;
  assert.is(read(PM + 4, 2) & 3, 3, 'PMCSR is read from the kernel (cap_perms: vfio_direct_config_read)');
  assert.is(d.cfg.byte(PM + 4), 0, "QEMU's copy is the one taken at realize");
  m.pciHost.configWrite(0, d.devfn, MSIX + 2, 0x8000, 2);
  assert.is(read(MSIX + 2, 2) & 0x8000, 0x8000, 'MSI-X Enable is QEMU-emulated');
  assert.is(kernelRead(d, MSIX + 2, 2) & 0x8000, 0, 'the kernel keeps its MSI-X capability read-only');
});

test('on a PCI Express root bus an Endpoint reads as a Root Complex Integrated Endpoint without link registers; on a conventional one as the device has it (hw/vfio/pci.c:vfio_setup_pcie_cap)', () => {
  const EXP = 0x80;
  const seen = (machine: string) => {
    const m = makeMachine(machine, 'x86-4k-ir');
    const d = m.devices[0]!;
    const k = hostSide(d);
    // The device trains its link: x4 at 5GT/s capable, up at x4 2.5GT/s.
    k.hw.config.bytes.set([0x42, 0x00, 0x00, 0x00], EXP + R.PCI_EXP_LNKCAP);
    k.hw.config.bytes.set([0x41, 0x00], EXP + R.PCI_EXP_LNKSTA);
    m.pciHost.configWrite(0, d.devfn, EXP + R.PCI_EXP_LNKCTL, 0x3, 2);
    const read = (o: number, len: number) => guestRead(m, d, o, len);
    return {
      type: (read(EXP + R.PCI_EXP_FLAGS, 2) & R.PCI_EXP_FLAGS_TYPE) >> 4,
      kernelType: (kernelRead(d, EXP + R.PCI_EXP_FLAGS, 2) & R.PCI_EXP_FLAGS_TYPE) >> 4,
      link: [read(EXP + R.PCI_EXP_LNKCAP, 4), read(EXP + R.PCI_EXP_LNKCTL, 2), read(EXP + R.PCI_EXP_LNKSTA, 2)],
      version: read(EXP + R.PCI_EXP_FLAGS, 2) & 0xf,
    };
  };
  const q35 = seen('q35');
  assert.is(q35.kernelType, R.PCI_EXP_TYPE_ENDPOINT);
  assert.is(q35.type, R.PCI_EXP_TYPE_RC_END, 'the type bits are emulated');
  assert.equal(q35.link, [0, 0, 0], 'LNKCAP, LNKCTL and LNKSTA read 0 and take no writes');
  assert.is(q35.version, 2, "the other flag bits are still the device's");
  const pc = seen('pc');
  assert.is(pc.type, R.PCI_EXP_TYPE_ENDPOINT, 'a conventional root bus keeps the capability as is');
  assert.equal(pc.link, [0x42, 0, 0x41]);
});

test.run();
