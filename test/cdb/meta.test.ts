import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { check } from '../../actors/cdb/schema.ts';
import { MetaTable, defaultAggregateRule, metaPublicationSchema, parseMetaPublication } from '../../actors/cdb/meta.ts';
import type { Meta } from '../../actors/cdb/schema.ts';

const meta = (node: string, state: string, at: number, service = 'network'): Meta => ({ state, updatedBy: { node, service }, updatedAt: at });

test('multi-node contributions are merged: freshest meta, summed counters, max gauges', (t) => {
  const m = new MetaTable({ self: 'n1', staleAfterMs: 10_000 });
  m.report('n1', 'network/v100', { meta: meta('n1', 'up', 1000), stats: { rxPackets: 100, txPackets: 10, latencyMs: 2 } }, 1000);
  m.report('n2', 'network/v100', { meta: meta('n2', 'degraded', 2000), stats: { rxPackets: 50, txPackets: 5, latencyMs: 7 } }, 2000);
  m.report('n3', 'network/v100', { stats: { rxPackets: 1 } }, 2500);
  const v = m.view('network/v100', 3000);
  t.is(v.state, 'degraded');
  t.is(v.metaFrom, 'n2');
  t.false(v.stale);
  t.deepEqual(v.stats, { latencyMs: 7, rxPackets: 151, txPackets: 15 });
  t.deepEqual(v.nodes.map((n) => [n.node, n.stats]), [
    ['n1', { rxPackets: 100, txPackets: 10, latencyMs: 2 }],
    ['n2', { rxPackets: 50, txPackets: 5, latencyMs: 7 }],
    ['n3', { rxPackets: 1 }],
  ]);
  t.is(v.lastSeen, 2500);
});

test('aggregate rules: defaults and overrides', (t) => {
  t.is(defaultAggregateRule('rxBytes'), 'sum');
  t.is(defaultAggregateRule('rxErrors'), 'sum');
  t.is(defaultAggregateRule('readOps'), 'sum');
  t.is(defaultAggregateRule('cpu'), 'max');
  t.is(defaultAggregateRule('memUsedBytes'), 'max');
  t.is(defaultAggregateRule('usedBytes'), 'max');
  const m = new MetaTable({ self: 'a', aggregate: { temp: 'avg', freeBytes: 'min' } });
  m.report('a', 'node/x', { stats: { temp: 40, freeBytes: 10 } }, 0);
  m.report('b', 'node/x', { stats: { temp: 60, freeBytes: 5 } }, 0);
  t.deepEqual(m.view('node/x', 0).stats, { freeBytes: 5, temp: 50 });
});

test('a report keeps the previous meta/stats it does not carry; stats maps are replaced whole', (t) => {
  const m = new MetaTable({ self: 'n1' });
  m.report('n1', 'node/n1', { meta: meta('n1', 'up', 0, 'hypervisor'), stats: { cpu: 5, load: 1 } }, 0);
  m.report('n1', 'node/n1', { stats: { cpu: 7 } }, 100);
  const v = m.view('node/n1', 100);
  t.is(v.state, 'up');
  t.deepEqual(v.stats, { cpu: 7 });
});

test('stale contributions are flagged and excluded; pruned after the drop bound', (t) => {
  const m = new MetaTable({ self: 'n1', staleAfterMs: 1000, dropAfterMs: 5000 });
  m.report('n1', 'network/v100', { meta: meta('n1', 'up', 0), stats: { rxPackets: 10 } }, 0);
  m.report('n2', 'network/v100', { meta: meta('n2', 'down', 1500), stats: { rxPackets: 3 } }, 1500);
  let v = m.view('network/v100', 2000);
  t.deepEqual(v.nodes.map((n) => [n.node, n.stale, n.age]), [['n1', true, 2000], ['n2', false, 500]]);
  t.is(v.state, 'down', 'the stale node cannot win even with a fresher-looking updatedAt');
  t.deepEqual(v.stats, { rxPackets: 3 });
  v = m.view('network/v100', 3000);
  t.true(v.stale);
  t.is(v.state, 'unknown');
  t.is(v.meta, undefined);
  t.deepEqual(v.stats, {});
  t.is(m.prune(5500), 1);
  t.deepEqual(m.view('network/v100', 5500).nodes.map((n) => n.node), ['n2']);
  t.is(m.prune(7000), 1);
  t.deepEqual(m.keys(), []);
  t.is(m.view('network/v100', 7000).lastSeen, undefined);
});

