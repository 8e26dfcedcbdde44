import test from 'ava';
import { CdbStore, encodeStoreCommand } from '../../actors/cdb/store.ts';
import type { StoreCommand } from '../../actors/cdb/store.ts';
import type { ObjectDef } from '../../actors/cdb/schema.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { EXAMPLES, node } from './examples.ts';

/** A tiny "Raft host": applies commands at increasing indexes, like committed entries. */
class Host {
  store: CdbStore;
  index = 0;
  constructor(store = new CdbStore()) {
    this.store = store;
    this.index = store.revision;
  }
  run(cmd: StoreCommand | string) {
    this.index++;
    return this.store.apply(this.index, typeof cmd === 'string' ? cmd : encodeStoreCommand(cmd));
  }
  put(object: ObjectDef, expectRevision?: number) {
    return this.run({ op: 'put', object, ...(expectRevision !== undefined ? { expectRevision } : {}) });
  }
  del(type: ObjectDef['type'], id: string, expectRevision?: number) {
    return this.run({ op: 'delete', type, id, ...(expectRevision !== undefined ? { expectRevision } : {}) });
  }
}

test('put / get / list / delete', (t) => {
  const h = new Host();
  t.deepEqual(h.put(EXAMPLES.node), { ok: true, revision: 1 });
  t.deepEqual(h.put(EXAMPLES['storage/pool']), { ok: true, revision: 2 });
  t.deepEqual(h.put(EXAMPLES['storage/device']), { ok: true, revision: 3 });
  const n1 = h.store.get('node', 'n1');
  t.like(n1, { type: 'node', id: 'n1', revision: 1, createdRevision: 1 });
  t.deepEqual(h.store.list().map((o) => `${o.type}/${o.id}`), ['node/n1', 'storage/n1-sda', 'storage/p1']);
  t.deepEqual(h.store.list({ type: 'storage', subtype: 'pool' }).map((o) => o.id), ['p1']);
  t.deepEqual(h.store.list({ prefix: 'n1' }).map((o) => o.id), ['n1', 'n1-sda']);
  // replace keeps createdRevision, bumps revision
  t.deepEqual(h.put({ ...EXAMPLES.node, spec: { ...EXAMPLES.node.spec, name: 'renamed' } } as ObjectDef), { ok: true, revision: 4 });
  t.like(h.store.get('node', 'n1'), { revision: 4, createdRevision: 1, spec: { name: 'renamed' } });
  t.deepEqual(h.del('storage', 'p1'), { ok: true, revision: 5 });
  t.is(h.store.get('storage', 'p1'), undefined);
  t.like(h.del('storage', 'p1'), { ok: false, code: 'not-found' });
  t.is(h.store.revision, 6, 'failed commands advance the store revision too');
  t.is(h.store.size, 2);
});

test('stored objects are immutable to readers', (t) => {
  const h = new Host();
  h.put(EXAMPLES.node);
  const o = h.store.get('node', 'n1')!;
  t.throws(() => {
    (o.spec as { name: string }).name = 'x';
  });
});

test('client-supplied revision fields are ignored', (t) => {
  const h = new Host();
  h.put({ ...EXAMPLES.node, revision: 999, createdRevision: 7 } as ObjectDef);
  t.like(h.store.get('node', 'n1'), { revision: 1, createdRevision: 1 });
});

test('compare-and-set by revision', (t) => {
  const h = new Host();
  t.deepEqual(h.put(EXAMPLES.node, 0), { ok: true, revision: 1 }, 'create-only succeeds when absent');
  t.like(h.put(EXAMPLES.node, 0), { ok: false, code: 'conflict', actual: 1 }, 'create-only fails when present');
  t.like(h.put(EXAMPLES.node, 7), { ok: false, code: 'conflict', actual: 1 });
  t.deepEqual(h.put(EXAMPLES.node, 1), { ok: true, revision: 4 });
  t.like(h.put(EXAMPLES.node, 1), { ok: false, code: 'conflict', actual: 4 }, 'a stale expectRevision loses');
  t.like(h.put(node('n9'), 3), { ok: false, code: 'conflict', actual: 0 }, 'expecting a revision of an absent object');
  t.like(h.del('node', 'n1', 1), { ok: false, code: 'conflict', actual: 4 });
  t.deepEqual(h.del('node', 'n1', 4), { ok: true, revision: 8 });
  t.like(h.del('node', 'n1', 4), { ok: false, code: 'conflict', actual: 0 });
  t.is(h.store.get('node', 'n1'), undefined);
});

