// The address axis: the 64-bit space cut at every region edge; each piece gets a width that grows
// with the logarithm of its size, so a 4 KiB BAR page and 16 EiB of nothing are both visible.
import type { MapModel } from './map-model.ts';

/** Axis units of a piece: occupied pieces 4 + log2(size)/4 (4 KiB: 7, 1 GiB: 11.5); empty gaps 1 + log2(size)/16. */
function weight(size: bigint, occupied: boolean): number {
  const bits = size.toString(2).length - 1;
  return occupied ? 4 + bits / 4 : 1 + bits / 16;
}

/** Maps addresses to axis units and back. */
export class Axis {
  readonly cuts: bigint[];
  /** Axis units where piece i starts; the last entry is the total. */
  readonly at: number[];
  readonly total: number;

  constructor(model: MapModel) {
    const set = new Set<bigint>([0n, 1n << 64n]);
    const used: [bigint, bigint][] = [];
    for (const l of model.lanes) {
      for (const b of l.boxes) set.add(BigInt(b.start)).add(BigInt(b.end));
      for (const s of l.segments) {
        set.add(BigInt(s.start)).add(BigInt(s.end));
        if (s.path !== 'unassigned') used.push([BigInt(s.start), BigInt(s.end)]);
      }
    }
    this.cuts = [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    used.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.at = [0];
    let u = 0;
    for (let i = 0, j = 0; i + 1 < this.cuts.length; i++) {
      const lo = this.cuts[i]!;
      const hi = this.cuts[i + 1]!;
      while (j < used.length && used[j]![1] <= lo) j++;
      let occupied = false;
      for (let k = j; k < used.length && used[k]![0] < hi; k++) if (used[k]![1] > lo) occupied = true;
      u += weight(hi - lo, occupied);
      this.at.push(u);
    }
    this.total = u;
  }

  /** The piece holding `addr` (the last piece for 2^64). */
  private piece(addr: bigint): number {
    let lo = 0;
    let hi = this.cuts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.cuts[mid]! <= addr) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Axis units of an address: linear inside its piece. */
  toUnits(addr: bigint): number {
    const i = this.piece(addr);
    const lo = this.cuts[i]!;
    const size = this.cuts[i + 1]! - lo;
    return this.at[i]! + (this.at[i + 1]! - this.at[i]!) * (Number(addr - lo) / Number(size));
  }

  /** The address at some axis units (rounded down inside its piece). */
  toAddress(u: number): bigint {
    if (u <= 0) return 0n;
    if (u >= this.total) return (1n << 64n) - 1n;
    let lo = 0;
    let hi = this.at.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.at[mid]! <= u) lo = mid;
      else hi = mid - 1;
    }
    const base = this.cuts[lo]!;
    const size = this.cuts[lo + 1]! - base;
    const frac = (u - this.at[lo]!) / (this.at[lo + 1]! - this.at[lo]!);
    // Exact below 2^53; above, a float fraction of the piece is as precise as a pixel can be.
    const off =
      size <= 1n << 53n ? BigInt(Math.floor(frac * Number(size))) : (size * BigInt(Math.floor(frac * 2 ** 30))) >> 30n;
    const a = base + off;
    return a < this.cuts[lo + 1]! ? a : this.cuts[lo + 1]! - 1n;
  }
}
