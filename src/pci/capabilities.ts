import type { PciDevice } from './pci-device.ts';
import * as R from '../common/pci-regs.ts';

/**
 * A power-management capability, as QEMU devices add it: PMC version 1.2, PMCSR power state
 * and PME enable writable, PME status write-1-to-clear.
 */
export function addPmCapability(dev: PciDevice, offset = 0): number {
  const c = dev.cfg;
  const pos = c.addCapability(R.PCI_CAP_ID_PM, offset, R.PCI_PM_SIZEOF);
  c.setWord(pos + 2, 0x3);
  c.setWord(pos + R.PCI_PM_CTRL, R.PCI_PM_CTRL_STATE_MASK | R.PCI_PM_CTRL_PME_ENABLE, c.wmask);
  c.setWord(pos + R.PCI_PM_CTRL, R.PCI_PM_CTRL_PME_STATUS, c.w1cmask);
  return pos;
}

/**
 * The PCI Express capability, version 2 (hw/pci/pcie.c:pcie_cap_init): device/port type in the
 * flags, error-reporting enables in DEVCTL writable. Needs a 4 KiB config space.
 */
export function addExpressCapability(dev: PciDevice, type = R.PCI_EXP_TYPE_ENDPOINT, offset = 0): number {
  const c = dev.cfg;
  if (!c.express) throw new RangeError(`${dev.name}: a PCI Express capability needs an express (4 KiB) config space`);
  const pos = c.addCapability(R.PCI_CAP_ID_EXP, offset, R.PCI_EXP_VER2_SIZEOF);
  c.setWord(pos + R.PCI_EXP_FLAGS, ((type << 4) & 0xf0) | 2);
  c.setWord(pos + R.PCI_EXP_DEVCTL, 0x000f, c.wmask); // CERE | NFERE | FERE | URRE
  return pos;
}
