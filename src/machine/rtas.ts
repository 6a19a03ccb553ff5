import type { PciDevice } from '../pci/index.ts';
import type { Machine } from './machine.ts';

import {
  RTAS_CHANGE_FN,
  RTAS_CHANGE_MSIX_FN,
  RTAS_CHANGE_MSI_FN,
  RTAS_OUT_HW_ERROR,
  RTAS_OUT_PARAM_ERROR,
  RTAS_OUT_SUCCESS,
  RTAS_QUERY_FN,
  RTAS_RESET_FN,
} from '../common/papr.ts';

/** The BUID of QEMU's first sPAPR PHB (SPAPR_PCI_BASE_BUID). */
export const SPAPR_PHB0_BUID = 0x800000020000000n;

interface MsiBlock {
  first: number;
  count: number;
  msix: boolean;
}

/**
 * The RTAS calls a pseries guest uses for PCI (hw/ppc/spapr_pci.c): config access by config
 * address, ibm,change-msi (QEMU allocates IRQs and writes the emulated MSI-X table itself with
 * msix_set_message) and ibm,query-interrupt-source-number.
 */
export class Rtas {
  /** phb->msi: allocated blocks by config address. */
  readonly msi = new Map<number, MsiBlock>();
  private nextIrq: number;

  constructor(private readonly machine: Machine) {
    this.nextIrq = machine.spec.interrupts.msiBase;
  }

  /** A config address: bus in bits 23-16, devfn in 15-8, register in 7-0 (plus 27-24 extended). */
  private device(configAddr: number): PciDevice | null {
    return this.machine.pciHost.bus.findDevice((configAddr >>> 16) & 0xff, (configAddr >>> 8) & 0xff);
  }

  private reg(configAddr: number): number {
    return (configAddr & 0xff) | (((configAddr >>> 24) & 0xf) << 8);
  }

  private buidOk(hi: number, lo: number): boolean {
    return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) === SPAPR_PHB0_BUID;
  }

  /** Makes an RTAS call; returns rets[] (rets[0] is the status). */
  call(name: string, args: number[]): number[] {
    switch (name) {
      case 'read-pci-config':
        return this.readConfig(args[0]!, args[1]!);
      case 'write-pci-config':
        return this.writeConfig(args[0]!, args[1]!, args[2]!);
      case 'ibm,read-pci-config':
        return this.buidOk(args[1]!, args[2]!) ? this.readConfig(args[0]!, args[3]!) : [RTAS_OUT_PARAM_ERROR];
      case 'ibm,write-pci-config':
        return this.buidOk(args[1]!, args[2]!)
          ? this.writeConfig(args[0]!, args[3]!, args[4]!)
          : [RTAS_OUT_PARAM_ERROR];
      case 'ibm,change-msi':
        return this.changeMsi(args);
      case 'ibm,query-interrupt-source-number':
        return this.querySource(args);
      default:
        return [RTAS_OUT_PARAM_ERROR];
    }
  }

  private readConfig(addr: number, size: number): number[] {
    const reg = this.reg(addr);
    if ((size !== 1 && size !== 2 && size !== 4) || reg % size) return [RTAS_OUT_HW_ERROR, 0];
    if (!this.device(addr)) return [RTAS_OUT_HW_ERROR, 0];
    return [RTAS_OUT_SUCCESS, this.machine.pciHost.configRead((addr >>> 16) & 0xff, (addr >>> 8) & 0xff, reg, size)];
  }

  private writeConfig(addr: number, size: number, value: number): number[] {
    const reg = this.reg(addr);
    if ((size !== 1 && size !== 2 && size !== 4) || reg % size || !this.device(addr)) return [RTAS_OUT_HW_ERROR];
    this.machine.pciHost.configWrite((addr >>> 16) & 0xff, (addr >>> 8) & 0xff, reg, value, size);
    return [RTAS_OUT_SUCCESS];
  }

  /** rtas_ibm_change_msi: args = config addr, BUID hi/lo, function, requested, sequence. */
  private changeMsi(args: number[]): number[] {
    const [addr, hi, lo, func, req0, seq] = args as [number, number, number, number, number, number];
    let req = req0;
    const dev = this.device(addr);
    if (!this.buidOk(hi, lo) || !dev) return [RTAS_OUT_PARAM_ERROR];
    let msix: boolean;
    switch (func) {
      case RTAS_CHANGE_FN:
        if (dev.msi) msix = false;
        else if (dev.msix) msix = true;
        else return [RTAS_OUT_PARAM_ERROR];
        break;
      case RTAS_CHANGE_MSI_FN:
        if (!dev.msi) return [RTAS_OUT_PARAM_ERROR];
        msix = false;
        break;
      case RTAS_CHANGE_MSIX_FN:
        if (!dev.msix) return [RTAS_OUT_PARAM_ERROR];
        msix = true;
        break;
      case RTAS_RESET_FN:
      case RTAS_QUERY_FN:
        msix = this.msi.get(addr)?.msix ?? !!dev.msix;
        req = 0;
        break;
      default:
        return [RTAS_OUT_PARAM_ERROR];
    }
    const type = msix ? 2 : 1;
    if (req === 0) {
      this.setMessages(dev, msix, 0, this.msi.get(addr)?.count ?? (msix ? dev.msix!.entries : 0), true);
      this.msi.delete(addr);
      return [RTAS_OUT_SUCCESS, 0, seq + 1, type];
    }
    const max = msix ? dev.msix!.entries : dev.msi!.maxVectors;
    if (max === 0) return [RTAS_OUT_HW_ERROR];
    if (req > max) return [RTAS_OUT_SUCCESS, max, seq + 1, type]; // nothing allocated: the guest asks again
    // MSI blocks are aligned to their power-of-two size; MSI-X blocks are not.
    const align = msix ? 1 : 1 << Math.ceil(Math.log2(req));
    const first = Math.ceil(this.nextIrq / align) * align;
    this.nextIrq = first + req;
    this.msi.set(addr, { first, count: req, msix });
    this.setMessages(dev, msix, first, req, false);
    return [RTAS_OUT_SUCCESS, req, seq + 1, type];
  }

  /** spapr_msi_setmsg: the MSI window address, data = the global IRQ; MSI-X writes the emulated table. */
  private setMessages(dev: PciDevice, msix: boolean, first: number, count: number, clear: boolean): void {
    const address = clear ? 0n : this.machine.spec.interrupts.doorbell.base;
    if (msix) {
      for (let i = 0; i < count; i++) dev.msix!.setMessage(i, { address, data: clear ? 0 : first + i });
      return;
    }
    const msi = dev.msi!;
    dev.cfg.setLong(msi.cap + 4, Number(address & 0xffffffffn));
    if (msi.is64) dev.cfg.setLong(msi.cap + 8, Number(address >> 32n));
    dev.cfg.setWord(msi.dataOffset(), clear ? 0 : first);
    const flags = dev.cfg.word(msi.cap + 2);
    dev.cfg.setWord(msi.cap + 2, (flags & ~0x70) | (Math.ceil(Math.log2(Math.max(count, 1))) << 4));
  }

  /** rtas_ibm_query_interrupt_source_number: args = config addr, BUID hi/lo, vector index. */
  private querySource(args: number[]): number[] {
    const [addr, hi, lo, index] = args as [number, number, number, number];
    if (!this.buidOk(hi, lo) || !this.device(addr)) return [RTAS_OUT_PARAM_ERROR];
    const b = this.msi.get(addr);
    if (!b || index >= b.count) return [RTAS_OUT_HW_ERROR];
    return [RTAS_OUT_SUCCESS, b.first + index, 1];
  }
}
