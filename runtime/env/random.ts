// Seeded random numbers. Every random choice in ACP flows from one of these,
// handed to code through its context, so a seed replays a run exactly.
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** An independent stream derived from this one (so adding a consumer elsewhere does not shift this stream). */
  fork(): Rng;
}

export class SeededRng implements Rng {
  #gen: RandomGenerator;
  constructor(seed: number) {
    // Small consecutive seeds (1, 2, 3…) are what people type; scramble them so
    // neighbouring seeds do not start on correlated streams.
    this.#gen = xoroshiro128plus(mix32(seed));
  }
  next(): number {
    // 53 random bits from two 32-bit draws: a full-precision double in [0,1).
    // (pure-rand's float distribution masks raw draws; two bounded-integer
    // draws with rejection sampling cost the simulator ~3% of its time.)
    return uniformFloat64(this.#gen);
  }
  int(lo: number, hi: number): number {
    return uniformInt(this.#gen, lo, hi);
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  fork(): Rng {
    return new SeededRng(uniformInt(this.#gen, -0x80000000, 0x7fffffff));
  }
}

function mix32(x: number): number {
  let h = (x ^ 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