test('invalid commands are rejected deterministically and change nothing', (t) => {
  const h = new Host();
  t.like(h.run('{not json'), { ok: false, code: 'invalid' });
  t.like(h.run(JSON.stringify({ op: 'frobnicate' })), { ok: false, code: 'invalid' });
  const bad = h.put({ ...EXAMPLES['storage/pool'], spec: { devices: ['a'], redundancy: 'raid6' } } as unknown as ObjectDef);
  t.deepEqual(bad, { ok: false, code: 'invalid', message: 'storage/pool "p1": spec.redundancy must be one of mirror, raid5, none, raidz1' });
  h.put(EXAMPLES['storage/device']);
  t.like(h.put({ ...EXAMPLES['storage/pool'], id: 'n1-sda' } as ObjectDef), { ok: false, code: 'invalid' }, 'subtype cannot change');
  t.is(h.store.size, 1);
  t.is(h.store.changesSince(0).compacted, false);
});

test('entries at or below the applied index are ignored; empty entries advance the revision', (t) => {
  const s = new CdbStore();
  t.truthy(s.apply(1, encodeStoreCommand({ op: 'put', object: EXAMPLES.node })));
  t.is(s.apply(1, encodeStoreCommand({ op: 'delete', type: 'node', id: 'n1' })), undefined);
  t.truthy(s.get('node', 'n1'));
  t.is(s.apply(2, ''), undefined);
  t.is(s.revision, 2);
  t.deepEqual(s.apply(5, encodeStoreCommand({ op: 'put', object: node('n2') })), { ok: true, revision: 5 }, 'indexes may skip (conf changes)');
});

test('revisions are strictly increasing across changes', (t) => {
  const h = new Host();
  const rng = new SeededRng(7);
  let last = 0;
  for (let i = 0; i < 200; i++) {
    const id = `n${rng.int(0, 9)}`;
    const r = rng.int(0, 2) === 0 ? h.del('node', id) : h.put(node(id));
    if (r?.ok) {
      t.true(r.revision > last);
      last = r.revision;
    }
  }
  const ch = h.store.changesSince(0);
  t.false(ch.compacted);
  if (!ch.compacted) for (let i = 1; i < ch.changes.length; i++) t.true(ch.changes[i].revision > ch.changes[i - 1].revision);
});

test('exactly-once with (client, seq): a retried CAS returns the original answer', (t) => {
  const h = new Host();
  const cmd: StoreCommand = { op: 'put', object: EXAMPLES.node, expectRevision: 0, client: 'cli-1', seq: 1 };
  t.deepEqual(h.run(cmd), { ok: true, revision: 1 });
  t.deepEqual(h.run(cmd), { ok: true, revision: 1 }, 'the duplicate gets the original result, not a conflict');
  const ch = h.store.changesSince(0);
  t.is(ch.compacted ? -1 : ch.changes.length, 1, 'applied once');
  t.like(h.run({ op: 'delete', type: 'node', id: 'n1', client: 'cli-1', seq: 2 }), { ok: true });
  t.like(h.run({ ...cmd, seq: 1 }), { ok: false, code: 'invalid' }, 'an older seq is refused');
  t.like(h.run({ op: 'put', object: node('n2'), client: 'cli-2' } as unknown as StoreCommand), { ok: false, code: 'invalid' }, 'client without seq');
});

