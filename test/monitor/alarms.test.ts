import test from 'ava';
import { AlarmEvaluator, AlarmLedger, compareFence, parseAlarmPublication } from '../../actors/monitor/alarms.ts';
import type { AlarmEvent, AlarmPublication, FenceToken } from '../../actors/monitor/alarms.ts';
import type { Finding, Severity } from '../../actors/monitor/health.ts';
import { PrimaryState } from '../../actors/monitor/primary.ts';
import { MonitorCore } from '../../actors/monitor/monitor.ts';
import { NOW, TestCluster } from './cluster.ts';

const f = (code: string, object: string, severity: Severity = 'warning', reason = `${code} on ${object}`): Finding =>
  ({ id: `${code}:${object}`, code, object, severity, reason }) as Finding;
const kinds = (evs: AlarmEvent[]) => evs.map((e) => `${e.kind} ${e.id} ${e.severity}`);

test('debouncing: raised only after N consecutive evaluations', (t) => {
  const ev = new AlarmEvaluator({ raiseAfterEvaluations: 3 });
  const pool = f('pool-usage', 'storage/p1');
  t.deepEqual(ev.evaluate([pool], 0), []);
  t.deepEqual(ev.evaluate([pool], 10), []);
  t.deepEqual(ev.evaluate([], 20), [], 'a gap resets the count');
  t.deepEqual(ev.evaluate([pool], 30), []);
  t.deepEqual(ev.evaluate([pool], 40), []);
  const raised = ev.evaluate([pool], 50);
  t.deepEqual(kinds(raised), ['raise pool-usage:storage/p1 warning']);
  t.is(raised[0].at, 50);
  t.deepEqual(ev.evaluate([pool], 60), [], 'not raised twice');
});

test('debouncing: and for at least T ms', (t) => {
  const ev = new AlarmEvaluator({ raiseAfterEvaluations: 1, raiseAfterMs: 30_000 });
  const x = f('node-cpu', 'node/n1');
  t.deepEqual(ev.evaluate([x], 0), []);
  t.deepEqual(ev.evaluate([x], 29_999), []);
  t.deepEqual(kinds(ev.evaluate([x], 30_000)), ['raise node-cpu:node/n1 warning']);
});

test('severity changes of an active alarm are published as updates', (t) => {
  const ev = new AlarmEvaluator({ raiseAfterEvaluations: 1 });
  ev.evaluate([f('pool-usage', 'storage/p1', 'warning')], 0);
  t.deepEqual(kinds(ev.evaluate([f('pool-usage', 'storage/p1', 'critical')], 1)), ['update pool-usage:storage/p1 critical']);
  t.deepEqual(ev.evaluate([f('pool-usage', 'storage/p1', 'critical', 'other text')], 2), [], 'reason-only change: no event');
  t.deepEqual(kinds(ev.evaluate([f('pool-usage', 'storage/p1', 'warning')], 3)), ['update pool-usage:storage/p1 warning']);
});

test('clear after the finding is absent for M evaluations; flapping does not clear', (t) => {
  const ev = new AlarmEvaluator({ raiseAfterEvaluations: 1, clearAfterEvaluations: 2 });
  const x = f('node-down', 'node/n3', 'critical');
  ev.evaluate([x], 0);
  t.deepEqual(ev.evaluate([], 1), []);
  t.deepEqual(ev.evaluate([x], 2), [], 'back: still active, absence count reset');
  t.deepEqual(ev.evaluate([], 3), []);
  const cleared = ev.evaluate([], 4);
  t.deepEqual(kinds(cleared), ['clear node-down:node/n3 critical']);
  t.deepEqual(ev.activeIds(), []);
});

test('minSeverity filters info findings; events are sorted by id', (t) => {
  const ev = new AlarmEvaluator({ raiseAfterEvaluations: 1, minSeverity: 'warning' });
  const evs = ev.evaluate([f('service-down', 'service/x', 'info'), f('pool-usage', 'storage/p2'), f('node-cpu', 'node/a')], 0);
  t.deepEqual(kinds(evs), ['raise node-cpu:node/a warning', 'raise pool-usage:storage/p2 warning']);
});

test('end to end with health findings: node goes down, alarm raised, node returns, alarm cleared', (t) => {
  const c = new TestCluster();
  const core = new MonitorCore('n1', { alarms: { raiseAfterEvaluations: 2, clearAfterEvaluations: 2 } });
  const ledger = new AlarmLedger();
  const step = (now: number) => {
    const out = core.tick({ ...c.input(now), now, leader: 'n1', term: 3, ledgerActive: ledger.active() });
    for (const p of out.publications) t.like(ledger.apply(JSON.parse(JSON.stringify(p))), { ok: true });
    return out;
  };
  let o = step(NOW);
  t.deepEqual(o.publications.map((p) => [p.kind, p.fence]), [['takeover', { term: 3, seq: 1 }]]);
  t.is(o.health.score, 100);
  c.state('node', 'n2', 'down', undefined, NOW + 500);
  o = step(NOW + 1000);
  t.is(o.health.score, 80);
  t.deepEqual(o.publications, []);
  o = step(NOW + 2000);
  t.deepEqual(o.publications.map((p) => [p.kind, p.fence, kinds(p.events)]), [['events', { term: 3, seq: 2 }, ['raise node-down:node/n2 critical']]]);
  t.like(ledger.get('node-down:node/n2'), { state: 'active', severity: 'critical', raisedBy: 'n1', fence: { term: 3, seq: 2 }, raisedAt: NOW + 2000 });
  c.state('node', 'n2', 'up', undefined, NOW + 2500);
  step(NOW + 3000);
  o = step(NOW + 4000);
  t.deepEqual(kinds(o.publications[0].events), ['clear node-down:node/n2 critical']);
  t.deepEqual(ledger.active(), []);
  t.like(ledger.history()[0], { id: 'node-down:node/n2', state: 'cleared', clearedAt: NOW + 4000 });
});

