import type { MemoryRegion } from '../memory/index.ts';
import type { PciDevice } from './pci-device.ts';
import { sendMsiMessage, type MsiMessage } from './msi-message.ts';
import { MsiSetupError } from './msi.ts';
import * as R from '../common/pci-regs.ts';

/** Where the table and PBA live: a BAR's region (a container or the BAR itself), its number, an offset. */
export interface MsixPlacement {
  bar: MemoryRegion;
  barNr: number;
  offset: number;
}

/** Hooks QEMU devices register with msix_set_vector_notifiers (vfio and vhost use them). */
export interface MsixNotifiers {
  use?: (vector: number, msg: MsiMessage) => void;
  release?: (vector: number) => void;
  /** Called before a PBA read for the vectors it covers (msix_vector_poll_notifier). */
  poll?: (start: number, end: number) => void;
}

const MSIX_CAP_LENGTH = 12;

/**
 * MSI-X (hw/pci/msix.c): the capability, the `msix-table` and `msix-pba` I/O regions laid on the
 * BARs at their offsets, per-vector and function masking, pending bits delivered once on unmask.
 */
export class Msix {
  readonly cap: number;
  readonly entries: number;
  readonly table: Uint8Array;
  readonly pba: Uint8Array;
  readonly tableRegion: MemoryRegion;
  readonly pbaRegion: MemoryRegion;
  /** msix_vector_use reference counts. */
  readonly used: Uint32Array;
  functionMasked = true;
  notifiers: MsixNotifiers = {};
  /** Guest accesses the overlays served (each one a trap to the VMM). */
  readonly accesses = { table: 0, pba: 0 };

  constructor(
    private readonly dev: PciDevice,
    entries: number,
    readonly tablePlace: MsixPlacement,
    readonly pbaPlace: MsixPlacement,
    capPos = 0,
  ) {
    if (!dev.msiSupported) throw new MsiSetupError(`${dev.name}: MSI-X is not supported by interrupt controller`);
    if (!Number.isInteger(entries) || entries < 1 || entries > R.PCI_MSIX_FLAGS_QSIZE + 1) {
      throw new MsiSetupError(`${dev.name}: the number of MSI-X vectors (${entries}) is invalid`);
    }
    const tableSize = entries * R.PCI_MSIX_ENTRY_SIZE;
    const pbaSize = (Math.ceil(entries / 64) * 64) / 8;
    const t = tablePlace;
    const p = pbaPlace;
    const overlap = t.barNr === p.barNr && t.offset < p.offset + pbaSize && p.offset < t.offset + tableSize;
    if (
      overlap ||
      BigInt(t.offset + tableSize) > t.bar.size ||
      BigInt(p.offset + pbaSize) > p.bar.size ||
      ((t.offset | p.offset) & R.PCI_MSIX_FLAGS_BIRMASK) !== 0
    ) {
      throw new MsiSetupError(`${dev.name}: table & pba overlap, or they don't fit in BARs, or don't align`);
    }
    this.entries = entries;
    const c = dev.cfg;
    this.cap = c.addCapability(R.PCI_CAP_ID_MSIX, capPos, MSIX_CAP_LENGTH);
    c.setWord(this.cap + R.PCI_MSIX_FLAGS, entries - 1);
    c.setLong(this.cap + R.PCI_MSIX_TABLE, t.offset | t.barNr);
    c.setLong(this.cap + R.PCI_MSIX_PBA, p.offset | p.barNr);
    c.wmask[this.cap + R.MSIX_CONTROL_OFFSET] =
      c.wmask[this.cap + R.MSIX_CONTROL_OFFSET]! | R.MSIX_ENABLE_MASK | R.MSIX_MASKALL_MASK;
    this.table = new Uint8Array(tableSize);
    this.pba = new Uint8Array(pbaSize);
    this.used = new Uint32Array(entries);
    dev.msix = this;
    this.maskAll();
    const mem = dev.mem;
    // 4 to 8 bytes, split into dwords (since QEMU 6.0); little-endian.
    const sizes = {
      valid: { minAccessSize: 4, maxAccessSize: 8 },
      impl: { maxAccessSize: 4 },
      endianness: 'little' as const,
    };
    this.tableRegion = mem.io('msix-table', tableSize, {
      ...sizes,
      read: (off) => {
        this.accesses.table++;
        return le32(this.table, off);
      },
      write: (off, v) => {
        this.accesses.table++;
        this.tableWrite(off, Number(v));
      },
    });
    this.pbaRegion = mem.io('msix-pba', pbaSize, {
      ...sizes,
      read: (off, size) => {
        this.accesses.pba++;
        this.notifiers.poll?.(off * 8, Math.min(off + size * 8, entries));
        return le32(this.pba, off);
      },
      write: () => {
        this.accesses.pba++; // the PBA is read-only: writes are ignored
      },
    });
    this.tableRegion.owner = { owner: `dev id=${dev.name}` };
    this.pbaRegion.owner = { owner: `dev id=${dev.name}` };
    t.bar.addSubregion(t.offset, this.tableRegion);
    p.bar.addSubregion(p.offset, this.pbaRegion);
  }