test('session table is bounded (LRU eviction)', (t) => {
  const h = new Host(new CdbStore({ maxSessions: 2 }));
  h.run({ op: 'put', object: node('a'), client: 'c1', seq: 1 });
  h.run({ op: 'put', object: node('b'), client: 'c2', seq: 1 });
  h.run({ op: 'put', object: node('c'), client: 'c3', seq: 1 }); // evicts c1
  const snap = JSON.parse(h.store.snapshot()) as { sessions: [string, unknown][] };
  t.deepEqual(snap.sessions.map(([c]) => c), ['c2', 'c3']);
});

function watchFixture() {
  const h = new Host();
  h.put(node('n1')); // 1
  h.put(node('n2')); // 2
  h.put(EXAMPLES['storage/device']); // 3 storage/n1-sda
  h.put(EXAMPLES['storage/pool']); // 4 storage/p1
  h.put(node('n1')); // 5
  h.del('node', 'n2'); // 6
  h.put(EXAMPLES['network/vlan-bridge']); // 7
  return h;
}

test('watch: filter by type, id, prefix, subtype', (t) => {
  const h = watchFixture();
  const revs = (r: ReturnType<CdbStore['changesSince']>) => (r.compacted ? 'compacted' : r.changes.map((c) => `${c.revision}:${c.op}:${c.key}`));
  t.deepEqual(revs(h.store.changesSince(0, { type: 'node' })), ['1:put:node/n1', '2:put:node/n2', '5:put:node/n1', '6:delete:node/n2']);
  t.deepEqual(revs(h.store.changesSince(0, { type: 'node', id: 'n1' })), ['1:put:node/n1', '5:put:node/n1']);
  t.deepEqual(revs(h.store.changesSince(0, { prefix: 'n1' })), ['1:put:node/n1', '3:put:storage/n1-sda', '5:put:node/n1']);
  t.deepEqual(revs(h.store.changesSince(0, { type: 'storage', subtype: 'pool' })), ['4:put:storage/p1']);
  const del = h.store.changesSince(5, { type: 'node' });
  t.false(del.compacted);
  if (!del.compacted) {
    t.like(del.changes[0], { op: 'delete', prevRevision: 2, id: 'n2' });
    t.is(del.revision, 7, 'the cursor advances to the store revision even without a matching change');
  }
  const put = h.store.changesSince(4, { id: 'n1' });
  if (!put.compacted) t.like(put.changes[0], { op: 'put', created: false, object: { revision: 5, createdRevision: 1 } });
});

test('watch: resume from a revision returns exactly the missed changes', (t) => {
  const h = watchFixture();
  const all = h.store.changesSince(0);
  if (all.compacted) return t.fail();
  for (let from = 0; from <= 7; from++) {
    const r = h.store.changesSince(from);
    if (r.compacted) return t.fail();
    t.deepEqual(r.changes, all.changes.filter((c) => c.revision > from), `from ${from}`);
    t.is(r.revision, 7);
  }
  // a watcher that saw up to 3, then the cluster moved on
  h.put(node('n3')); // 8
  h.del('storage', 'p1'); // 9
  const r = h.store.changesSince(3);
  if (r.compacted) return t.fail();
  t.deepEqual(r.changes.map((c) => c.revision), [4, 5, 6, 7, 8, 9]);
});

test('watch: paging with a limit', (t) => {
  const h = watchFixture();
  const a = h.store.changesSince(0, {}, 3);
  if (a.compacted) return t.fail();
  t.deepEqual(a.changes.map((c) => c.revision), [1, 2, 3]);
  t.true(a.more);
  t.is(a.revision, 3);
  const b = h.store.changesSince(a.revision, {}, 3);
  if (b.compacted) return t.fail();
  t.deepEqual(b.changes.map((c) => c.revision), [4, 5, 6]);
  const c = h.store.changesSince(b.revision, {}, 3);
  if (c.compacted) return t.fail();
  t.deepEqual(c.changes.map((x) => x.revision), [7]);
  t.false(c.more);
});