// ---------------------------------------------------------------------------------------------
// Fencing

const pub = (from: string, fence: FenceToken, events: AlarmEvent[] = [], kind: AlarmPublication['kind'] = 'events'): AlarmPublication => ({ v: 1, from, fence, kind, events });
const raise = (id: string, severity: Severity = 'warning', at = 0): AlarmEvent => {
  const [code, object] = id.split(':');
  return { kind: 'raise', id, code, object, severity, reason: id, at };
};

test('fence tokens order by term, then seq', (t) => {
  t.true(compareFence({ term: 2, seq: 1 }, { term: 1, seq: 99 }) > 0);
  t.true(compareFence({ term: 2, seq: 3 }, { term: 2, seq: 4 }) < 0);
  t.is(compareFence({ term: 2, seq: 3 }, { term: 2, seq: 3 }), 0);
});

test('ledger: newer term accepted, older term rejected (deposed primary)', (t) => {
  const l = new AlarmLedger();
  t.deepEqual(l.apply(pub('m1', { term: 1, seq: 1 }, [raise('pool-usage:storage/p1')])), { ok: true, applied: 1, duplicate: false });
  t.deepEqual(l.apply(pub('m2', { term: 2, seq: 1 }, [], 'takeover')), { ok: true, applied: 0, duplicate: false });
  t.is(l.holder, 'm2');
  const late = l.apply(pub('m1', { term: 1, seq: 2 }, [raise('node-down:node/n1', 'critical')]));
  t.like(late, { ok: false, code: 'fenced' });
  if (!late.ok) t.regex(late.reason, /term 1 was superseded by term 2 \(deposed primary\)/);
  t.is(l.get('node-down:node/n1'), undefined, 'the late alarm had no effect');
  t.like(l.apply(pub('m2', { term: 2, seq: 2 }, [raise('node-down:node/n1', 'critical')])), { ok: true, applied: 1 });
  t.like(l.get('pool-usage:storage/p1'), { raisedBy: 'm1', fence: { term: 1, seq: 1 } }, 'alarms survive a change of primary');
});

test('ledger: equal term needs a monotonic seq; exact duplicate is a no-op', (t) => {
  const l = new AlarmLedger();
  t.like(l.apply(pub('m1', { term: 5, seq: 1 })), { ok: true });
  t.like(l.apply(pub('m1', { term: 5, seq: 3 }, [raise('node-cpu:node/a')])), { ok: true, applied: 1 });
  t.deepEqual(l.apply(pub('m1', { term: 5, seq: 3 }, [raise('node-cpu:node/a')])), { ok: true, applied: 0, duplicate: true });
  const old = l.apply(pub('m1', { term: 5, seq: 2 }, [{ ...raise('node-cpu:node/a'), kind: 'clear' }]));
  t.like(old, { ok: false, code: 'stale-seq' });
  t.like(l.get('node-cpu:node/a'), { state: 'active' }, 'the reordered clear did not apply');
  t.like(l.apply(pub('m9', { term: 5, seq: 4 })), { ok: false, code: 'conflicting-holder' });
  t.deepEqual(l.highest, { term: 5, seq: 3 });
});

