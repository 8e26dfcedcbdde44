// One process owns a Raft log: the SQLite file stays locked while it is open.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';

test('a second open of a log in use fails clearly; it opens again once the first is closed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'acp-raft-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'raft.db');
  const a = new SqliteDurableLog(path);
  a.load();
  a.persist({ hardState: { term: 3, vote: 'n1', commit: 0 } }, (err) => {
    if (err) throw err;
  });
  t.throws(() => new SqliteDurableLog(path).load(), { message: /locked/ });
  a.close();
  const b = new SqliteDurableLog(path);
  t.teardown(() => b.close());
  t.is(b.load().hardState.term, 3);
});
