// SqliteDurableLog syncs the WAL itself: inline for ordinary batches, on the
// thread pool for `background` ones, `done` callbacks always in persist()
// order; it checkpoints the WAL into the database by itself.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import type { Entry } from '../../runtime/raft/types.ts';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'acp-raft-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'raft.db');
}

const ent = (index: number, term = 1): Entry => ({ index, term, type: 'normal', data: `d${index}` });

test('a background batch completes later, in order with the batches around it', async (t) => {
  const path = tmp(t);
  const log = new SqliteDurableLog(path);
  log.load();
  const order: string[] = [];
  let inline = true;
  log.persist({ entries: [ent(1)], hardState: { term: 1, vote: 'a', commit: 0 } }, (err) => {
    t.falsy(err);
    order.push('first');
  });
  t.deepEqual(order, ['first'], 'an ordinary batch is durable when persist() returns');
  const all = new Promise<void>((resolve) => {
    log.persist({ entries: [ent(2)], background: true }, (err) => {
      t.falsy(err);
      t.false(inline, 'a background batch does not complete inside persist()');
      order.push('background');
    });
    // Behind a sync in flight, even an ordinary batch waits its turn.
    log.persist({ entries: [ent(3)] }, (err) => {
      t.falsy(err);
      order.push('after');
    });
    log.persist({ hardState: { term: 1, vote: 'a', commit: 3 }, sync: false }, (err) => {
      t.falsy(err);
      order.push('commit-only');
      resolve();
    });
  });
  inline = false;
  await all;
  t.deepEqual(order, ['first', 'background', 'after', 'commit-only']);
  log.close();
  const again = new SqliteDurableLog(path);
  t.teardown(() => again.close());
  const s = again.load();
  t.deepEqual(s.entries.map((e) => e.index), [1, 2, 3]);
  t.is(s.hardState.commit, 3);
});

test('closing with a background sync in flight still completes it', async (t) => {
  const path = tmp(t);
  const log = new SqliteDurableLog(path);
  log.load();
  const done = new Promise<Error | undefined>((resolve) => log.persist({ entries: [ent(1)], background: true }, resolve));
  log.close();
  t.falsy(await done);
  const again = new SqliteDurableLog(path);
  t.teardown(() => again.close());
  t.deepEqual(again.load().entries.map((e) => e.index), [1]);
});

test('the WAL is checkpointed into the database now and then, so it does not grow without bound', (t) => {
  const path = tmp(t);
  const log = new SqliteDurableLog(path);
  t.teardown(() => log.close());
  log.load();
  let biggest = 0;
  for (let i = 1; i <= 2500; i++) {
    log.persist({ entries: [ent(i)], hardState: { term: 1, vote: '', commit: i - 1 }, sync: i % 2 === 0 }, (err) => {
      if (err) throw err;
    });
    if (i % 100 === 0) biggest = Math.max(biggest, statSync(`${path}-wal`).size);
  }
  t.true(existsSync(`${path}-wal`));
  t.true(statSync(`${path}-wal`).size < biggest, 'the WAL shrank after a checkpoint');
  t.is(log.load().entries.length, 2500);
});
