import { VdmError } from '../util/errors.ts';
import type { PciDevice } from './pci-device.ts';
import { sendMsiMessage, type MsiMessage } from './msi-message.ts';
import * as R from '../common/pci-regs.ts';

/** Size of the MSI capability for its flags (msi.c:msi_cap_sizeof). */
function capSize(is64: boolean, perVectorMask: boolean): number {
  return (is64 ? 0x0e : 0x0a) + (perVectorMask ? 0x0a : 0);
}

/** A capability that cannot be set up: QEMU's -EINVAL / -ENOTSUP from msi_init / msix_init. */
export class MsiSetupError extends VdmError {
  override name = 'MsiSetupError';
}

/**
 * The MSI capability (hw/pci/msi.c): 32- or 64-bit address, 1–32 vectors, optional per-vector
 * masking with pending bits. Address, data and mask live in config space, written by the guest.
 */
export class Msi {
  readonly cap: number;
  readonly is64: boolean;
  readonly perVectorMask: boolean;

  constructor(
    private readonly dev: PciDevice,
    offset: number,
    readonly maxVectors: number,
    is64: boolean,
    perVectorMask: boolean,
  ) {
    if (!dev.msiSupported) throw new MsiSetupError(`${dev.name}: MSI is not supported by the interrupt controller`);
    if (maxVectors < 1 || maxVectors > R.PCI_MSI_VECTORS_MAX || (maxVectors & (maxVectors - 1)) !== 0) {
      throw new MsiSetupError(`${dev.name}: MSI vector count ${maxVectors} must be a power of two from 1 to 32`);
    }
    this.is64 = is64;
    this.perVectorMask = perVectorMask;
    const c = dev.cfg;
    const order = Math.log2(maxVectors);
    const flags = (order << 1) | (is64 ? R.PCI_MSI_FLAGS_64BIT : 0) | (perVectorMask ? R.PCI_MSI_FLAGS_MASKBIT : 0);
    this.cap = c.addCapability(R.PCI_CAP_ID_MSI, offset, capSize(is64, perVectorMask));
    c.setWord(this.cap + R.PCI_MSI_FLAGS, flags);
    c.setWord(this.cap + R.PCI_MSI_FLAGS, R.PCI_MSI_FLAGS_QSIZE | R.PCI_MSI_FLAGS_ENABLE, c.wmask);
    c.setLong(this.cap + R.PCI_MSI_ADDRESS_LO, R.PCI_MSI_ADDRESS_LO_MASK, c.wmask);
    if (is64) c.setLong(this.cap + 8, 0xffffffff, c.wmask);
    c.setWord(this.dataOffset(), 0xffff, c.wmask);
    if (perVectorMask) c.setLong(this.maskOffset(), 0xffffffff >>> (R.PCI_MSI_VECTORS_MAX - maxVectors), c.wmask);
    dev.msi = this;
  }

  private flags(): number {
    return this.dev.cfg.word(this.cap + R.PCI_MSI_FLAGS);
  }

  dataOffset(): number {
    return this.cap + (this.is64 ? 0x0c : 0x08);
  }

  maskOffset(): number {
    return this.cap + (this.is64 ? 0x10 : 0x0c);
  }

  pendingOffset(): number {
    return this.cap + (this.is64 ? 0x14 : 0x10);
  }

  enabled(): boolean {
    return (this.flags() & R.PCI_MSI_FLAGS_ENABLE) !== 0;
  }

  /** Vectors the guest enabled (Multiple Message Enable). */
  enabledVectors(): number {
    return 1 << ((this.flags() & R.PCI_MSI_FLAGS_QSIZE) >> 4);
  }

  isMasked(vector: number): boolean {
    return this.perVectorMask && ((this.dev.cfg.long(this.maskOffset()) >>> vector) & 1) === 1;
  }

  isPending(vector: number): boolean {
    return this.perVectorMask && ((this.dev.cfg.long(this.pendingOffset()) >>> vector) & 1) === 1;
  }

  /** msi_get_message: the low bits of the data carry the vector number when several are enabled. */
  message(vector: number): MsiMessage {
    const c = this.dev.cfg;
    const lo = BigInt(c.long(this.cap + R.PCI_MSI_ADDRESS_LO));
    const address = this.is64 ? (BigInt(c.long(this.cap + 8)) << 32n) | lo : lo;
    let data = c.word(this.dataOffset());
    const n = this.enabledVectors();
    if (n > 1) data = (data & ~(n - 1)) | vector;
    return { address, data };
  }

  /**
   * msi_notify: a masked vector sets its pending bit; otherwise the message goes out. Vectors past
   * what the guest enabled, or MSI disabled, are dropped (callers check msi_enabled in QEMU).
   */
  notify(vector: number): void {
    if (!this.enabled() || vector < 0 || vector >= this.enabledVectors()) return;
    if (this.isMasked(vector)) {
      const c = this.dev.cfg;
      c.setLong(this.pendingOffset(), c.long(this.pendingOffset()) | (1 << vector));
      return;
    }
    sendMsiMessage(this.dev, this.message(vector));
  }

  /** msi_write_config: clamp Multiple Message Enable, drop stale pending bits, deliver unmasked ones. */
  writeConfig(offset: number, _value: number, len: number): void {
    const size = capSize(this.is64, this.perVectorMask);
    if (!(offset < this.cap + size && this.cap < offset + len)) return;
    const c = this.dev.cfg;
    let flags = this.flags();
    if (!(flags & R.PCI_MSI_FLAGS_ENABLE)) return;
    const maxLog = (flags & R.PCI_MSI_FLAGS_QMASK) >> 1;
    if ((flags & R.PCI_MSI_FLAGS_QSIZE) >> 4 > maxLog) {
      flags = (flags & ~R.PCI_MSI_FLAGS_QSIZE) | (maxLog << 4);
      c.setWord(this.cap + R.PCI_MSI_FLAGS, flags);
    }
    if (!this.perVectorMask) return;
    const n = this.enabledVectors();
    let pending = c.long(this.pendingOffset()) & (0xffffffff >>> (R.PCI_MSI_VECTORS_MAX - n));
    c.setLong(this.pendingOffset(), pending);
    for (let v = 0; v < n; v++) {
      if (this.isMasked(v) || !((pending >>> v) & 1)) continue;
      pending &= ~(1 << v);
      c.setLong(this.pendingOffset(), pending);
      this.notify(v);
    }
  }

  /** msi_reset. */
  reset(): void {
    const c = this.dev.cfg;
    c.setWord(this.cap + R.PCI_MSI_FLAGS, this.flags() & ~(R.PCI_MSI_FLAGS_QSIZE | R.PCI_MSI_FLAGS_ENABLE));
    c.setLong(this.cap + R.PCI_MSI_ADDRESS_LO, 0);
    if (this.is64) c.setLong(this.cap + 8, 0);
    c.setWord(this.dataOffset(), 0);
    if (this.perVectorMask) {
      c.setLong(this.maskOffset(), 0);
      c.setLong(this.pendingOffset(), 0);
    }
  }
}
