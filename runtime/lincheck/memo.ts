// Lowe's cache for the linearizability search: the set of operations
// linearized so far, as bitsets, plus every configuration already entered.
//
// A configuration is (R, P, state): R the linearized *required* operations
// (completed ones, which every linearization must contain), P the linearized
// *optional* ones (pending: may take effect or not). (R, P, s) can do no more
// than (R, P', s) for any P' ⊆ P: the remaining required operations and their
// real-time constraints are identical, and P' merely leaves more optional
// operations available (each may also never happen); any completion of the
// former completes the latter in as many steps. So a configuration is skipped
// when one with the same R and state and a subset of its P was entered
// before. Without optional operations this is plain equality.

/** Deterministic 32-bit mixer (for Zobrist keys of operation indices). */
function mix(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * An entered configuration: its state hash and, at `off` in the pool, a copy
 * of its required bits followed by its optional bits. Entries with the same
 * Zobrist key form a list (almost always of one).
 */
interface Seen {
  stateHash: string;
  off: number;
  next: Seen | undefined;
}

export class LinearizedSet {
  /** Per operation: its bit index in `optional`, or -1 for a required operation. */
  readonly #optionalRank: Int32Array;
  readonly #required: Uint32Array;
  readonly #optional: Uint32Array;
  // A 53-bit Zobrist hash of `required`, kept incrementally, so a cache
  // lookup costs no O(n) hashing; the state hash selects a second level.
  readonly #zLo: Uint32Array;
  readonly #zHi: Uint32Array;
  #hLo = 0;
  #hHi = 0;
  readonly #entered = new Map<number, Seen>();
  // Bit copies of entered configurations, back to back: one growing buffer
  // instead of two typed arrays per configuration (their allocation made
  // entering cost more than the rest of a search step on long histories).
  #pool = new Uint32Array(4096);
  #poolUsed = 0;

  constructor(optional: readonly boolean[]) {
    const n = optional.length;
    this.#optionalRank = new Int32Array(n).fill(-1);
    let count = 0;
    for (let i = 0; i < n; i++) if (optional[i]) this.#optionalRank[i] = count++;
    this.#required = new Uint32Array(Math.ceil(n / 32));
    this.#optional = new Uint32Array(Math.ceil(count / 32));
    this.#zLo = new Uint32Array(n);
    this.#zHi = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.#zLo[i] = mix(2 * i + 1);
      this.#zHi[i] = mix(2 * i + 2 + 0x51ed27) & 0x1fffff;
    }
  }

  /** Add operation i to the set, or remove it. */
  toggle(i: number): void {
    const r = this.#optionalRank[i];
    if (r >= 0) {
      this.#optional[r >>> 5] ^= 1 << (r & 31);
    } else {
      this.#required[i >>> 5] ^= 1 << (i & 31);
      this.#hLo = (this.#hLo ^ this.#zLo[i]) >>> 0;
      this.#hHi ^= this.#zHi[i];
    }
  }

  has(i: number): boolean {
    const r = this.#optionalRank[i];
    if (r >= 0) return (this.#optional[r >>> 5] & (1 << (r & 31))) !== 0;
    return (this.#required[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  /**
   * Record the configuration (this set, the state with this hash) as entered.
   * Returns false, recording nothing, if an entered configuration subsumes it.
   */
  enter(stateHash: string): boolean {
    const key = this.#hHi * 4294967296 + this.#hLo;
    const req = this.#required;
    const opt = this.#optional;
    const rw = req.length;
    const ow = opt.length;
    const head = this.#entered.get(key);
    let prev: Seen | undefined;
    for (let seen = head; seen !== undefined; seen = seen.next) {
      if (seen.stateHash === stateHash && this.#sameRequired(seen.off)) {
        if (this.#optionalSubset(seen.off + rw, opt, false)) return false;
        if (this.#optionalSubset(seen.off + rw, opt, true)) {
          // The new configuration subsumes this one: drop it, keeping lists short.
          if (prev !== undefined) prev.next = seen.next;
          else if (seen.next !== undefined) this.#entered.set(key, seen.next);
          else this.#entered.delete(key);
          continue;
        }
      }
      prev = seen;
    }
    if (this.#poolUsed + rw + ow > this.#pool.length) {
      const bigger = new Uint32Array(Math.max(this.#pool.length * 2, this.#poolUsed + rw + ow));
      bigger.set(this.#pool.subarray(0, this.#poolUsed));
      this.#pool = bigger;
    }
    const off = this.#poolUsed;
    this.#pool.set(req, off);
    this.#pool.set(opt, off + rw);
    this.#poolUsed += rw + ow;
    this.#entered.set(key, { stateHash, off, next: this.#entered.get(key) });
    return true;
  }

  #sameRequired(off: number): boolean {
    const pool = this.#pool;
    const req = this.#required;
    for (let w = 0; w < req.length; w++) if (pool[off + w] !== req[w]) return false;
    return true;
  }

  /** !reverse: is the pooled optional set at `off` a subset of `opt`? reverse: is `opt` a subset of it? */
  #optionalSubset(off: number, opt: Uint32Array, reverse: boolean): boolean {
    const pool = this.#pool;
    for (let w = 0; w < opt.length; w++) {
      const a = reverse ? opt[w] : pool[off + w];
      const b = reverse ? pool[off + w] : opt[w];
      if ((a & ~b) !== 0) return false;
    }
    return true;
  }
}
