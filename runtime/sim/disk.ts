// A simulated disk for one node: files are sequences of records (strings).
// Semantics, as on a real disk with a page cache:
// - appends and atomic rewrites are visible to reads at once, but only
//   `fsync` makes them survive a crash;
// - on crash, an unsynced tail may partly survive, and its last surviving
//   record may be torn (a prefix of what was written);
// - reads can come back corrupted (a flipped character; transient, so a re-read
//   may succeed): checksums above this layer must catch it;
// - writes fail with ENOSPC when the disk is full (capacity or injected);
// - fsync takes time, occasionally a long time (buggify "sim.disk.slow-fsync").
import type { Rng } from '../env/random.ts';
import type { Scheduler } from './scheduler.ts';
import type { SimNode } from './node.ts';

interface SimFile {
  records: string[];
  /** records[0..durableLen) survive a crash. */
  durableLen: number;
  /** Set while an atomic rewrite is not yet fsynced: what a crash restores. */
  before: string[] | undefined;
  bytes: number;
}

export interface DiskStats {
  writes: number;
  fsyncs: number;
  slowFsyncs: number;
  tornWrites: number;
  lostRecords: number;
  corruptReads: number;
  fullErrors: number;
}

export class DiskFullError extends Error {
  readonly code = 'ENOSPC';
  constructor(node: string) {
    super(`ENOSPC: simulated disk of ${node} is full`);
    this.name = 'DiskFullError';
  }
}

export class SimDisk {
  #node: SimNode;
  #sched: Scheduler;
  #rng: Rng;
  #files = new Map<string, SimFile>();
  /** Capacity in bytes (characters); Infinity by default. */
  capacity = Infinity;
  /** Injected fault: every write fails until cleared. */
  full = false;
  /** Probability that reading a record returns a corrupted copy. */
  corruptReadProbability = 0;
  /** Probability that a crash tears the last surviving unsynced record. */
  tornWriteProbability = 0.5;
  fsyncMs = { min: 0.05, max: 0.5 };
  readonly stats: DiskStats = { writes: 0, fsyncs: 0, slowFsyncs: 0, tornWrites: 0, lostRecords: 0, corruptReads: 0, fullErrors: 0 };

  constructor(node: SimNode, sched: Scheduler, rng: Rng) {
    this.#node = node;
    this.#sched = sched;
    this.#rng = rng;
  }

  get usedBytes(): number {
    let n = 0;
    for (const f of this.#files.values()) n += f.bytes;
    return n;
  }

  #file(name: string): SimFile {
    let f = this.#files.get(name);
    if (f === undefined) this.#files.set(name, (f = { records: [], durableLen: 0, before: undefined, bytes: 0 }));
    return f;
  }

  #checkSpace(extra: number): Error | undefined {
    // usedBytes walks every file: only when a capacity is set.
    if (this.full || (this.capacity !== Infinity && this.usedBytes + extra > this.capacity)) {
      this.stats.fullErrors++;
      return new DiskFullError(this.#node.id);
    }
    return undefined;
  }

  append(name: string, record: string): Error | undefined {
    const err = this.#checkSpace(record.length);
    if (err) return err;
    const f = this.#file(name);
    f.records.push(record);
    f.bytes += record.length;
    this.stats.writes++;
    return undefined;
  }

  /** Replace the whole file; a crash before the next fsync restores the old content. */
  rewrite(name: string, records: string[]): Error | undefined {
    const f = this.#file(name);
    let size = 0;
    for (const r of records) size += r.length;
    const err = this.#checkSpace(size - f.bytes);
    if (err) return err;
    if (f.before === undefined) f.before = f.records.slice(0, f.durableLen);
    f.records = records.slice();
    f.durableLen = 0;
    f.bytes = size;
    this.stats.writes++;
    return undefined;
  }

  /** Make everything written to `name` so far durable; `done` runs later on this node (not if it crashed meanwhile). */
  fsync(name: string, done: (err?: Error) => void): void {
    const f = this.#file(name);
    const upTo = f.records.length;
    const rewritten = f.records;
    this.stats.fsyncs++;
    let ms = this.fsyncMs.min + this.#rng.next() * (this.fsyncMs.max - this.fsyncMs.min);
    if (this.#node.env.buggify('sim.disk.slow-fsync')) {
      // Mostly a hiccup well under an election timeout; now and then a stall
      // long enough to cost the node its leadership (or its vote).
      ms += this.#rng.chance(0.1) ? 100 + this.#rng.next() * 200 : 5 + this.#rng.next() * 45;
      this.stats.slowFsyncs++;
    }
    const inc = this.#node.incarnation;
    this.#sched.after(ms, () => {
      if (inc !== this.#node.incarnation) return; // crashed before the fsync completed: nothing became durable
      // Only what existed when fsync was called is covered; a rewrite after it is not.
      if (f.records === rewritten) {
        f.durableLen = Math.max(f.durableLen, Math.min(upTo, f.records.length));
        f.before = undefined;
      }
      this.#node.runFor(inc, () => done());
    });
  }

  /** All records of a file, as a read would see them (possibly corrupted). */
  read(name: string): string[] {
    const f = this.#files.get(name);
    if (f === undefined) return [];
    if (this.corruptReadProbability <= 0) return f.records.slice();
    return f.records.map((r) => {
      if (r.length > 0 && this.#rng.chance(this.corruptReadProbability)) {
        this.stats.corruptReads++;
        const i = this.#rng.int(0, r.length - 1);
        const c = r.charCodeAt(i);
        return r.slice(0, i) + String.fromCharCode(c === 0x7a ? 0x79 : c + 1) + r.slice(i + 1);
      }
      return r;
    });
  }

  /** One record re-read (a fresh chance of a clean read); undefined past the end. */
  readAt(name: string, i: number): string | undefined {
    const r = this.#files.get(name)?.records[i];
    if (r === undefined || r.length === 0 || !this.#rng.chance(this.corruptReadProbability)) return r;
    this.stats.corruptReads++;
    const j = this.#rng.int(0, r.length - 1);
    return r.slice(0, j) + String.fromCharCode(r.charCodeAt(j) ^ 1) + r.slice(j + 1);
  }

  exists(name: string): boolean {
    return this.#files.has(name);
  }

  /** Records that a crash right now could lose (for tests). */
  unsyncedCount(name: string): number {
    const f = this.#files.get(name);
    return f === undefined ? 0 : f.records.length - f.durableLen;
  }

  /** Power loss: drop what was not fsynced, keeping a random prefix of the tail with a possibly torn last record. */
  crash(): void {
    for (const f of this.#files.values()) {
      if (f.before !== undefined) {
        this.stats.lostRecords += f.records.length;
        f.records = f.before;
        f.durableLen = f.records.length;
        f.before = undefined;
      } else if (f.records.length > f.durableLen) {
        const unsynced = f.records.length - f.durableLen;
        const keep = this.#rng.int(0, unsynced);
        this.stats.lostRecords += unsynced - keep;
        f.records.length = f.durableLen + keep;
        if (keep > 0 && this.#rng.chance(this.tornWriteProbability)) {
          const last = f.records.length - 1;
          const r = f.records[last];
          f.records[last] = r.slice(0, this.#rng.int(0, Math.max(0, r.length - 1)));
          this.stats.tornWrites++;
        }
        // What survived a crash is on the platter now.
        f.durableLen = f.records.length;
      }
      let b = 0;
      for (const r of f.records) b += r.length;
      f.bytes = b;
    }
  }
}
