import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import { CorruptStateError, memoryStorageFrom } from '../../runtime/raft/storage.ts';
import type { PersistBatch } from '../../runtime/raft/storage.ts';
import type { Entry } from '../../runtime/raft/types.ts';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'acp-raft-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'raft.db');
}

function persist(log: SqliteDurableLog, b: PersistBatch): void {
  let called = false;
  log.persist(b, (err) => {
    if (err) throw err;
    called = true;
  });
  if (!called) throw new Error('done not called');
}

const ent = (index: number, term: number, data = `d${index}`): Entry => ({ index, term, type: 'normal', data });

test('round trip of hard state and entries, and reopen after close', (t) => {
  const path = tmp(t);
  const a = new SqliteDurableLog(path);
  persist(a, { hardState: { term: 2, vote: '1', commit: 2 }, entries: [ent(1, 1), ent(2, 2), { index: 3, term: 2, type: 'conf', data: '{"type":"addVoter","node":"4"}' }] });
  t.deepEqual(a.load().entries.map((e) => e.index), [1, 2, 3]);
  a.close();
  const b = new SqliteDurableLog(path);
  const s = b.load();
  t.deepEqual(s.hardState, { term: 2, vote: '1', commit: 2 });
  t.is(s.entries[2].type, 'conf');
  t.is(s.snapshot, undefined);
  b.close();
  const closed = new SqliteDurableLog(path);
  closed.close();
  closed.persist({ hardState: { term: 3, vote: '', commit: 0 } }, (err) => t.truthy(err));
});

test('entries overwrite a conflicting suffix', (t) => {
  const log = new SqliteDurableLog(tmp(t));
  t.teardown(() => log.close());
  persist(log, { entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)] });
  persist(log, { entries: [ent(3, 2, 'new')] });
  const s = log.load();
  t.deepEqual(s.entries.map((e) => [e.index, e.term, e.data]), [[1, 1, 'd1'], [2, 1, 'd2'], [3, 2, 'new']]);
});

test('bootstrap conf, snapshot + compaction, and a leader snapshot that replaces the log', (t) => {
  const log = new SqliteDurableLog(tmp(t));
  t.teardown(() => log.close());
  persist(log, { conf: { voters: ['1', '2', '3'], learners: [] } });
  let s = log.load();
  t.is(s.entries.length, 3);
  t.is(s.hardState.commit, 3);
  t.deepEqual(memoryStorageFrom(s).lastIndex(), 3);
  persist(log, { entries: [ent(4, 2), ent(5, 2), ent(6, 2)], hardState: { term: 2, vote: '1', commit: 6 } });
  // The application snapshots at 5: the tail (6) survives; compaction drops <= 5.
  const snap = { meta: { index: 5, term: 2, conf: { voters: ['1', '2', '3'], learners: [] } }, data: 'state@5' };
  persist(log, { snapshot: snap });
  log.compact(5);
  s = log.load();
  t.deepEqual(s.snapshot, snap);
  t.deepEqual(s.entries.map((e) => e.index), [6]);
  t.deepEqual(s.conf.voters, ['1', '2', '3']);
  const ms = memoryStorageFrom(s);
  t.is(ms.firstIndex(), 6);
  t.is(ms.lastIndex(), 6);
  t.throws(() => log.compact(9), { instanceOf: RangeError });
  // A leader's snapshot whose term at 8 we do not have: the whole log is replaced.
  persist(log, { snapshot: { meta: { index: 8, term: 3, conf: { voters: ['1', '2'], learners: [] } }, data: 'state@8' }, entries: [ent(9, 3)] });
  s = log.load();
  t.is(s.snapshot?.meta.index, 8);
  t.deepEqual(s.entries.map((e) => e.index), [9]);
  // An older snapshot is ignored.
  persist(log, { snapshot: snap });
  t.is(log.load().snapshot?.meta.index, 8);
});

