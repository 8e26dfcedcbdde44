// Storage seen from two sides:
//  (a) `Storage` is what the Raft core *reads* its stable log from
//      (MemoryStorage is the usual implementation, as in etcd). The host
//      writes to it after persisting each Ready.
//  (b) `DurableLog` is what hosts use to make state survive a crash (SQLite,
//      or a simulated disk). On restart, `load()` output is fed into a fresh
//      MemoryStorage with `memoryStorageFrom`.
import type { ConfState, Entry, HardState, Ready, Snapshot } from './types.ts';
import { NONE, entrySize } from './types.ts';
import { bootstrapEntries } from './confchange.ts';

/** Thrown (internally) when asking for entries that were compacted away. */
export class CompactedError extends Error {
  constructor(index: number, first: number) {
    super(`raft: index ${index} is compacted (first available ${first})`);
    this.name = 'CompactedError';
  }
}

/** Thrown (internally) when asking for entries beyond the last index. */
export class UnavailableError extends Error {
  constructor(index: number, last: number) {
    super(`raft: index ${index} is unavailable (last ${last})`);
    this.name = 'UnavailableError';
  }
}

/** The durable state failed verification (checksum mismatch, gap in the log…). */
export class CorruptStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptStateError';
  }
}

/** Read side used by the Raft core. Indexes are 1-based; index 0 is the empty prefix. */
export interface Storage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries [lo, hi), truncated to maxSize bytes (see countWithin; always at least one entry). */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** Term of entry i; firstIndex()-1 (the snapshot index) is also answerable. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export const emptyHardState = (): HardState => ({ term: 0, vote: NONE, commit: 0 });
export const emptyConf = (): ConfState => ({ voters: [], learners: [] });

/**
 * How many of ents[from, to) fit in maxSize bytes (entrySize: an upper bound of
 * their encoded size); always at least one, when there is one, however large.
 */
export function countWithin(ents: readonly Entry[], from: number, to: number, maxSize: number): number {
  if (to <= from) return 0;
  let size = entrySize(ents[from]);
  let i = from + 1;
  for (; i < to; i++) {
    size += entrySize(ents[i]);
    if (size > maxSize) break;
  }
  return i - from;
}

export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  const n = countWithin(ents, 0, ents.length, maxSize);
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * In-memory stable log. ents[0] is a dummy entry holding the snapshot's
 * (index, term) so that term(firstIndex-1) is always answerable, which the
 * leader needs for the prevLogTerm of the first entry it sends.
 */
export class MemoryStorage implements Storage {
  #hard: HardState = emptyHardState();
  #snap: Snapshot = { meta: { index: 0, term: 0, conf: emptyConf() }, data: '' };
  #ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: '' }];

