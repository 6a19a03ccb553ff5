// A host with many assignable NICs, for scale runs: the template host's first vfio-pci NIC,
// copied as 4-function cards behind ACS root ports, every function with ACS so each is its own
// IOMMU group (what SR-IOV-less multi-port NICs on a server look like to pci_device_group).

export type HostJson = { name: string; description?: string; pci: Record<string, unknown>[] } & Record<string, unknown>;

const FUNCTIONS_PER_CARD = 4;
const ACS = ['SV', 'RR', 'CR', 'UF'];

function firstVfioNic(list: Record<string, unknown>[]): Record<string, unknown> | null {
  for (const f of list) {
    if (f.driver === 'vfio-pci' && f.model === 'nic') return f;
    const c = firstVfioNic((f.children as Record<string, unknown>[]) ?? []);
    if (c) return c;
  }
  return null;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/**
 * The template host file (as parsed JSON) with its PCI tree replaced by `count` NICs. Returns the
 * host JSON and the addresses of the NICs in order. Root ports sit at 00:01.0 onward, one bus each.
 */
export function nicFarmHost(template: HostJson, count: number): { host: HostJson; nics: string[] } {
  const nic = firstVfioNic(template.pci);
  if (!nic) throw new Error(`host ${template.name} has no vfio-pci NIC to copy`);
  const cards = Math.ceil(count / FUNCTIONS_PER_CARD);
  if (cards > 31 * 8) throw new Error(`${count} NICs need ${cards} root ports; a root bus holds ${31 * 8}`);
  const nics: string[] = [];
  const pci = [];
  for (let c = 0; c < cards; c++) {
    const bus = c + 1;
    const functions = Math.min(FUNCTIONS_PER_CARD, count - c * FUNCTIONS_PER_CARD);
    const children = Array.from({ length: functions }, (_, fn) => {
      const address = `0000:${hex2(bus)}:00.${fn}`;
      nics.push(address);
      return { ...nic, address, multifunction: functions > 1, acs: ACS, children: undefined };
    });
    pci.push({
      address: `0000:00:${hex2(1 + (c >> 3))}.${c & 7}`,
      type: 'root-port',
      vendor: '0x8086',
      device: '0x1901',
      driver: 'pcieport',
      acs: ACS,
      children,
    });
  }
  const host = {
    ...template,
    name: `${template.name}-${count}nics`,
    description: `${template.name} with ${count} NICs (${cards} cards behind ACS root ports)`,
    pci,
  };
  return { host: JSON.parse(JSON.stringify(host)) as HostJson, nics };
}
