// Random hostile guest programs against booted machines (see hostile-guest.ts): 500 in CI,
// scripts/hostile-guests.ts runs 10,000.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RamBlock } from '../../src/index.ts';
import { runHostileCampaign, interruptImbalance, bootRig, interruptCounts, watchingDma } from './hostile-guest.ts';

const PROGRAMS = Number(process.env.VDM_HOSTILE_PROGRAMS ?? 500);
const SEED = Number(process.env.VDM_HOSTILE_SEED ?? 13);

test(`${PROGRAMS} hostile guest programs: no crash, no write outside the DMA map, every interrupt accounted ` +
  'once', () => {
  const { findings, totals, ops } = runHostileCampaign(PROGRAMS, SEED);
  const show = findings
    .slice(0, 3)
    .map(
      (f) =>
        `${f.machine} program ${f.program} (seed ${f.seed}): ${f.kind}: ${f.what}\n    after: ` +
        `${f.ops.slice(-6).join('; ')}`,
    );
  assert.equal(show, []);
  assert.ok(ops > PROGRAMS * 5, `${ops} operations`);
  // The programs reach what they claim to: interrupts raised, delivered, pended while masked, lost for want
  // of a vector; DMA done, faulted, blocked.
  for (const k of [
    'raised',
    'delivered',
    'pendedInVmm',
    'lostInKernel',
    'cpuDoorbell',
    'dmaWrites',
    'dmaFaults',
    'dmaBlocked',
  ])
    assert.ok(totals[k]! > 0, `${k}: ${totals[k]}`);
});

test('the interrupt ledger catches a lost or a duplicated interrupt', () => {
  const fine = {
    raised: 3,
    raisedIntx: 0,
    intxSignals: 0,
    cpuDoorbell: 0,
    unrouted: 0,
    blocked: 1,
    pendedInDevice: 0,
    faulted: 0,
    lostInKernel: 0,
    signalled: 2,
    kvm: 2,
    vmm: 0,
    pendedInVmm: 0,
    messages: 0,
    received: 2,
    delivered: 2,
    handled: 2,
    dmaFaults: 0,
    dmaBlocked: 0,
    dmaWrites: 0,
    dmaRefused: 0,
  };
  assert.is(interruptImbalance(fine), null);
  assert.match(interruptImbalance({ ...fine, raised: 4 })!, 'the device raised 4 interrupts; 3 are accounted for');
  assert.match(
    interruptImbalance({ ...fine, received: 3, delivered: 3, handled: 3 })!,
    'received 3 interrupts for 2 MSI signals, 0 INTx signals and 0 guest doorbell writes (duplicated)',
  );
  assert.match(interruptImbalance({ ...fine, handled: 1 })!, "the guest's entry point ran 1 times");
});

test('the memory check catches a DMA write the VMM never mapped, and one that lands in host memory', () => {
  const rig = bootRig('q35');
  const container = rig.m.containers[0]!;
  const saved = [...container.mappings];
  container.mappings.length = 0; // as if the IOMMU let through what the VMM never mapped
  watchingDma(() => rig.driver.run());
  assert.match(
    rig.memory[0] ?? '',
    /^DMA write of 4 bytes at IOVA 0x[0-9a-f]+ succeeded although the VMM never mapped part of it/,
  );
  container.mappings.push(...saved);
  rig.memory.length = 0;
  watchingDma(() => {
    const probe = RamBlock.prototype.writeFrom;
    const elsewhere = new RamBlock(0x1000);
    RamBlock.prototype.writeFrom = (_at: number, src: Uint8Array, from: number, length: number) => {
      return probe.call(elsewhere, 0, src, from, length); // the bytes go to memory that is not guest RAM
    };
    try {
      rig.driver.run();
    } finally {
      RamBlock.prototype.writeFrom = probe;
    }
  });
  assert.match(rig.memory[0] ?? '', 'landed outside guest RAM (host memory)');
});

test('the interrupt ledger of a booted machine balances, and an uncounted signal unbalances it', () => {
  const rig = bootRig('virt');
  const start = interruptCounts(rig);
  rig.driver.run();
  const diff = (a: typeof start, b: typeof start) =>
    Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof typeof a] - b[k as keyof typeof b]])) as typeof start;
  assert.is(interruptImbalance(diff(interruptCounts(rig), start)), null);
  rig.ledger.raised++; // a signal no counter saw
  assert.match(
    interruptImbalance(diff(interruptCounts(rig), start))!,
    /the device raised \d+ interrupts; \d+ are accounted for/,
  );
});

test.run();