  /**
   * Storage of a founding member of a new cluster with configuration `conf`
   * (see bootstrapState). A node joining an existing cluster starts from an
   * empty `new MemoryStorage()` instead.
   */
  static bootstrap(conf: ConfState): MemoryStorage {
    return memoryStorageFrom(bootstrapState(conf));
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.#hard }, conf: cloneConf(this.#snap.meta.conf) };
  }
  hardState(): HardState {
    return { ...this.#hard };
  }
  setHardState(hs: HardState): void {
    this.#hard = { ...hs };
  }
  firstIndex(): number {
    return this.#ents[0].index + 1;
  }
  lastIndex(): number {
    return this.#ents[0].index + this.#ents.length - 1;
  }
  term(i: number): number {
    const off = this.#ents[0].index;
    if (i < off) throw new CompactedError(i, off + 1);
    if (i - off >= this.#ents.length) throw new UnavailableError(i, this.lastIndex());
    return this.#ents[i - off].term;
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const off = this.#ents[0].index;
    if (lo <= off) throw new CompactedError(lo, off + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const from = lo - off;
    return this.#ents.slice(from, from + countWithin(this.#ents, from, hi - off, maxSize));
  }
  /** Entry i, or undefined when it is compacted or beyond the end. */
  entry(i: number): Entry | undefined {
    const off = this.#ents[0].index;
    return i > off ? this.#ents[i - off] : undefined;
  }
  snapshot(): Snapshot {
    return this.#snap;
  }
  /** All stored entries (for tests, dumps and durable copies). */
  allEntries(): Entry[] {
    return this.#ents.slice(1);
  }

  /** Replace everything with the snapshot (a follower restoring from its leader). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index < this.#snap.meta.index) return; // stale: ignore, like etcd's ErrSnapOutOfDate
    this.#snap = snap;
    this.#ents = [{ term: snap.meta.term, index: snap.meta.index, type: 'normal', data: '' }];
  }

  /**
   * The application took a snapshot of its state machine at applied index i.
   * It does not drop entries; call compact() for that (often keeping a tail
   * so slightly lagging followers can catch up without a snapshot).
   */
  createSnapshot(i: number, conf: ConfState, data: string): Snapshot {
    if (i <= this.#snap.meta.index) return this.#snap;
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    this.#snap = { meta: { index: i, term: this.term(i), conf: cloneConf(conf) }, data };
    return this.#snap;
  }

  /** Drop entries up to and including i (i must not exceed the last index). */
  compact(i: number): void {
    const off = this.#ents[0].index;
    if (i <= off) return;
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    const t = this.term(i);
    this.#ents = [{ term: t, index: i, type: 'normal', data: '' }, ...this.#ents.slice(i - off + 1)];
  }

  /** Append entries, truncating any conflicting suffix (entries[0].index may be <= lastIndex). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    let es = entries as Entry[];
    if (first > es[0].index) es = es.slice(first - es[0].index);
    const off = es[0].index - this.#ents[0].index;
    if (off > this.#ents.length) {
      throw new Error(`raft: missing log entry [last: ${this.lastIndex()}, append at: ${es[0].index}]`);
    }
    // In place: the array never leaves this object (readers get slices).
    const ents = this.#ents;
    ents.length = off;
    for (let i = 0; i < es.length; i++) ents.push(es[i]);
  }
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

// ---------------------------------------------------------------------------
// Durable adapter used by hosts.

export interface PersistBatch {
  hardState?: HardState;
  /** May start at or below the stored last index: the stored suffix from entries[0].index is replaced. */
  entries?: Entry[];
  /**
   * Ignored unless newer than the stored snapshot. Entries up to snapshot.meta.index are dropped. Stored entries after it are
   * kept only if the stored entry at that index has the snapshot's term (the
   * application snapshotting its own log); otherwise the whole stored log is
   * replaced (a restore from the leader). Entries in the same batch follow it.
   */
  snapshot?: Snapshot;
  /**
   * Optional extension: bootstrap a founding member with this configuration.
   * Only meaningful on an empty log; it is shorthand for persisting
   * bootstrapState(conf).hardState and .entries (the committed term-1 conf
   * entries that MemoryStorage.bootstrap(conf) starts with), applied before
   * the other fields of the batch.
   */
  conf?: ConfState;
  /**
   * false: the batch changes nothing Raft needs to survive a crash (only the
   * commit index: etcd's !mustSync), so it need not be fsynced before `done`.
   * It stays ordered and atomic: a later synced batch makes it durable too,
   * and a crash keeps all of it or none. Default true.
   */
  sync?: boolean;
  /**
   * The caller keeps working while this batch becomes durable — a leader's
   * own append: its followers' acknowledgements can commit the entries, and
   * its heartbeats must not stop while the disk is slow. A log may then
   * return from persist() before the batch is durable and call `done` later
   * (from another turn of the event loop) instead of blocking the thread.
   * `done` still means durable. Default false.
   */
  background?: boolean;
}

export interface LoadedState {
  hardState: HardState;
  snapshot?: Snapshot;
  /** Entries after the snapshot (or from index 1), contiguous. */
  entries: Entry[];
  /** Configuration as of the snapshot (empty without one). Conf entries in `entries` apply on top of it. */
  conf: ConfState;
}

/**
 * Contract of every implementation:
 * - ATOMIC BATCHES: one persist() is all-or-nothing, across a crash as well as
 *   on error. After `done()` every part of the batch (entries, hard state,
 *   snapshot, bootstrap conf) is durable; after a crash before `done` none of
 *   it is visible to load(), nor half of it; after `done(err)` none of it is
 *   known durable: it may be stored whole or not at all (SqliteDurableLog:
 *   committed, but the sync failed), never half, and the host retries the same
 *   batch, which is idempotent (the same entries, hard state and snapshot
 *   overwrite themselves). Raft relies on
 *   this: a hard state whose commit index points past entries that did not
 *   survive, or a snapshot without the hard state that goes with it, or a
 *   truncated suffix without its replacement, breaks its promises.
 *   (SqliteDurableLog: one transaction; SimDurableLog: one checksummed record;
 *   MemoryDurableLog: staged on copies, then swapped in.)
 * - ORDER: batches become durable in the order persist() was called; `done`
 *   callbacks run in that order.
 * - A failed batch leaves the log usable: the host retries the same batch.
 */
export interface DurableLog {
  /** On start. Throws CorruptStateError when a checksum fails or the log has gaps. */
  load(): LoadedState;
  /** `done` is called once the whole batch is durable (fsynced), or with the error (then it is not known durable: retry it). */
  persist(batch: PersistBatch, done: (err?: Error) => void): void;
  /** Forget entries up to and including throughIndex (must be <= the stored snapshot index). */
  compact(throughIndex: number): void;
  close(): void;
}

/**
 * Initial durable state of a founding member: the committed bootstrap conf
 * entries (term 1) and a hard state committing them. Hosts persist exactly
 * this (persist({ hardState, entries })) before starting the node.
 */
export function bootstrapState(conf: ConfState): LoadedState {
  const entries = bootstrapEntries(conf);
  const hardState = entries.length > 0 ? { term: 1, vote: NONE, commit: entries.length } : emptyHardState();
  return { hardState, entries, conf: emptyConf() };
}

/** Build the MemoryStorage a restarted RawNode reads from. */
export function memoryStorageFrom(state: LoadedState): MemoryStorage {
  const s = new MemoryStorage();
  if (state.snapshot && state.snapshot.meta.index > 0) s.applySnapshot(state.snapshot);
  s.append(state.entries);
  s.setHardState(state.hardState);
  return s;
}

/** The batch a host hands to DurableLog.persist for a Ready (undefined when nothing to persist). */
export function persistBatchOf(rd: Ready): PersistBatch | undefined {
  const b: PersistBatch = {};
  if (rd.hardState) b.hardState = rd.hardState;
  if (rd.entries.length > 0) b.entries = rd.entries;
  if (rd.snapshot) b.snapshot = rd.snapshot;
  return b.hardState || b.entries || b.snapshot ? b : undefined;
}

/** Write a Ready's durable parts into a MemoryStorage (snapshot, then entries, then hard state). */
export function applyReadyToStorage(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
}

/**
 * A DurableLog that keeps deep copies in memory and completes synchronously.
 * Used by tests to model "what survived the crash"; a simulated disk with
 * delayed/failed fsyncs lives elsewhere.
 */
export class MemoryDurableLog implements DurableLog {
  #hard: HardState = emptyHardState();
  #snap: Snapshot | undefined;
  #ents: Entry[] = [];
  #closed = false;

  load(): LoadedState {
    const out: LoadedState = {
      hardState: { ...this.#hard },
      entries: this.#ents.map((e) => ({ ...e })),
      conf: this.#snap ? cloneConf(this.#snap.meta.conf) : emptyConf(),
    };
    if (this.#snap) out.snapshot = structuredClone(this.#snap);
    return out;
  }
  persist(batch: PersistBatch, done: (err?: Error) => void): void {
    if (this.#closed) return done(new Error('raft: durable log closed'));
    // Atomic: stage everything on copies, then swap in (a throw leaves the old state).
    let hard = this.#hard;
    let snap = this.#snap;
    let ents = this.#ents;
    try {
      if (batch.conf && ents.length === 0 && !snap) {
        const init = bootstrapState(batch.conf);
        ents = init.entries;
        hard = init.hardState;
      }
      if (batch.snapshot && (!snap || batch.snapshot.meta.index > snap.meta.index)) {
        const { index, term } = batch.snapshot.meta;
        snap = structuredClone(batch.snapshot);
        // Keep the stored tail only if it continues the snapshot (same entry at
        // its index): then it is the app snapshotting its own state. Otherwise
        // it is a restore from the leader and the whole old log goes.
        const at = ents.find((e) => e.index === index);
        ents = at && at.term === term ? ents.filter((e) => e.index > index) : [];
      }
      if (batch.entries && batch.entries.length > 0) {
        const first = batch.entries[0].index;
        ents = ents.filter((e) => e.index < first).concat(batch.entries.map((e) => ({ ...e })));
      }
      if (batch.hardState) hard = { ...batch.hardState };
    } catch (e) {
      return done(e as Error);
    }
    this.#hard = hard;
    this.#snap = snap;
    this.#ents = ents;
    done();
  }
  compact(throughIndex: number): void {
    const snapIndex = this.#snap ? this.#snap.meta.index : 0;
    if (throughIndex > snapIndex) throw new RangeError(`raft: compact(${throughIndex}) beyond snapshot index ${snapIndex}`);
    this.#ents = this.#ents.filter((e) => e.index > throughIndex);
  }
  close(): void {
    this.#closed = true;
  }
}
