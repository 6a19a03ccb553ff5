import type { MachineSpec, RealizeHooks, Window } from '../machine/index.ts';
import { HostFileError, type SimHost } from '../host/index.ts';

/**
 * The checks only a bench that sees both the host file and the machine file can make: every
 * device's BARs fit the machine's windows, and a refusal names the host file entry.
 */
export function hostFileChecks(spec: MachineSpec, host: SimHost): RealizeHooks {
  return {
    realized: (opts) => checkBarsFit(spec, host, opts.host),
    contextOf: (opts) => {
      const fn = host.functionAt(opts.host)?.spec;
      return fn && `host function ${fn.address}: ${host.spec.file}: ${fn.path}`;
    },
  };
}

/** Can `size` bytes sit naturally aligned inside window `w`? */
function fitsAligned(size: bigint, w: Window): boolean {
  const at = (w.base + size - 1n) & ~(size - 1n);
  return at + size <= w.base + w.size;
}

/**
 * Every memory BAR (and the ROM) of the host function can be placed in the machine's window for it,
 * naturally aligned: otherwise the host file asks for more than this machine can map, and the error
 * names the host file's field and the machine file's window. (BARs that fit one by one but not all
 * together are placed past the window by the guest's firmware; the boot verdict reports that.)
 */
function checkBarsFit(spec: MachineSpec, host: SimHost, address: string): void {
  const fn = host.functionAt(address)?.spec;
  if (!fn) return; // realize says "no such host device"
  const p = spec.pci;
  const where = (name: 'mmio32' | 'mmio64', w: Window) =>
    `machine ${spec.file}: pci.${name} is 0x${w.base.toString(16)}+0x${w.size.toString(16)}`;
  fn.bars.forEach((b, i) => {
    if (b.kind === 'io') return;
    const [name, w] =
      b.kind === 'mem64' && p.mmio64 ? (['mmio64', p.mmio64] as const) : (['mmio32', p.mmio32] as const);
    if (!fitsAligned(b.size, w))
      throw new HostFileError(
        host.spec.file,
        `${fn.path}.bars[${i}].size`,
        `BAR ${b.index} of 0x${b.size.toString(16)} bytes cannot be placed in the machine's ` +
          `${name === 'mmio64' ? '64' : '32'}-bit PCI window (${where(name, w)})`,
      );
  });
  if (fn.romSize && !fitsAligned(fn.romSize, p.mmio32))
    throw new HostFileError(
      host.spec.file,
      `${fn.path}.rom`,
      `a ROM of 0x${fn.romSize.toString(16)} bytes cannot be placed in the machine's 32-bit PCI window ` +
        `(${where('mmio32', p.mmio32)})`,
    );
}