test('watch: compacted history is reported; re-list and resume', (t) => {
  const h = new Host(new CdbStore({ historyLimit: 5 }));
  for (let i = 0; i < 12; i++) h.put(node(`n${i % 4}`)); // revisions 1..12, changes 8..12 retained
  t.is(h.store.oldestResumable, 7);
  t.deepEqual(h.store.changesSince(3), { compacted: true, oldest: 7, revision: 12 });
  t.deepEqual(h.store.changesSince(6), { compacted: true, oldest: 7, revision: 12 });
  const ok = h.store.changesSince(7);
  if (ok.compacted) return t.fail();
  t.deepEqual(ok.changes.map((c) => c.revision), [8, 9, 10, 11, 12]);
  // the watcher re-lists at the store revision, then resumes from it
  const listed = h.store.list();
  const at = h.store.revision;
  t.is(listed.length, 4);
  h.put(node('n9'));
  const r = h.store.changesSince(at);
  if (r.compacted) return t.fail();
  t.deepEqual(r.changes.map((c) => c.key), ['node/n9']);
});

test('history is bounded at the limit over long runs', (t) => {
  const h = new Host(new CdbStore({ historyLimit: 100 }));
  for (let i = 0; i < 5000; i++) h.put(node(`n${i % 50}`));
  const r = h.store.changesSince(h.store.oldestResumable);
  if (r.compacted) return t.fail();
  t.is(r.changes.length, 100);
  t.is(r.changes[0].revision, 4901);
});

function randomCommands(seed: number, n: number): StoreCommand[] {
  const rng = new SeededRng(seed);
  const out: StoreCommand[] = [];
  const kinds = Object.values(EXAMPLES);
  for (let i = 0; i < n; i++) {
    const base = kinds[rng.int(0, kinds.length - 1)];
    const id = `${base.type.slice(0, 2)}${rng.int(0, 5)}`;
    const exp = rng.int(0, 3) === 0 ? { expectRevision: rng.int(0, i) } : {};
    const sess = rng.int(0, 2) === 0 ? { client: `c${rng.int(0, 3)}`, seq: rng.int(1, 40) } : {};
    if (rng.int(0, 3) === 0) out.push({ op: 'delete', type: base.type, id, ...exp, ...sess });
    else out.push({ op: 'put', object: { ...base, id } as ObjectDef, ...exp, ...sess });
  }
  return out;
}

test('snapshot / restore round trip: identical state and identical subsequent behaviour', (t) => {
  const cmds = randomCommands(11, 400);
  const a = new Host(new CdbStore({ historyLimit: 50, maxSessions: 3 }));
  for (const c of cmds.slice(0, 250)) a.run(c);
  const snap = a.store.snapshot();
  const restored = new CdbStore();
  restored.restore(snap);
  t.is(restored.snapshot(), snap);
  t.is(restored.revision, a.store.revision);
  t.deepEqual(restored.list(), a.store.list());
  t.deepEqual(restored.changesSince(restored.oldestResumable), a.store.changesSince(a.store.oldestResumable));
  const b = new Host(restored);
  for (const c of cmds.slice(250)) t.deepEqual(b.run(c), a.run(c));
  t.is(b.store.snapshot(), a.store.snapshot());
  const empty = new CdbStore();
  empty.restore('');
  t.is(empty.snapshot(), new CdbStore().snapshot());
});

test('two replicas applying the same commands end identical', (t) => {
  for (const seed of [1, 2, 3]) {
    const cmds = randomCommands(seed, 300).map((c) => encodeStoreCommand(c));
    const r1 = new CdbStore({ historyLimit: 64 });
    const r2 = new CdbStore({ historyLimit: 64 });
    const res1 = cmds.map((c, i) => r1.apply(i + 1, c));
    // replica 2 takes a snapshot half way (as a lagging follower would receive one) and replays the rest twice
    cmds.slice(0, 150).forEach((c, i) => r2.apply(i + 1, c));
    const r3 = new CdbStore();
    r3.restore(r2.snapshot());
    const res3 = cmds.slice(150).map((c, i) => r3.apply(i + 151, c));
    cmds.slice(140).forEach((c, i) => r3.apply(i + 141, c)); // duplicates after restart: ignored
    t.is(r3.snapshot(), r1.snapshot(), `seed ${seed}`);
    t.deepEqual(res3, res1.slice(150));
  }
});
