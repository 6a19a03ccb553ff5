import type { VmmTimer } from '../vfio/intx.ts';

/**
 * QEMU_CLOCK_VIRTUAL in miniature: guest time in nanoseconds that moves only when the guest waits
 * (the guest program's time between workload iterations), and timers that fire as it passes them.
 */
export class VirtualClock {
  nowNs = 0;
  private readonly timers = new Map<object, { deadline: number; callback: () => void }>();

  newTimer(callback: () => void): VmmTimer {
    const key = {};
    return {
      mod: (deadline) => void this.timers.set(key, { deadline, callback }),
      del: () => void this.timers.delete(key),
    };
  }

  /** Moves time forward by `ns`, firing each expired timer at its own deadline, earliest first. */
  advance(ns: number): void {
    const end = this.nowNs + ns;
    for (;;) {
      let next: [object, { deadline: number; callback: () => void }] | null = null;
      for (const e of this.timers) if (e[1].deadline <= end && (!next || e[1].deadline < next[1].deadline)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.nowNs = Math.max(this.nowNs, next[1].deadline);
      next[1].callback();
    }
    this.nowNs = end;
  }
}