test('gossip: publication round trip through the exported schema', (t) => {
  const a = new MetaTable({ self: 'a', incarnation: 1 });
  const b = new MetaTable({ self: 'b' });
  a.report('a', 'node/a', { meta: meta('a', 'up', 100, 'hypervisor'), stats: { cpu: 12 } }, 100);
  a.report('a', 'network/v100', { stats: { rxPackets: 9 } }, 150);
  const pub = a.publication(200);
  t.is(pub.kind, 'full');
  t.true(metaPublicationSchema.safeParse(JSON.parse(JSON.stringify(pub))).success);
  t.like(b.receive(JSON.parse(JSON.stringify(pub)), 10_000), { ok: true, applied: 2, ignored: 0 });
  t.is(b.versionOf('a'), 2);
  const v = b.view('node/a', 10_000);
  t.is(v.state, 'up');
  t.deepEqual(v.stats, { cpu: 12 });
  // clock translation: reported 100 ms before sending on a's clock → 100 ms before receipt on b's
  t.is(v.nodes[0].localAt, 9900);
  // a delta carries only what changed
  a.report('a', 'node/a', { stats: { cpu: 50 } }, 300);
  const d = a.publication(400, b.versionOf('a'));
  t.is(d.kind, 'delta');
  t.deepEqual(d.entries.map((e) => e.key), ['node/a']);
  t.like(b.receive(d, 10_200), { ok: true, applied: 1 });
  t.is(b.versionOf('a'), 3);
  t.deepEqual(b.view('node/a', 10_200).stats, { cpu: 50 });
  // duplicate delivery changes nothing
  t.like(b.receive(d, 10_300), { ok: true, applied: 0, ignored: 1 });
});

test('out-of-order reports are ignored by sequence number', (t) => {
  const a = new MetaTable({ self: 'a' });
  const b = new MetaTable({ self: 'b' });
  a.report('a', 'node/a', { meta: meta('a', 'up', 0, 'hypervisor') }, 0);
  const p1 = a.publication(0, 0);
  a.report('a', 'node/a', { meta: meta('a', 'down', 10, 'hypervisor') }, 10);
  const p2 = a.publication(10, 1);
  t.like(b.receive(p2, 1000), { ok: true, applied: 1, need: 0 }, 'delta beyond what b has: gap reported');
  t.like(b.receive(p1, 1001), { ok: true, applied: 0, ignored: 1 }, 'the delayed older report cannot overwrite');
  t.is(b.view('node/a', 1001).state, 'down');
  t.is(b.versionOf('a'), 1, 'complete up to the (older) full state only: conservative');
  // the receiver asks for what it may lack; re-delivery of seq 2 is idempotent
  t.like(b.receive(a.publication(20, b.versionOf('a')), 1002), { ok: true, applied: 0, ignored: 1 });
  t.is(b.versionOf('a'), 2);
});

test('retractions travel in deltas; a full state removes what is no longer listed', (t) => {
  const a = new MetaTable({ self: 'a' });
  const b = new MetaTable({ self: 'b' });
  const c = new MetaTable({ self: 'c' });
  a.report('a', 'network/v1', { stats: { rxPackets: 1 } }, 0);
  a.report('a', 'network/v2', { stats: { rxPackets: 2 } }, 0);
  b.receive(a.publication(0), 0);
  c.receive(a.publication(0), 0);
  a.retract('a', 'network/v1', 5);
  const d = a.publication(5, 2);
  t.deepEqual(d.entries, [{ key: 'network/v1', seq: 3, at: 5, retracted: true }]);
  b.receive(d, 5);
  t.deepEqual(b.keys(), ['network/v2']);
  // c missed the delta; the next full state fixes it
  const full = a.publication(6);
  t.deepEqual(full.entries.map((e) => e.key), ['network/v2']);
  t.like(c.receive(full, 6), { ok: true, removed: 1 });
  t.deepEqual(c.keys(), ['network/v2']);
});