  /**
   * msix_init_exclusive_bar: a "<name>-msix" container of at least 4 KiB, table at 0, PBA at 2 KiB
   * (or right after a larger table), registered as memory BAR `barNr`.
   */
  static exclusiveBar(dev: PciDevice, entries: number, barNr: number): Msix {
    let barSize = 4096;
    let pbaOffset = barSize / 2;
    const pbaSize = (Math.ceil(entries / 64) * 64) / 8;
    if (entries * R.PCI_MSIX_ENTRY_SIZE > pbaOffset) pbaOffset = entries * R.PCI_MSIX_ENTRY_SIZE;
    if (pbaOffset + pbaSize > 4096) barSize = pbaOffset + pbaSize;
    barSize = 2 ** Math.ceil(Math.log2(barSize));
    const bar = dev.mem.container(`${dev.name}-msix`, barSize);
    const msix = new Msix(dev, entries, { bar, barNr, offset: 0 }, { bar, barNr, offset: pbaOffset });
    dev.registerBar(barNr, R.PCI_BASE_ADDRESS_SPACE_MEMORY, bar);
    return msix;
  }

  enabled(): boolean {
    return (this.dev.cfg.byte(this.cap + R.MSIX_CONTROL_OFFSET) & R.MSIX_ENABLE_MASK) !== 0;
  }

