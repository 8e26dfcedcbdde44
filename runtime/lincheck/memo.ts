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

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
  return true;
}

/** Is a ⊆ b? */
function isSubset(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < a.length; w++) if ((a[w] & ~b[w]) !== 0) return false;
  return true;
}

interface Seen {
  required: Uint32Array;
  optional: Uint32Array;
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
  readonly #entered = new Map<number, Map<string, Seen[]>>();

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
    let byState = this.#entered.get(key);
    if (!byState) this.#entered.set(key, (byState = new Map()));
    let list = byState.get(stateHash);
    if (!list) byState.set(stateHash, (list = []));
    let subsumed = 0;
    for (const seen of list) {
      if (!sameBits(seen.required, this.#required)) continue;
      if (isSubset(seen.optional, this.#optional)) return false;
      if (isSubset(this.#optional, seen.optional)) subsumed++;
    }
    if (subsumed > 0) {
      // Drop entries the new one subsumes, keeping lists short.
      const kept = list.filter((x) => !(sameBits(x.required, this.#required) && isSubset(this.#optional, x.optional)));
      byState.set(stateHash, (list = kept));
    }
    list.push({ required: this.#required.slice(), optional: this.#optional.slice() });
    return true;
  }
}