test('a restarted origin (higher incarnation) replaces its old contributions', (t) => {
  const old = new MetaTable({ self: 'a', incarnation: 1 });
  const b = new MetaTable({ self: 'b' });
  for (let i = 0; i < 5; i++) old.report('a', `node/x${i}`, { stats: { cpu: i } }, 0);
  b.receive(old.publication(0), 0);
  const fresh = new MetaTable({ self: 'a', incarnation: 2 });
  fresh.report('a', 'node/x9', { stats: { cpu: 99 } }, 10);
  t.like(b.receive(fresh.publication(10), 10), { ok: true, applied: 1, removed: 5 });
  t.deepEqual(b.keys(), ['node/x9']);
  t.like(b.receive(old.publication(11), 11), { ok: false }, 'the old incarnation is refused');
});

test('contributions already older than the drop bound are ignored on arrival', (t) => {
  const a = new MetaTable({ self: 'a', staleAfterMs: 100, dropAfterMs: 1000 });
  const b = new MetaTable({ self: 'b', staleAfterMs: 100, dropAfterMs: 1000 });
  a.report('a', 'node/a', { stats: { cpu: 1 } }, 0);
  t.like(b.receive(a.publication(5000), 5000), { ok: true, applied: 0, stale: 1 });
});

test('a delta requested from before pruned tombstones becomes a full state', (t) => {
  const a = new MetaTable({ self: 'a', staleAfterMs: 10, dropAfterMs: 100 });
  a.report('a', 'node/a', { stats: { cpu: 1 } }, 0);
  a.report('a', 'node/b', { stats: { cpu: 1 } }, 0);
  a.retract('a', 'node/b', 1);
  a.report('a', 'node/a', { stats: { cpu: 2 } }, 500);
  a.prune(500);
  t.is(a.publication(500, 1).kind, 'full');
  t.is(a.publication(500, 4).kind, 'delta');
});

test('garbage publications are rejected by the schema with a named field', (t) => {
  const a = new MetaTable({ self: 'a' });
  a.report('a', 'node/a', { meta: meta('a', 'up', 0, 'hypervisor'), stats: { cpu: 1 } }, 0);
  const good = JSON.parse(JSON.stringify(a.publication(1))) as Record<string, unknown>;
  const b = new MetaTable({ self: 'b' });
  const cases: [unknown, RegExp][] = [
    [null, /meta publication: must be an object/],
    ['hello', /must be an object/],
    [{ ...good, v: 2 }, /v must be 1/],
    [{ ...good, from: 'A!' }, /from must be 1-63 chars/],
    [{ ...good, entries: [{ key: 'node/a', seq: 1, at: 0, stats: { cpu: 'high' } }] }, /entries\[0\]\.stats\.cpu must be a number/],
    [{ ...good, entries: [{ key: 'bogus', seq: 1, at: 0 }] }, /entries\[0\]\.key must be an object key/],
    [{ ...good, entries: [{ key: 'node/a', seq: 9, at: 0 }] }, /entries\[0\]\.seq must be in \(sinceSeq, seq\]/],
    [{ ...good, entries: [{ key: 'node/a', seq: 1, at: 0, meta: meta('z', 'up', 0) }] }, /updatedBy\.node must be the publishing node a/],
    [{ ...good, sentAt: -1 }, /sentAt must be >= 0/],
    [{ ...good, extra: true }, /unknown field "extra"/],
  ];
  for (const [x, re] of cases) {
    const r = parseMetaPublication(x);
    t.false(r.ok);
    if (!r.ok) t.regex(r.error, re);
    const rr = b.receive(x, 0);
    t.false(rr.ok);
  }
  t.deepEqual(b.keys(), []);
  t.like(a.receive(good, 0), { ok: false }, 'own publication echoed back is refused');
});