  /** msix_vector_masked: the function mask or the entry's own mask bit. */
  private vectorMasked(vector: number, functionMasked: boolean): boolean {
    return (
      functionMasked || (this.table[vector * 16 + R.PCI_MSIX_ENTRY_VECTOR_CTRL]! & R.PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0
    );
  }

  isMasked(vector: number): boolean {
    return this.vectorMasked(vector, this.functionMasked);
  }

  isPending(vector: number): boolean {
    return ((this.pba[vector >> 3]! >> (vector & 7)) & 1) === 1;
  }

  setPending(vector: number): void {
    this.pba[vector >> 3] = this.pba[vector >> 3]! | (1 << (vector & 7));
  }

  clearPending(vector: number): void {
    this.pba[vector >> 3] = this.pba[vector >> 3]! & ~(1 << (vector & 7));
  }

  /** msix_get_message: address and data from the entry. */
  message(vector: number): MsiMessage {
    const base = vector * 16;
    return {
      address: (BigInt(le32(this.table, base + R.PCI_MSIX_ENTRY_UPPER_ADDR)) << 32n) | BigInt(le32(this.table, base)),
      data: le32(this.table, base + R.PCI_MSIX_ENTRY_DATA),
    };
  }

  /**
   * msix_set_message (used by sPAPR's ibm,change-msi): writes the entry and clears its mask bit
   * directly, with no mask-update processing; the guest never touches the table.
   */
  setMessage(vector: number, msg: MsiMessage): void {
    const base = vector * 16;
    setLe32(this.table, base, Number(msg.address & 0xffffffffn));
    setLe32(this.table, base + R.PCI_MSIX_ENTRY_UPPER_ADDR, Number(msg.address >> 32n));
    setLe32(this.table, base + R.PCI_MSIX_ENTRY_DATA, msg.data >>> 0);
    this.table[base + R.PCI_MSIX_ENTRY_VECTOR_CTRL] =
      this.table[base + R.PCI_MSIX_ENTRY_VECTOR_CTRL]! & ~R.PCI_MSIX_ENTRY_CTRL_MASKBIT;
  }

  /** msix_vector_use. */
  vectorUse(vector: number): boolean {
    if (vector < 0 || vector >= this.entries) return false;
    this.used[vector]!++;
    return true;
  }

  /** msix_vector_unuse: the last user clears the pending bit. */
  vectorUnuse(vector: number): void {
    if (vector < 0 || vector >= this.entries || !this.used[vector]) return;
    if (--this.used[vector]! === 0) this.clearPending(vector);
  }

  /**
   * msix_notify: unused vectors (and numbers past the table) are dropped; a masked vector only
   * sets its pending bit; otherwise one message goes out.
   */
  notify(vector: number): void {
    if (vector < 0 || vector >= this.entries || !this.used[vector]) return;
    if (this.isMasked(vector)) {
      this.setPending(vector);
      return;
    }
    sendMsiMessage(this.dev, this.message(vector));
  }

  /** msix_handle_mask_update: on unmask, a pending vector is cleared and delivered exactly once. */
  private handleMaskUpdate(vector: number, wasMasked: boolean): void {
    const masked = this.isMasked(vector);
    if (masked === wasMasked) return;
    if (masked) this.notifiers.release?.(vector);
    else this.notifiers.use?.(vector, this.message(vector));
    if (!masked && this.isPending(vector)) {
      this.clearPending(vector);
      this.notify(vector);
    }
  }

  /** msix_table_mmio_write: store the dword, then react to a mask change. */
  private tableWrite(offset: number, value: number): void {
    const vector = Math.floor(offset / R.PCI_MSIX_ENTRY_SIZE);
    const wasMasked = this.isMasked(vector);
    setLe32(this.table, offset, value);
    this.handleMaskUpdate(vector, wasMasked);
  }

  /** msix_write_config: recompute the function mask when byte cap+3 is written. */
  writeConfig(offset: number, _value: number, len: number): void {
    const pos = this.cap + R.MSIX_CONTROL_OFFSET;
    if (!(offset <= pos && pos < offset + len)) return;
    const wasMasked = this.functionMasked;
    this.updateFunctionMasked();
    if (!this.enabled()) return;
    this.dev.setIrq(0); // pci_device_deassert_intx
    if (this.functionMasked === wasMasked) return;
    for (let v = 0; v < this.entries; v++) this.handleMaskUpdate(v, this.vectorMasked(v, wasMasked));
  }

  /** msix_reset: clear pending, Enable and MaskAll, zero the table and PBA, mask every entry. */
  reset(): void {
    this.pba.fill(0);
    const c = this.dev.cfg;
    const pos = this.cap + R.MSIX_CONTROL_OFFSET;
    c.config[pos] = c.config[pos]! & ~c.wmask[pos]!;
    this.table.fill(0);
    this.maskAll();
  }

  private updateFunctionMasked(): void {
    const control = this.dev.cfg.byte(this.cap + R.MSIX_CONTROL_OFFSET);
    this.functionMasked = !(control & R.MSIX_ENABLE_MASK) || (control & R.MSIX_MASKALL_MASK) !== 0;
  }

  /** msix_mask_all. */
  private maskAll(): void {
    for (let v = 0; v < this.entries; v++) {
      const wasMasked = this.isMasked(v);
      this.table[v * 16 + R.PCI_MSIX_ENTRY_VECTOR_CTRL] =
        this.table[v * 16 + R.PCI_MSIX_ENTRY_VECTOR_CTRL]! | R.PCI_MSIX_ENTRY_CTRL_MASKBIT;
      this.handleMaskUpdate(v, wasMasked);
    }
  }
}

function le32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function setLe32(b: Uint8Array, off: number, v: number): void {
  for (let i = 0; i < 4; i++) b[off + i] = (v >>> (8 * i)) & 0xff;
}
