// The guest kernel's shared pools: vectors run out gracefully (Linux's pci_alloc_irq_vectors gives
// fewer), RAM and the DMA window run out with a GuestError naming what is full.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GuestError, GuestKernel, type GuestPlatform } from '../../src/guest/index.ts';

function platform(msiVectors: number): { p: GuestPlatform; fire: (irq: number) => void } {
  let handler: (irq: number) => void = () => {};
  const p = {
    firmware: { msiVectors, ram: { base: 0x40000000n, size: 0x200000n }, dmaWindow: { pageShift: 12, size: 0x10000n } },
    onInterrupt: (h: (irq: number) => void) => void (handler = h),
  } as unknown as GuestPlatform;
  return { p, fire: (irq) => handler(irq) };
}

test('vectors: consecutive from the pool, fewer then none when it runs out, refusals counted', () => {
  const k = new GuestKernel(platform(10).p);
  assert.equal(k.allocVectors(4), { first: 0, count: 4 });
  assert.equal(k.allocVectors(4), { first: 4, count: 4 });
  assert.equal(k.allocVectors(4), { first: 8, count: 2 });
  assert.equal(k.allocVectors(4), { first: 10, count: 0 });
  assert.is(k.vectorsRefused, 6);
});

test('interrupts go to the driver that requested them; others are spurious; an IRQ is requested once', () => {
  const { p, fire } = platform(10);
  const k = new GuestKernel(p);
  let got = 0;
  k.requestIrq(50, () => got++);
  fire(50);
  fire(51);
  assert.is(got, 1);
  assert.is(k.spurious, 1);
  assert.throws(
    () => k.requestIrq(50, () => {}),
    (e: Error) => e instanceof GuestError && /interrupt 50 is already requested/.test(e.message),
  );
});

test('RAM past the first MiB, 4 KiB aligned, until it is gone; the TCE window likewise', () => {
  const k = new GuestKernel(platform(10).p);
  assert.is(k.allocRam(0x10n), 0x40100000n);
  assert.is(k.allocRam(0x10n), 0x40101000n);
  assert.throws(
    () => k.allocRam(0x100000n),
    (e: Error) => e instanceof GuestError && /out of RAM allocating 1048576 bytes/.test(e.message),
  );
  assert.is(k.allocIoba(14, 0x1000n), 0x1000n);
  assert.throws(() => k.allocIoba(2, 0x1000n), /the DMA window \(0x10000 bytes\) has no room for 2 more TCEs/);
});

test.run();
