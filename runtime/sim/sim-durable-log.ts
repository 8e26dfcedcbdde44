// Raft's DurableLog over a simulated disk. One append-only file of checksummed
// records; `persist` appends then fsyncs and calls `done` only once the fsync
// completed, so after a crash `load()` recovers exactly what Raft was told is
// durable (plus possibly some of what was in flight — never less).
//
// Records: see log-record.ts. On load:
// - a bad checksum on the LAST record is a torn write: drop it;
// - a bad checksum elsewhere is first retried (read corruption is transient);
//   if it persists, the log is corrupt (CorruptStateError).
// Compaction rewrites the file atomically with the current state.
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.ts';
import { decodeRecord, encodeRecord } from './log-record.ts';
import type { Rec } from './log-record.ts';
import { CorruptStateError, cloneConf, emptyConf, emptyHardState } from '../raft/storage.ts';
import type { DurableLog, LoadedState, PersistBatch } from '../raft/storage.ts';
import type { SimDisk } from './disk.ts';

// Transient read corruption (probability p per read) is retried this many
// times per record: at p = 0.6 and a few hundred records, 20 retries made a
// healthy disk look corrupt on ~1% of reboots (0.6^21 per record); 100 makes it
// ~1e-22. Real persistent corruption still fails the load.
const READ_RETRIES = 100;

export interface SimDurableLogStats {
  tornTailsDropped: number;
  corruptReadsRetried: number;
}

export class SimDurableLog implements DurableLog {
  #disk: SimDisk;
  #file: string;
  // Materialized state mirror (what the file currently says, synced or not).
  #hard: HardState = emptyHardState();
  #conf: ConfState = emptyConf();
  #snap: Snapshot | undefined;
  #ents: Entry[] = [];
  #closed = false;
  #records = 0;
  /** Rewrite the file when it has this many more records than the state needs. */
  rewriteThreshold = 2000;
  readonly stats: SimDurableLogStats = { tornTailsDropped: 0, corruptReadsRetried: 0 };

  constructor(disk: SimDisk, file = 'raft.log') {
    this.#disk = disk;
    this.#file = file;
  }

  load(): LoadedState {
    const recs = this.#readVerified();
    this.#hard = emptyHardState();
    this.#conf = emptyConf();
    this.#snap = undefined;
    this.#ents = [];
    for (const r of recs) this.#apply(r);
    this.#records = recs.length;
    // Sanity: contiguous entries following the snapshot.
    const snap = this.#snap as Snapshot | undefined;
    let expect = (snap?.meta.index ?? 0) + 1;
    for (const e of this.#ents) {
      if (e.index !== expect) throw new CorruptStateError(`raft log: gap at index ${expect} (found ${e.index})`);
      expect++;
    }
    const out: LoadedState = {
      hardState: { ...this.#hard },
      entries: this.#ents.map((e) => ({ ...e })),
      conf: cloneConf(snap ? snap.meta.conf : this.#conf),
    };
    if (snap) out.snapshot = structuredClone(snap);
    return out;
  }

  #readVerified(): Rec[] {
    const lines = this.#disk.read(this.#file);
    const out: Rec[] = [];
    for (let i = 0; i < lines.length; i++) {
      let r = decodeRecord(lines[i]);
      // Read corruption is transient: re-read the record a few times.
      for (let attempt = 0; r === undefined && attempt < READ_RETRIES; attempt++) {
        this.stats.corruptReadsRetried++;
        const again = this.#disk.readAt(this.#file, i);
        r = again === undefined ? undefined : decodeRecord(again);
      }
      if (r !== undefined) {
        out.push(r);
        continue;
      }
      // Still bad: on the last record it is a torn write from a crash (never acknowledged); elsewhere, real corruption.
      if (i === lines.length - 1) {
        this.stats.tornTailsDropped++;
        // Cut the torn record off the file before anything is appended after
        // it: otherwise the next reboot finds it in the middle of the log and
        // takes it for corruption (a real WAL truncates its torn tail too).
        // Atomic rewrite, durable with the next fsync; a crash before that
        // restores the old file, where the torn record is still the tail.
        this.#disk.rewrite(this.#file, out.map(encodeRecord));
        return out;
      }
      throw new CorruptStateError(`raft log: record ${i} of ${lines.length} fails its checksum`);
    }
    return out;
  }

  #apply(r: Rec): void {
    switch (r.k) {
      case 'conf':
        this.#conf = r.conf;
        break;
      case 'snap': {
        const { index, term } = r.snap.meta;
        const at = this.#ents.find((e) => e.index === index);
        this.#ents = at && at.term === term ? this.#ents.filter((e) => e.index > index) : [];
        this.#snap = r.snap;
        break;
      }
      case 'ents': {
        if (r.ents.length === 0) break;
        const first = r.ents[0].index;
        let i = this.#ents.length;
        while (i > 0 && this.#ents[i - 1].index >= first) i--;
        if (i < this.#ents.length) this.#ents.length = i;
        const snapIndex = this.#snap?.meta.index ?? 0;
        for (const e of r.ents) if (e.index > snapIndex) this.#ents.push(e);
        break;
      }
      case 'hs':
        this.#hard = r.hs;
        break;
      case 'compact':
        this.#ents = this.#ents.filter((e) => e.index > r.through);
        break;
      case 'batch':
        if (r.snap) this.#apply({ k: 'snap', snap: r.snap });
        if (r.ents) this.#apply({ k: 'ents', ents: r.ents });
        if (r.hs) this.#apply({ k: 'hs', hs: r.hs });
        break;
    }
  }

  persist(batch: PersistBatch, done: (err?: Error) => void): void {
    if (this.#closed) return done(new Error('raft: durable log closed'));
    // A snapshot without the hard state that commits it (or entries without
    // theirs) must never be what survives a crash: the whole batch is one record.
    const rec: Rec = { k: 'batch' };
    if (batch.snapshot) rec.snap = batch.snapshot;
    if (batch.entries && batch.entries.length > 0) rec.ents = batch.entries;
    if (batch.hardState) rec.hs = { ...batch.hardState };
    const err = this.#disk.append(this.#file, encodeRecord(rec));
    if (err) return done(err);
    this.#apply(rec);
    this.#records++;
    // Commit-index-only batch (!mustSync): no fsync; a later synced batch covers it.
    if (batch.sync === false) return done();
    this.#disk.fsync(this.#file, done);
  }

  compact(throughIndex: number): void {
    const snapIndex = this.#snap?.meta.index ?? 0;
    if (throughIndex > snapIndex) throw new RangeError(`raft: compact(${throughIndex}) beyond snapshot index ${snapIndex}`);
    this.#apply({ k: 'compact', through: throughIndex });
    // Rewrite when the file carries much more than the state: bounded disk use.
    if (this.#records - this.#ents.length > this.rewriteThreshold || this.#records > 4 * this.rewriteThreshold) {
      const recs: Rec[] = [{ k: 'conf', conf: this.#conf }];
      if (this.#snap) recs.push({ k: 'snap', snap: this.#snap });
      if (this.#ents.length > 0) recs.push({ k: 'ents', ents: this.#ents });
      recs.push({ k: 'hs', hs: this.#hard });
      if (this.#disk.rewrite(this.#file, recs.map(encodeRecord)) === undefined) {
        this.#records = recs.length;
        // Durable at the next persist's fsync; until then a crash restores the old (superset) file.
      }
    } else {
      const err = this.#disk.append(this.#file, encodeRecord({ k: 'compact', through: throughIndex }));
      if (err === undefined) this.#records++;
    }
  }

  close(): void {
    this.#closed = true;
  }
}
