import { deviceModels, type FunctionHardware, type DeviceModel } from './function-hardware.ts';
import { NIC_DESC_DONE, NIC_DESC_SIZE, NIC_ICR_TX_DONE, NIC_MAX_BUFFER, NIC_REGS } from '../../common/nic-datasheet.ts';

/**
 * A NIC-like function: a transmit ring in guest memory read by DMA through the IOMMU, completions
 * written back, and on completion the cause in ICR with MSI-X or MSI vector 0, or INTx asserted
 * until ICR is read. DMA to an unmapped IOVA stops the ring and is counted
 * as an IOMMU fault; memory is never touched.
 */
export class NicModel implements DeviceModel {
  head = 0;
  packets = 0;
  bytes = 0;
  icr = 0;
  /** Checksum of every byte transmitted, so tests can see what the device read. */
  checksum = 0;
  /** Descriptors refused for a length past NIC_MAX_BUFFER (the ring stops at them). */
  badDescriptors = 0;

  constructor(private readonly hw: FunctionHardware) {
    hw.model = this;
    hw.bars.get(0)!.write(NIC_REGS.STATUS, 1, 4);
  }

  onRead(bar: number, offset: number): number | undefined {
    if (bar !== 0) return undefined;
    if (offset === NIC_REGS.ICR) {
      const v = this.icr;
      this.icr = 0;
      this.hw.setIntx(false);
      return v;
    }
    if (offset === NIC_REGS.PACKETS) return this.packets >>> 0;
    if (offset === NIC_REGS.RING_HEAD) return this.head;
    if (offset === NIC_REGS.STATUS) return 1;
    return undefined;
  }

  onWrite(bar: number, offset: number, value: number): void {
    if (bar !== 0) return;
    if (offset === NIC_REGS.CTRL && value & 1) this.reset();
    if (offset === NIC_REGS.DOORBELL) this.transmit(value);
  }

  private reg(offset: number): number {
    return this.hw.bars.get(0)!.read(offset, 4);
  }

  private reset(): void {
    this.head = 0;
    this.icr = 0;
    this.hw.setIntx(false);
  }

  /** Processes descriptors from head up to (not including) tail. */
  private transmit(tail: number): void {
    const len = this.reg(NIC_REGS.RING_LEN);
    if (len === 0 || tail >= len) return;
    const ring = (BigInt(this.reg(NIC_REGS.RING_HI)) << 32n) | BigInt(this.reg(NIC_REGS.RING_LO));
    let done = 0;
    while (this.head !== tail) {
      const at = ring + BigInt(this.head * NIC_DESC_SIZE);
      const d = this.hw.dmaRead(at, NIC_DESC_SIZE);
      if (!d) break;
      const view = new DataView(d.buffer);
      const buf = view.getBigUint64(0, true);
      const length = view.getUint32(8, true);
      if (length > NIC_MAX_BUFFER) {
        // A guest-written length of up to 4 GiB would otherwise be read (and allocated) in full.
        this.badDescriptors++;
        break;
      }
      const data = this.hw.dmaRead(buf, length);
      if (!data) break;
      for (const b of data) this.checksum = (this.checksum + b) >>> 0;
      if (!this.hw.dmaWrite(at + 12n, [NIC_DESC_DONE, 0, 0, 0])) break;
      this.head = (this.head + 1) % len;
      this.packets++;
      this.bytes += length;
      done++;
    }
    if (done) {
      this.icr |= NIC_ICR_TX_DONE;
      this.hw.setIntx(true); // INTx: the pin stays asserted until the driver reads ICR
      this.hw.interrupt(0);
    }
  }
}

deviceModels.set('nic', (hw) => new NicModel(hw));