test('ledger: raise/update/clear semantics, invalid publications, snapshot round trip', (t) => {
  const l = new AlarmLedger({ historyLimit: 2 });
  l.apply(pub('m1', { term: 1, seq: 1 }, [raise('a-b:node/x', 'warning', 10), raise('a-b:node/y', 'warning', 10)]));
  l.apply(pub('m1', { term: 1, seq: 2 }, [{ ...raise('a-b:node/x', 'critical', 20), kind: 'update' }]));
  t.like(l.get('a-b:node/x'), { severity: 'critical', raisedAt: 10, updatedAt: 20 });
  for (let i = 0; i < 3; i++) l.apply(pub('m1', { term: 1, seq: 3 + 2 * i }, [{ ...raise('a-b:node/y', 'warning', 30 + i), kind: 'clear' }]));
  for (let i = 0; i < 3; i++) {
    l.apply(pub('m1', { term: 1, seq: 10 + 2 * i }, [raise(`a-b:node/z${i}`)]));
    l.apply(pub('m1', { term: 1, seq: 11 + 2 * i }, [{ ...raise(`a-b:node/z${i}`), kind: 'clear' }]));
  }
  t.deepEqual(l.history().map((a) => a.id), ['a-b:node/z1', 'a-b:node/z2'], 'bounded history');
  const bad = l.apply({ v: 1, from: 'm1', fence: { term: 9, seq: -1 }, kind: 'events', events: [] });
  t.deepEqual(bad, { ok: false, code: 'invalid', reason: 'alarm publication: fence.seq must be >= 0' });
  t.like(l.apply({ ...pub('m1', { term: 9, seq: 1 }), events: [{ kind: 'explode' }] }), { ok: false, code: 'invalid' });
  t.false(parseAlarmPublication('nope').ok);
  t.deepEqual(l.highest, { term: 1, seq: 15 }, 'invalid publications do not move the fence');
  const r = new AlarmLedger();
  r.restore(l.snapshot());
  t.is(r.snapshot(), l.snapshot());
  const next = pub('m1', { term: 1, seq: 16 }, [raise('a-b:node/q')]);
  t.deepEqual(r.apply(next), l.apply(next));
  t.deepEqual(r.apply(pub('m1', { term: 1, seq: 2 })), l.apply(pub('m1', { term: 1, seq: 2 })));
  t.is(r.snapshot(), l.snapshot());
});

// ---------------------------------------------------------------------------------------------
// Primary

test('PrimaryState: only the leader of the latest term may publish; tokens are per term', (t) => {
  const p = new PrimaryState('m1');
  t.like(p.status(), { role: 'unknown', mayPublish: false });
  t.is(p.nextFence(), undefined);
  t.like(p.observe('m2', 1), { becamePrimary: false, status: { role: 'secondary', leader: 'm2', mayPublish: false } });
  t.like(p.observe('m1', 2), { becamePrimary: true, status: { role: 'primary', mayPublish: true } });
  t.deepEqual(p.nextFence(), { term: 2, seq: 1 });
  t.deepEqual(p.nextFence(), { term: 2, seq: 2 });
  t.like(p.observe('m2', 1), { ignored: true, status: { role: 'primary' } }, 'an older term is ignored');
  t.like(p.observe('m1', 4), { becamePrimary: true }, 're-elected in a new term: a new takeover is due');
  t.deepEqual(p.nextFence(), { term: 4, seq: 1 }, 'seq restarts with the term');
  t.like(p.observe(undefined, 4), { lostPrimary: true, status: { role: 'unknown', mayPublish: false } });
  t.like(p.observe('m1', 4), { becamePrimary: false, status: { mayPublish: false } }, 'no second leadership within one term');
  t.is(p.nextFence(), undefined);
  t.like(p.observe('m3', 5), { status: { role: 'secondary', leader: 'm3' } });
});

test('failover: the deposed primary keeps publishing, the ledger rejects it after the takeover', (t) => {
  const c = new TestCluster();
  c.state('storage', 'p1', 'up', { usedBytes: 990e9, sizeBytes: 1000e9 });
  const ledger = new AlarmLedger();
  const m1 = new MonitorCore('n1', { alarms: { raiseAfterEvaluations: 1 } });
  const m2 = new MonitorCore('n2', { alarms: { raiseAfterEvaluations: 1 } });
  const tick = (m: MonitorCore, leader: string, term: number, now: number) => m.tick({ ...c.input(now), now, leader, term, ledgerActive: ledger.active() });
  // term 1: n1 is primary and raises the pool alarm
  for (const p of tick(m1, 'n1', 1, NOW).publications) t.like(ledger.apply(p), { ok: true });
  t.deepEqual(ledger.active().map((a) => a.id), ['pool-usage:storage/p1']);
  // n1 gets partitioned; n2 is elected in term 2 and takes over (resuming the active alarm)
  const m2first = tick(m2, 'n2', 2, NOW + 1000).publications;
  t.deepEqual(m2first.map((p) => p.kind), ['takeover'], 'the active alarm is not raised again');
  for (const p of m2first) t.like(ledger.apply(p), { ok: true });
  // meanwhile n1 still believes it leads term 1 and sees the pool recover
  c.state('storage', 'p1', 'up', { usedBytes: 100e9, sizeBytes: 1000e9 }, NOW + 1500);
  tick(m1, 'n1', 1, NOW + 2000);
  const stale = tick(m1, 'n1', 1, NOW + 3000).publications;
  t.deepEqual(stale.map((p) => kinds(p.events)), [['clear pool-usage:storage/p1 critical']]);
  t.like(ledger.apply(stale[0]), { ok: false, code: 'fenced' });
  t.deepEqual(ledger.active().map((a) => a.id), ['pool-usage:storage/p1'], "the deposed primary's clear was rejected");
  // the legitimate primary clears it
  tick(m2, 'n2', 2, NOW + 2000);
  const ok = tick(m2, 'n2', 2, NOW + 3000).publications;
  t.deepEqual(ok.map((p) => [p.fence, kinds(p.events)]), [[{ term: 2, seq: 2 }, ['clear pool-usage:storage/p1 critical']]]);
  t.like(ledger.apply(ok[0]), { ok: true });
  t.deepEqual(ledger.active(), []);
});
