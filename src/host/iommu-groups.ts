import type { AcsFlag, FunctionSpec } from './host-file.ts';

/** A host PCI function placed in the topology. */
export interface HostFunction {
  spec: FunctionSpec;
  /** The bridge or port whose secondary bus this function sits on (bus->self), null on the root bus. */
  parent: HostFunction | null;
  group: IommuGroup | null;
}

/** The unit of isolation: what VFIO hands to one user (/dev/vfio/<id>). */
export interface IommuGroup {
  id: number;
  functions: HostFunction[];
}

/** REQ_ACS_FLAGS in drivers/iommu/iommu.c. */
const REQ_ACS_FLAGS: AcsFlag[] = ['SV', 'RR', 'CR', 'UF'];

function isPcie(f: FunctionSpec): boolean {
  return f.type !== 'legacy-endpoint' && f.type !== 'pci-bridge';
}

/** pci_acs_flags_enabled: flags missing from the capability count as hard-wired on (EC excepted). */
function acsFlagsEnabled(f: FunctionSpec, flags: AcsFlag[]): boolean {
  if (!f.acs) return false;
  const needed = flags.filter((fl) => f.acs!.cap.includes(fl) || fl === 'EC');
  return needed.every((fl) => f.acs!.ctrl.includes(fl));
}

/** drivers/pci/pci.c:pci_acs_enabled (without vendor quirks). */
export function acsEnabled(f: FunctionSpec, flags: AcsFlag[] = REQ_ACS_FLAGS): boolean {
  if (!isPcie(f)) return false; // conventional PCI never isolates: the bus is shared
  switch (f.type) {
    case 'pcie-to-pci-bridge':
      return false;
    case 'switch-downstream':
    case 'root-port':
      return acsFlagsEnabled(f, flags);
    case 'endpoint':
    case 'switch-upstream':
    case 'rc-endpoint':
      return f.multifunction ? acsFlagsEnabled(f, flags) : true;
    default:
      return true;
  }
}

/** pci_acs_path_enabled(start, NULL, flags): ACS on start and every bridge up to the root bus. */
function acsPathEnabled(start: HostFunction): boolean {
  for (let p: HostFunction | null = start; p; p = p.parent) if (!acsEnabled(p.spec)) return false;
  return true;
}

/**
 * Computes IOMMU groups the way drivers/iommu/iommu.c:pci_device_group does, for functions in
 * probe order: follow DMA aliases up (PCIe-to-PCI and conventional bridges alias what is below
 * them), climb while ACS does not isolate the path, join non-isolated functions of the same slot,
 * else start a new group.
 */
export function assignGroups(functions: HostFunction[]): IommuGroup[] {
  const groups: IommuGroup[] = [];
  const join = (f: HostFunction, g: IommuGroup) => {
    f.group = g;
    g.functions.push(f);
  };
  for (const f of functions) {
    const g = findGroup(f, functions);
    if (g) join(f, g);
    else {
      const fresh: IommuGroup = { id: groups.length, functions: [] };
      groups.push(fresh);
      join(f, fresh);
    }
  }
  return groups;
}

function findGroup(start: HostFunction, all: HostFunction[]): IommuGroup | null {
  // pci_for_each_dma_alias with get_pci_alias_or_group: stop at the first alias with a group.
  let pdev = start;
  if (pdev.group) return pdev.group;
  for (let t = start.parent; t; t = t.parent) {
    if (t.spec.type === 'root-port' || t.spec.type === 'switch-upstream' || t.spec.type === 'switch-downstream')
      continue;
    if (t.spec.type === 'pcie-to-pci-bridge' || t.spec.type === 'pci-bridge') {
      if (t.group) return t.group;
      pdev = t;
    }
  }
  // Continue upstream to the point where ACS isolates the path.
  for (let self = pdev.parent; self; self = self.parent) {
    if (acsPathEnabled(self)) break;
    pdev = self;
    if (pdev.group) return pdev.group;
  }
  // get_pci_function_alias_group: non-isolated functions of the same slot share a group.
  if (pdev.spec.multifunction && !acsEnabled(pdev.spec)) {
    for (const tmp of all) {
      if (
        tmp === pdev ||
        tmp.parent !== pdev.parent ||
        tmp.spec.bus !== pdev.spec.bus ||
        tmp.spec.slot !== pdev.spec.slot
      )
        continue;
      if (acsEnabled(tmp.spec)) continue;
      if (tmp.group) return tmp.group;
    }
  }
  return null;
}

/** Probe order (pci_bus_add_devices): every function of a bus, then the buses behind its bridges. */
export function probeOrder(roots: FunctionSpec[]): HostFunction[] {
  const out: HostFunction[] = [];
  const visit = (specs: FunctionSpec[], parent: HostFunction | null) => {
    const placed = [...specs]
      .sort((a, b) => a.slot * 8 + a.fn - (b.slot * 8 + b.fn))
      .map((spec) => ({ spec, parent, group: null }));
    out.push(...placed);
    for (const f of placed) if (f.spec.children.length) visit(f.spec.children, f);
  };
  visit(roots, null);
  return out;
}
