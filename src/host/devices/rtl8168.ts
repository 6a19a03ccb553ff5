import { deviceModels, type FunctionHardware, type DeviceModel } from './function-hardware.ts';
import { RTL8168_WINDOW, RTL8168_WINDOW_BAR, RTL8168_WINDOW_FLAG } from '../../common/rtl8168-datasheet.ts';

/**
 * The RTL8168's BAR2 window: the driver writes the data register, then the address register with
 * bit 31 set to store it at (target, offset); or the address alone, after which the data register
 * holds the dword there and bit 31 reads back set. Target 0x1 is the device's own MSI-X table.
 */
export class Rtl8168Model implements DeviceModel {
  /** The dwords stored through the window, by address-register value without bit 31. */
  readonly window = new Map<number, number>();

  constructor(private readonly hw: FunctionHardware) {
    hw.model = this;
  }

  onWrite(bar: number, offset: number, value: number): void {
    if (bar !== RTL8168_WINDOW_BAR || offset !== RTL8168_WINDOW.ADDRESS) return;
    const regs = this.hw.bars.get(bar)!;
    const target = (value & ~RTL8168_WINDOW_FLAG) >>> 0;
    if (value & RTL8168_WINDOW_FLAG) {
      this.window.set(target, regs.read(RTL8168_WINDOW.DATA, 4));
      regs.write(RTL8168_WINDOW.ADDRESS, target, 4); // complete
    } else {
      regs.write(RTL8168_WINDOW.DATA, this.window.get(target) ?? 0, 4);
      regs.write(RTL8168_WINDOW.ADDRESS, (target | RTL8168_WINDOW_FLAG) >>> 0, 4); // latched
    }
  }
}

deviceModels.set('rtl8168', (hw) => new Rtl8168Model(hw));
