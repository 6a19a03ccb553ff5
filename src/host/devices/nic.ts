import { deviceModels, type FunctionHardware, type DeviceModel } from './function-hardware.ts';
import { NIC_DESC_DONE, NIC_DESC_SIZE, NIC_ICR_TX_DONE, NIC_MAX_BUFFER, NIC_REGS } from '../../common/nic-datasheet.ts';

/** The completion a descriptor's status word gets. */
const DESC_DONE = new Uint8Array([NIC_DESC_DONE, 0, 0, 0]);

/**
 * Where every NIC model reads a descriptor and its buffer (they run one at a time): DMA into these
 * allocates nothing per packet.
 */
const descriptor = new Uint8Array(NIC_DESC_SIZE);
const descriptorView = new DataView(descriptor.buffer);
const packet = new Uint8Array(NIC_MAX_BUFFER);

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
    const ringHigh = this.reg(NIC_REGS.RING_HI);
    const ringLow = this.reg(NIC_REGS.RING_LO);
    let done = 0;
    while (this.head !== tail) {
      const at = iova(ringHigh, ringLow + this.head * NIC_DESC_SIZE);
      if (!this.hw.dmaReadInto(at, descriptor)) break;
      const buf = iova(descriptorView.getUint32(4, true), descriptorView.getUint32(0, true));
      const length = descriptorView.getUint32(8, true);
      if (length > NIC_MAX_BUFFER) {
        // A guest-written length of up to 4 GiB would otherwise be read in full.
        this.badDescriptors++;
        break;
      }
      if (!this.hw.dmaReadInto(buf, packet, 0, length)) break;
      let sum = 0; // at most 64 KiB of bytes: exact as a number
      for (let i = 0; i < length; i++) sum += packet[i]!;
      this.checksum = (this.checksum + sum) >>> 0;
      if (!this.hw.dmaWrite(typeof at === 'number' ? at + 12 : at + 12n, DESC_DONE)) break;
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

/** high:low as an IOVA: a number while exact (below 2^52), else a bigint. `low` may carry past 32 bits. */
function iova(high: number, low: number): number | bigint {
  if (high < 1 << 20) return high * 2 ** 32 + low;
  return (BigInt(high) << 32n) + BigInt(low);
}