test('parseMetaPublication accepts exactly what the schema accepts, and copies it as the schema does', (t) => {
  // The hand-written check in front of the schema must never accept what the schema refuses, and
  // its copy must be the schema's output (same fields, same order, no shared objects).
  const rng = new SeededRng(9);
  const a = new MetaTable({ self: 'a' });
  for (let i = 0; i < 6; i++) a.report('a', `service/s${i}`, { meta: meta('a', 'up', i, 'cdb'), stats: { cpu: i, 'mem.used': 2.5 } }, i);
  a.report('a', 'node/a', { stats: { load: 1 } }, 7);
  a.retract('a', 'service/s5', 8);
  const base = [a.publication(10), a.publication(10, 3)].map((p) => JSON.parse(JSON.stringify(p)) as Record<string, unknown>);
  const mutate = (x: unknown, depth: number): unknown => {
    if (x === null || typeof x !== 'object') return x;
    const copy: Record<string, unknown> | unknown[] = Array.isArray(x) ? [...(x as unknown[])] : { ...(x as Record<string, unknown>) };
    const keys = Object.keys(copy);
    if (keys.length === 0) return copy;
    const k = keys[rng.int(0, keys.length - 1)];
    const bad: unknown[] = [undefined, null, -1, 0, 1, 1.5, 2 ** 60, NaN, Infinity, '', 'a', 'A!', 'node/a', 'full', 'delta', true, {}, [], 'up', 'b', 9, 10, 11];
    const r = rng.int(0, 9);
    const c = copy as Record<string, unknown>;
    if (r < 4 || depth === 0) c[k] = bad[rng.int(0, bad.length - 1)];
    else if (r === 4) delete c[k];
    else if (r === 5 && !Array.isArray(copy)) c[['extra', '__x', 'stats', 'meta', 'retracted'][rng.int(0, 4)]] = bad[rng.int(0, bad.length - 1)];
    else c[k] = mutate(c[k], depth - 1);
    return copy;
  };
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const x = i < 2 ? base[i] : mutate(base[i % 2], 4);
    const got = parseMetaPublication(x);
    const want = check(metaPublicationSchema, x);
    t.is(got.ok, want.ok, JSON.stringify(x));
    if (got.ok && want.ok) {
      accepted++;
      t.is(JSON.stringify(got.value), JSON.stringify(want.value));
      t.deepEqual(got.value, want.value);
      t.not(got.value, x);
      if (got.value.entries.length > 0) t.not(got.value.entries[0], (x as { entries: unknown[] }).entries[0]);
    }
  }
  t.true(accepted > 100, `${accepted} accepted`);
});

test('viewStamp: the same stamp means the same view but for ages', (t) => {
  // The CDB service pushes a view to meta watchers only when its signature changed, and skips
  // building the views whose stamp did not change: a stamp must never repeat for a different view.
  const rng = new SeededRng(12);
  const me = new MetaTable({ self: 'a', staleAfterMs: 300 });
  const peers = ['b', 'c'].map((n) => new MetaTable({ self: n, staleAfterMs: 300 }));
  const keys = ['node/a', 'node/b', 'service/x'];
  const seen = new Map<string, string>();
  const sansAges = (now: number, key: string): string => {
    const v = me.view(key, now);
    return JSON.stringify({ ...v, lastSeen: undefined, nodes: v.nodes.map((n) => ({ ...n, age: undefined })) });
  };
  let now = 0;
  let checked = 0;
  for (let i = 0; i < 3000; i++) {
    now += rng.int(0, 3) === 0 ? -rng.int(0, 200) : rng.int(0, 150); // clocks may step back
    now = Math.max(0, now);
    const r = rng.int(0, 9);
    const key = keys[rng.int(0, keys.length - 1)];
    if (r < 3) me.report('a', key, { meta: meta('a', ['up', 'down'][rng.int(0, 1)], now), stats: { cpu: rng.int(0, 3) } }, now);
    else if (r < 7) {
      const p = peers[rng.int(0, 1)];
      if (rng.int(0, 5) === 0) p.retract(p.self, key, now);
      else p.report(p.self, key, { meta: meta(p.self, 'up', now), stats: { cpu: rng.int(0, 3), rxPackets: 1 } }, now);
      me.merge(JSON.parse(JSON.stringify(p.publication(now))), now + rng.int(0, 50));
    } else if (r === 7) me.prune(now);
    else if (r === 8) me.retract('a', key, now);
    for (const k of me.keys()) {
      const stamp = `${k}@${me.viewStamp(k, now)}`;
      const v = sansAges(now, k);
      const before = seen.get(stamp);
      if (before !== undefined) {
        checked++;
        t.is(v, before, stamp);
      } else seen.set(stamp, v);
    }
  }
  t.true(checked > 1000, `${checked} repeated stamps checked`);
});
