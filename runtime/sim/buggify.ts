// FoundationDB-style buggify. Production code asks `env.buggify("site")` at a
// rare path; in simulation each site is *enabled* for a share of seeds, and an
// enabled site *fires* with some probability each time it is asked. Whether a
// site is enabled depends only on (seed, site name) — not on the order sites
// are first reached — so adding a site elsewhere does not reshuffle the others.
import type { Rng } from '../env/random.ts';

export interface BuggifyOptions {
  /** Master switch (a scenario may turn buggify off). */
  enabled: boolean;
  /** Share of seeds for which a given site is enabled. FoundationDB uses 25%. */
  siteShare: number;
  /** Probability that an enabled site fires when asked. */
  fireProbability: number;
}

export const defaultBuggify: BuggifyOptions = { enabled: true, siteShare: 0.25, fireProbability: 0.25 };

export class Buggify {
  #opts: BuggifyOptions;
  #seed: number;
  #rng: Rng;
  #sites = new Map<string, boolean>();
  /** Fires per site, for the run report and the "did anything happen" checks. */
  readonly fired = new Map<string, number>();
  onFire: ((site: string, node: string) => void) | undefined;

  constructor(seed: number, rng: Rng, opts: BuggifyOptions) {
    this.#seed = seed;
    this.#rng = rng;
    this.#opts = opts;
  }

  isEnabled(site: string): boolean {
    let on = this.#sites.get(site);
    if (on === undefined) {
      on = this.#opts.enabled && hashUnit(this.#seed, site) < this.#opts.siteShare;
      this.#sites.set(site, on);
    }
    return on;
  }

  /** Sites seen so far and whether each is enabled for this seed. */
  sites(): Record<string, boolean> {
    return Object.fromEntries([...this.#sites.entries()].sort());
  }

  ask(site: string, node: string): boolean {
    if (!this.isEnabled(site)) return false;
    if (!this.#rng.chance(this.#opts.fireProbability)) return false;
    this.fired.set(site, (this.fired.get(site) ?? 0) + 1);
    this.onFire?.(site, node);
    return true;
  }
}

/** Deterministic hash of (seed, text) to [0, 1). */
export function hashUnit(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}