test('a corrupted record on disk is detected as CorruptStateError', (t) => {
  const path = tmp(t);
  const log = new SqliteDurableLog(path);
  persist(log, { hardState: { term: 1, vote: '', commit: 0 }, entries: [ent(1, 1), ent(2, 1, 'precious')] });
  log.close();
  const db = new DatabaseSync(path);
  db.prepare("UPDATE entries SET data = 'tampered' WHERE idx = 2").run();
  db.close();
  const reopened = new SqliteDurableLog(path);
  t.teardown(() => reopened.close());
  const err = t.throws(() => reopened.load(), { instanceOf: CorruptStateError });
  t.regex(err!.message, /checksum mismatch in log entry 2/);

  const path2 = tmp(t);
  const l2 = new SqliteDurableLog(path2);
  persist(l2, { hardState: { term: 4, vote: '2', commit: 0 } });
  l2.close();
  const db2 = new DatabaseSync(path2);
  db2.prepare(`UPDATE meta SET value = '{"term":5,"vote":"3","commit":0}' WHERE key = 'hardState'`).run();
  db2.close();
  const r2 = new SqliteDurableLog(path2);
  t.teardown(() => r2.close());
  t.throws(() => r2.load(), { instanceOf: CorruptStateError, message: /meta record 'hardState'/ });
});

// Persist-batch atomicity (the DurableLog contract): a batch whose later
// statement fails leaves nothing of the batch behind, and the log stays usable.
test('a failing batch is rolled back whole: no snapshot, entries or hard state of it survive', (t) => {
  const path = tmp(t);
  const a = new SqliteDurableLog(path);
  persist(a, { hardState: { term: 1, vote: 'n1', commit: 2 }, entries: [ent(1, 1), ent(2, 1), ent(3, 1)] });
  const before = a.load();
  const errors: Error[] = [];
  const snap = { meta: { index: 3, term: 1, conf: { voters: ['n1'], learners: [] } }, data: 'S3' };
  // 1. the snapshot and the suffix delete succeed, then the second insert hits a duplicate index.
  a.persist({ snapshot: snap, entries: [ent(2, 2, 'x'), ent(2, 2, 'dup')], hardState: { term: 2, vote: 'n2', commit: 3 } }, (err) => {
    if (err) errors.push(err);
  });
  // 2. snapshot and entries are written, then encoding the hard state throws.
  a.persist({ snapshot: snap, entries: [ent(4, 1)], hardState: { term: 10n as unknown as number, vote: 'n2', commit: 4 } }, (err) => {
    if (err) errors.push(err);
  });
  t.is(errors.length, 2, 'both batches must report their failure');
  t.deepEqual(a.load(), before);
  // Nothing half-done survives a "crash" (reopen) either, and the log still takes writes.
  a.close();
  const b = new SqliteDurableLog(path);
  t.deepEqual(b.load(), before);
  persist(b, { entries: [ent(4, 1)], hardState: { term: 1, vote: 'n1', commit: 4 } });
  t.deepEqual(b.load().entries.map((e) => e.index), [1, 2, 3, 4]);
  b.close();
});

test('MemoryDurableLog: a failing batch leaves nothing behind', async (t) => {
  const { MemoryDurableLog } = await import('../../runtime/raft/storage.ts');
  const m = new MemoryDurableLog();
  m.persist({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries: [ent(1, 1)] }, () => {});
  const before = m.load();
  let failed: Error | undefined;
  // structuredClone cannot copy a function: the snapshot copy fails after the entries were staged.
  const bad = { meta: { index: 1, term: 1, conf: { voters: ['n1'], learners: [] } }, data: 'S', extra: () => 0 };
  m.persist({ entries: [ent(2, 1)], snapshot: bad as never, hardState: { term: 2, vote: 'n1', commit: 2 } }, (err) => (failed = err));
  t.truthy(failed);
  t.deepEqual(m.load(), before);
});
