import test from 'ava';
import { KvStore, decodeKvCommand, encodeKvCommand } from '../../runtime/raft/kv.ts';
import type { KvCommand } from '../../runtime/raft/kv.ts';
import type { Entry } from '../../runtime/raft/types.ts';

let idx = 0;
const entry = (c: KvCommand): Entry => ({ index: ++idx, term: 1, type: 'normal', data: encodeKvCommand(c) });

test('apply: read, write, cas semantics (null = missing)', (t) => {
  const kv = new KvStore();
  t.deepEqual(kv.apply(entry({ op: 'read', key: 'a', client: 'c', seq: 1 })), { ok: true, value: null });
  t.deepEqual(kv.apply(entry({ op: 'cas', key: 'a', expected: null, value: '1', client: 'c', seq: 2 })), { ok: true, value: '1' });
  t.deepEqual(kv.apply(entry({ op: 'cas', key: 'a', expected: null, value: '2', client: 'c', seq: 3 })), { ok: false, value: '1' });
  t.deepEqual(kv.apply(entry({ op: 'write', key: 'a', value: '3', client: 'c', seq: 4 })), { ok: true, value: '3' });
  t.deepEqual(kv.apply(entry({ op: 'cas', key: 'a', expected: '3', value: null, client: 'c', seq: 5 })), { ok: true, value: null });
  t.is(kv.get('a'), null);
  // Non-command entries are no-ops.
  t.is(kv.apply({ index: ++idx, term: 1, type: 'normal', data: '' }), undefined);
  t.is(kv.apply({ index: ++idx, term: 1, type: 'conf', data: '{}' }), undefined);
  t.is(decodeKvCommand('{"op":"write","key":"k"}'), undefined);
});

test('a retried request (same client and seq) is applied at most once', (t) => {
  const kv = new KvStore();
  kv.apply(entry({ op: 'write', key: 'n', value: '0', client: 'x', seq: 1 }));
  const cas: KvCommand = { op: 'cas', key: 'n', expected: '0', value: '1', client: 'y', seq: 7 };
  t.deepEqual(kv.apply(entry(cas)), { ok: true, value: '1' });
  kv.apply(entry({ op: 'write', key: 'n', value: '0', client: 'x', seq: 2 }));
  // The retry of y#7 reaches the log after x reset n: it must not apply again, and gets the original answer.
  t.deepEqual(kv.apply(entry(cas)), { ok: true, value: '1' });
  t.is(kv.get('n'), '0');
  // An older seq than the latest is refused.
  kv.apply(entry({ op: 'write', key: 'm', value: 'v', client: 'y', seq: 8 }));
  t.like(kv.apply(entry(cas)), { ok: false, error: 'stale' });
  // Replaying an already applied index (restart) is ignored.
  const e = entry({ op: 'write', key: 'z', value: '1', client: 'z', seq: 1 });
  kv.apply(e);
  t.is(kv.apply(e), undefined);
});

test('snapshot / restore carries data and sessions, deterministically', (t) => {
  const kv = new KvStore();
  kv.apply(entry({ op: 'write', key: 'b', value: '2', client: 'c', seq: 1 }));
  kv.apply(entry({ op: 'write', key: 'a', value: '1', client: 'd', seq: 1 }));
  const snap = kv.snapshot();
  const copy = new KvStore();
  copy.restore(snap);
  t.is(copy.snapshot(), snap);
  t.is(copy.get('a'), '1');
  t.is(copy.appliedIndex, kv.appliedIndex);
  // The session survived: a duplicate is still recognised after restore.
  t.deepEqual(copy.execute({ op: 'write', key: 'b', value: 'X', client: 'c', seq: 1 }), { ok: true, value: '2' });
  t.is(copy.get('b'), '2');
});
