import { readInputFile } from '../util/json-reader.ts';
import { parseHostFile, isBridge, type HostSpec, type ReservedRegion } from './host-file.ts';
import { assignGroups, probeOrder, acsEnabled, type HostFunction, type IommuGroup } from './iommu-groups.ts';
import { kernelBehaviour, type KernelBehaviour } from './kernel/behaviour.ts';
import { HostFileError } from './errors.ts';
import { HostIrqLines } from './kernel/intx.ts';

/** Why a group is or is not usable by VFIO. */
export interface Viability {
  viable: boolean;
  /** Functions that keep the group from being viable, with the driver in the way. */
  blockers: { address: string; driver: string }[];
  /** What the user should do, or why it is fine. */
  advice: string;
}

/** vfio-pci and its variant drivers, pci-stub and pcieport set driver_managed_dma. */
export function driverManagedDma(driver: string): boolean {
  return isVfioDriver(driver) || driver === 'pci-stub' || driver === 'pcieport';
}

export function isVfioDriver(driver: string | null): boolean {
  return driver !== null && (driver.startsWith('vfio') || driver.endsWith('_vfio_pci'));
}

/** Default reserved regions of each IOMMU (intel-iommu, amd_iommu, arm-smmu MSI_IOVA_BASE). */
function defaultReserved(kind: HostSpec['iommu']['kind']): ReservedRegion[] {
  const msi: ReservedRegion = { start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' };
  if (kind === 'intel-vtd') return [msi];
  if (kind === 'amd-vi') return [msi, { start: 0xfd00000000n, end: 0xffffffffffn, type: 'reserved' }];
  if (kind === 'arm-smmu-v3' || kind === 'arm-smmu-v2') return [{ start: 0x8000000n, end: 0x80fffffn, type: 'sw-msi' }];
  return [];
}

/**
 * The simulated host: its PCI topology, IOMMU groups, kernel behaviours and MSI isolation facts.
 * It knows nothing of guests or machines.
 */
export class SimHost {
  readonly kernel: KernelBehaviour;
  readonly functions: HostFunction[];
  readonly groups: IommuGroup[];
  readonly reserved: ReservedRegion[];
  /** The host's INTx lines (shared by every function wired to one). */
  readonly irqLines = new HostIrqLines();
  /** The host kernel's log (dmesg): what drivers print, such as pci_get_rom_size's complaints. */
  readonly dmesg: string[] = [];

  constructor(readonly spec: HostSpec) {
    this.kernel = kernelBehaviour(spec.kernel);
    this.functions = probeOrder(spec.functions);
    this.groups = assignGroups(this.functions);
    this.reserved = spec.iommu.reserved.length ? spec.iommu.reserved : defaultReserved(spec.iommu.kind);
  }

  /** Loads and validates a host file. */
  static load(path: string, display = path): SimHost {
    return new SimHost(parseHostFile(readInputFile(path, 'host file', HostFileError, undefined, display), display));
  }

  functionAt(address: string): HostFunction | undefined {
    const a = address.toLowerCase();
    return this.functions.find((f) => f.spec.address === a || f.spec.address.slice(5) === a);
  }

  /**
   * Group viability: before 5.19 every device must be unbound, on a vfio driver, on pci-stub, or
   * a bridge (vfio.c:vfio_dev_viable); from 5.19 no device may hold the default DMA domain, i.e.
   * be bound to a driver without driver_managed_dma (iommu_group_dma_owner_claimed).
   */
  viability(group: IommuGroup): Viability {
    const blockers = group.functions
      .filter((f) => {
        const d = f.spec.driver;
        if (d === null) return false;
        return this.kernel.dmaOwnership
          ? !driverManagedDma(d)
          : !(isVfioDriver(d) || d === 'pci-stub' || isBridge(f.spec.type));
      })
      .map((f) => ({ address: f.spec.address, driver: f.spec.driver! }));
    const advice = blockers.length
      ? `group ${group.id} is not viable: ` +
        `${blockers.map((b) => `${b.address} is bound to ${b.driver}`).join(', ')}; bind ` +
        `${blockers.length > 1 ? 'them' : 'it'} to vfio-pci or pci-stub, or unbind ` +
        `${blockers.length > 1 ? 'them' : 'it'}`
      : `group ${group.id} is viable`;
    return { viable: blockers.length === 0, blockers, advice };
  }

  /**
   * iommu_group_has_isolated_msi: x86 interrupt remapping and the GICv3 ITS tag each MSI with its
   * source; GICv2m, MBI and x86 without remapping do not.
   */
  msiIsolated(): boolean {
    return this.spec.msi.controller === 'x86-ir' || this.spec.msi.controller === 'gicv3-its';
  }

  /** Whether type1 will attach a group (vfio_iommu_type1_attach_group's MSI check), and why. */
  interruptPolicy(): { allowed: boolean; reason: string } {
    const c = this.spec.msi.controller;
    if (this.spec.iommu.kind === 'spapr-tce' || this.spec.iommu.kind === 'fsl-pamu') {
      return { allowed: true, reason: `${this.spec.iommu.kind} does not use type1's MSI isolation check (${c})` };
    }
    if (this.msiIsolated()) return { allowed: true, reason: `${c} isolates MSIs (IRQ_DOMAIN_FLAG_ISOLATED_MSI)` };
    if (this.spec.allowUnsafeInterrupts)
      return {
        allowed: true,
        reason:
          `${c} does not isolate MSIs; allowed only because allow_unsafe_interrupts=1 (a device can ` +
          'forge interrupts)',
      };
    return {
      allowed: false,
      reason:
        `${c} does not isolate MSIs: type1 refuses to attach (EPERM) unless ` +
        'vfio_iommu_type1.allow_unsafe_interrupts=1',
    };
  }

  /** Whether the function has ACS isolation as pci_acs_enabled counts it. */
  acsEnabled(f: HostFunction): boolean {
    return acsEnabled(f.spec);
  }
}
