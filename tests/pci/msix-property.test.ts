// Randomized mask/pending ordering for MSI-X (hw/pci/msix.c): whatever the order of table mask
// writes, MaskAll/Enable toggles and device notifications, no interrupt is lost and none is
// duplicated. The model: a notification while masked sets one pending bit (they coalesce); an
// unmasked vector delivers at once; unmasking delivers a pending vector exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Msix, PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY } from '../../src/pci/index.ts';
import { platform, device } from './platform.ts';

const N = 4;
const BAR = 0xfe000000;
const op = fc.oneof(
  fc.record({ kind: fc.constant('notify' as const), v: fc.integer({ min: 0, max: N - 1 }) }),
  fc.record({ kind: fc.constant('mask' as const), v: fc.integer({ min: 0, max: N - 1 }), on: fc.boolean() }),
  fc.record({ kind: fc.constant('control' as const), enable: fc.boolean(), maskAll: fc.boolean() }),
);

test('MSI-X: no lost and no duplicated interrupts under random mask/unmask/notify sequences', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const p = platform();
      const dev = device(p.mem, 'prop');
      const msix = Msix.exclusiveBar(dev, N, 0);
      p.host.bus.attach(dev, 1);
      p.cfg.write(0, 8, PCI_BASE_ADDRESS_0, BAR);
      p.cfg.write(0, 8, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
      for (let v = 0; v < N; v++) {
        p.memory.write(BAR + v * 16, 0xfee00000, 4);
        p.memory.write(BAR + v * 16 + 8, 0x100 + v, 4);
        msix.vectorUse(v);
      }
      // Reference state.
      const entryMasked = new Array(N).fill(true);
      let enabled = false;
      let maskAll = false;
      const pending = new Array(N).fill(false);
      const expected: number[] = [];
      const masked = (v: number) => !enabled || maskAll || entryMasked[v];
      const settle = () => {
        for (let v = 0; v < N; v++)
          if (!masked(v) && pending[v]) {
            pending[v] = false;
            expected.push(0x100 + v);
          }
      };
      for (const o of ops) {
        if (o.kind === 'notify') {
          msix.notify(o.v);
          if (masked(o.v)) pending[o.v] = true;
          else expected.push(0x100 + o.v);
        } else if (o.kind === 'mask') {
          p.memory.write(BAR + o.v * 16 + 12, o.on ? 1 : 0, 4);
          entryMasked[o.v] = o.on;
          settle();
        } else {
          p.cfg.write(0, 8, msix.cap + 3, (o.enable ? 0x80 : 0) | (o.maskAll ? 0x40 : 0), 1);
          enabled = o.enable;
          maskAll = o.maskAll;
          if (enabled) settle(); // msix_write_config stops early while MSI-X is disabled
        }
        // Delivered messages equal the model's, in order; pending bits equal the model's.
        assert.equal(
          p.msis.map((m) => m.data),
          expected,
        );
        for (let v = 0; v < N; v++) assert.is(msix.isPending(v), pending[v], `pending bit of vector ${v}`);
      }
    }),
    { numRuns: 400, seed: 42 },
  );
});

test.run();
