// DurableLog over node:sqlite: one transaction per batch in a WAL journal,
// exclusive locking (one process owns a log).
//
// Durability is ours, not SQLite's: the connection runs with synchronous=OFF
// and, after the COMMIT of a batch that must be durable, we fdatasync the WAL
// file; `done()` comes after that, so it really means durable. A committed
// transaction is a run of checksummed frames in the WAL: once they are on
// disk, recovery replays it; a crash before that loses it whole (torn frames
// fail their checksums), and it was never acknowledged. Syncing ourselves lets
// a `background` batch (a leader's own append) sync on libuv's thread pool
// while the thread keeps heartbeating and receiving acknowledgements, instead
// of stalling for the disk. Syncs are chained, one at a time, so `done`
// callbacks run in persist() order. A batch with `sync: false` (only the
// commit index changed: etcd's !mustSync) is not synced at all: still atomic
// and ordered in the WAL, made durable by the next sync.
//
// What synchronous=OFF would otherwise endanger is the checkpoint (copying the
// WAL into the database file, after which SQLite reuses the WAL): so automatic
// checkpoints are off, and we checkpoint every CHECKPOINT_EVERY commits — and
// SQLite does on close — with synchronous=NORMAL, which syncs the WAL before
// and the database file after copying, before the WAL is reused.
// Statements are prepared once; the stored snapshot's index is cached (a
// persist never re-reads or re-parses the snapshot).
// Every row carries a CRC32 of its canonical encoding, verified on load: a
// torn or bit-flipped record becomes a CorruptStateError instead of a node
// silently forgetting a vote or an acknowledged entry.
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { crc32 } from 'node:zlib';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';
import type { DurableLog, LoadedState, PersistBatch } from './storage.ts';
import { CorruptStateError, bootstrapState, emptyConf, emptyHardState } from './storage.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, crc INTEGER NOT NULL);
`;

/** Commits between two checkpoints of the WAL into the database file. */
const CHECKPOINT_EVERY = 1000;

function entryCrc(idx: number, term: number, type: string, data: string): number {
  return crc32(`${idx}\u0000${term}\u0000${type}\u0000${data}`);
}
function metaCrc(key: string, value: string): number {
  return crc32(`${key}\u0000${value}`);
}

export class SqliteDurableLog implements DurableLog {
  readonly path: string;
  #db: DatabaseSync;
  #closed = false;
  /** Our own descriptor of the WAL file, for fdatasync (opened after the first commit created it). */
  #walFd = -1;
  /** `done`s covered by the fdatasync in flight (null: none in flight). */
  #syncing: ((err?: Error) => void)[] | null = null;
  /** `done`s waiting for the next fdatasync (it starts when the one in flight ends). */
  #waiting: ((err?: Error) => void)[] = [];
  #commits = 0;
  /** Index of the stored snapshot (0 without one); undefined until first needed. */
  #snapIndex: number | undefined;
  #st: {
    getMeta: StatementSync;
    putMeta: StatementSync;
    delFrom: StatementSync;
    delThrough: StatementSync;
    insert: StatementSync;
    termAt: StatementSync;
    count: StatementSync;
  };

  constructor(path: string) {
    this.path = path;
    this.#db = new DatabaseSync(path);
    // One process owns a Raft log: exclusive locking keeps the file locked
    // while it is open (a second node pointed at the same data directory
    // fails at once instead of interleaving writes), and it spares every
    // transaction its lock and unlock system calls — 12 µs of 30 per small
    // transaction — and the wal-index its shared-memory file. It must be set
    // before WAL mode is entered.
    const db = this.#db;
    try {
      db.exec('PRAGMA locking_mode=EXCLUSIVE');
      db.exec('PRAGMA journal_mode=WAL');
      // We sync the WAL ourselves after each durable commit and checkpoint by hand (see the top).
      db.exec('PRAGMA synchronous=OFF');
      db.exec('PRAGMA wal_autocheckpoint=0');
      db.exec(SCHEMA);
    } catch (e) {
      db.close();
      throw e;
    }
    this.#st = {
      getMeta: db.prepare('SELECT value, crc FROM meta WHERE key = ?'),
      putMeta: db.prepare('INSERT INTO meta (key, value, crc) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, crc = excluded.crc'),
      delFrom: db.prepare('DELETE FROM entries WHERE idx >= ?'),
      delThrough: db.prepare('DELETE FROM entries WHERE idx <= ?'),
      insert: db.prepare('INSERT INTO entries (idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?)'),
      termAt: db.prepare('SELECT term FROM entries WHERE idx = ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM entries'),
    };
  }

  #getMeta(key: string): string | undefined {
    const row = this.#st.getMeta.get(key) as { value: string; crc: number } | undefined;
    if (!row) return undefined;
    if (metaCrc(key, row.value) !== row.crc) throw new CorruptStateError(`raft sqlite ${this.path}: checksum mismatch in meta record '${key}'`);
    return row.value;
  }
  #putMeta(key: string, value: string): void {
    this.#st.putMeta.run(key, value, metaCrc(key, value));
  }
  #storedSnapIndex(): number {
    if (this.#snapIndex === undefined) {
      const cur = this.#getMeta('snapshot');
      this.#snapIndex = cur ? (JSON.parse(cur) as Snapshot).meta.index : 0;
    }
    return this.#snapIndex;
  }
  #wal(): number {
    if (this.#walFd >= 0) return this.#walFd;
    const fd = openSync(`${this.path}-wal`, 'r+');
    // SQLite syncs a new WAL's directory entry on its first sync; it never syncs here, so we do.
    // The WAL is created by the first commit of a connection and lives until close.
    const dir = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    this.#walFd = fd;
    return fd;
  }

  /** Call `done` once everything committed so far is durable, after every earlier `done`. */
  #afterSync(done: (err?: Error) => void): void {
    this.#waiting.push(done);
    if (this.#syncing === null) this.#startSync();
  }

  #startSync(): void {
    const covered = this.#waiting;
    this.#waiting = [];
    this.#syncing = covered;
    let fd: number;
    try {
      fd = this.#wal();
    } catch (e) {
      this.#syncing = null;
      for (const d of covered) d(e as Error);
      return;
    }
    fdatasync(fd, (err) => {
      this.#syncing = null;
      for (const d of covered) d(err ?? undefined);
      if (this.#waiting.length > 0) this.#startSync();
      else if (this.#closed) this.#closeWal();
    });
  }

  #closeWal(): void {
    if (this.#walFd < 0) return;
    try {
      closeSync(this.#walFd);
    } catch {
      // already gone
    }
    this.#walFd = -1;
  }

  /** Copy the WAL into the database file and empty it, syncing both (synchronous=NORMAL) before the WAL is reused. */
  #checkpoint(): void {
    this.#commits = 0;
    try {
      this.#db.exec('PRAGMA synchronous=NORMAL');
      this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch {
      // The WAL just keeps growing until the next attempt; every commit in it is still safe.
    } finally {
      this.#db.exec('PRAGMA synchronous=OFF');
    }
  }

  load(): LoadedState {
    const hsRaw = this.#getMeta('hardState');
    const snapRaw = this.#getMeta('snapshot');
    const hardState: HardState = hsRaw ? (JSON.parse(hsRaw) as HardState) : emptyHardState();
    const snapshot = snapRaw ? (JSON.parse(snapRaw) as Snapshot) : undefined;
    const from = snapshot ? snapshot.meta.index : 0;
    this.#snapIndex = from;
    const rows = this.#db.prepare('SELECT idx, term, type, data, crc FROM entries WHERE idx > ? ORDER BY idx').all(from) as {
      idx: number;
      term: number;
      type: string;
      data: string;
      crc: number;
    }[];
    const entries: Entry[] = [];
    let expect = from + 1;
    for (const r of rows) {
      if (entryCrc(r.idx, r.term, r.type, r.data) !== r.crc) {
        throw new CorruptStateError(`raft sqlite ${this.path}: checksum mismatch in log entry ${r.idx}`);
      }
      if (r.idx !== expect) throw new CorruptStateError(`raft sqlite ${this.path}: gap in log, expected entry ${expect} but found ${r.idx}`);
      if (r.type !== 'normal' && r.type !== 'conf') throw new CorruptStateError(`raft sqlite ${this.path}: bad entry type at ${r.idx}`);
      entries.push({ index: r.idx, term: r.term, type: r.type, data: r.data });
      expect++;
    }
    const conf: ConfState = snapshot ? snapshot.meta.conf : emptyConf();
    const out: LoadedState = { hardState, entries, conf };
    if (snapshot) out.snapshot = snapshot;
    return out;
  }

  persist(batch: PersistBatch, done: (err?: Error) => void): void {
    if (this.#closed) {
      done(new Error('raft: durable log closed'));
      return;
    }
    // The whole batch is ONE transaction (the DurableLog atomicity contract,
    // storage.ts): any failing statement rolls back everything before it, and
    // a crash before the WAL is synced leaves none of it.
    if (this.#commits >= CHECKPOINT_EVERY) this.#checkpoint();
    let newSnapIndex: number | undefined;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        if (batch.conf) {
          const empty = (this.#st.count.get() as { n: number }).n === 0 && this.#getMeta('snapshot') === undefined;
          if (empty) {
            const init = bootstrapState(batch.conf);
            this.#writeEntries(init.entries);
            this.#putMeta('hardState', JSON.stringify(init.hardState));
          }
        }
        if (batch.snapshot && batch.snapshot.meta.index > this.#storedSnapIndex()) {
          const { index, term } = batch.snapshot.meta;
          const at = this.#st.termAt.get(index) as { term: number } | undefined;
          // Same rule as MemoryDurableLog: keep a tail that continues the snapshot, else drop the log.
          if (at && at.term === term) this.#st.delThrough.run(index);
          else this.#db.exec('DELETE FROM entries');
          this.#putMeta('snapshot', JSON.stringify(batch.snapshot));
          newSnapIndex = index;
        }
        if (batch.entries && batch.entries.length > 0) this.#writeEntries(batch.entries);
        if (batch.hardState) this.#putMeta('hardState', JSON.stringify(batch.hardState));
        this.#db.exec('COMMIT');
      } catch (e) {
        try {
          if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        } catch {
          // SQLite already rolled back (e.g. after an I/O error): nothing of the batch is committed either way.
        }
        throw e;
      }
    } catch (e) {
      done(e as Error);
      return;
    }
    this.#commits++;
    if (newSnapIndex !== undefined) this.#snapIndex = newSnapIndex;
    // Behind a sync in flight: wait for the next one, so `done`s keep their order.
    if (this.#syncing !== null) return this.#afterSync(done);
    if (batch.sync === false) return done();
    if (batch.background) return this.#afterSync(done);
    try {
      fdatasyncSync(this.#wal());
    } catch (e) {
      // Committed but not known durable: the host retries the same batch (see DurableLog).
      return done(e as Error);
    }
    done();
  }

  #writeEntries(entries: Entry[]): void {
    // Overwrite the conflicting suffix: everything from the first new index on goes.
    this.#st.delFrom.run(entries[0].index);
    const ins = this.#st.insert;
    for (const e of entries) ins.run(e.index, e.term, e.type, e.data, entryCrc(e.index, e.term, e.type, e.data));
  }

  compact(throughIndex: number): void {
    const snapIndex = this.#storedSnapIndex();
    if (throughIndex > snapIndex) throw new RangeError(`raft: compact(${throughIndex}) beyond snapshot index ${snapIndex}`);
    this.#st.delThrough.run(throughIndex);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Closing checkpoints and removes the WAL: with NORMAL, SQLite syncs both files first.
      this.#db.exec('PRAGMA synchronous=NORMAL');
    } finally {
      this.#db.close();
      if (this.#syncing === null) this.#closeWal();
    }
  }
}
