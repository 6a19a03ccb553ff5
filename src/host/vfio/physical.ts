import { RamBlock } from '../../memory/ram-block.ts';
import type { HostFunction } from '../iommu-groups.ts';

/**
 * The hardware behind a host function: its BAR contents (registers as plain storage, the MSI-X
 * table where the spec puts it) and the COMMAND register's memory decode. Shared by every open
 * of the device, as real hardware is.
 */
export class PhysicalFunction {
  readonly bars = new Map<number, RamBlock>();
  memoryDecode = true;

  constructor(readonly fn: HostFunction) {
    for (const b of fn.spec.bars) {
      // Sparse storage: a 32 MiB BAR costs only what is touched. Huge BARs are capped: vdm models
      // their register pages, not gigabytes of device memory.
      this.bars.set(b.index, new RamBlock(Number(b.size > 1n << 32n ? 1n << 32n : b.size)));
    }
  }
}

const registry = new WeakMap<HostFunction, PhysicalFunction>();

/** The one PhysicalFunction of a host function. */
export function physicalOf(fn: HostFunction): PhysicalFunction {
  let p = registry.get(fn);
  if (!p) registry.set(fn, (p = new PhysicalFunction(fn)));
  return p;
}
