// The Monitor on real processes: the primary (leader of the `monitor` Raft
// group) raises alarms from real conditions, moves when its node is SIGKILLed,
// and a stale primary's publication is rejected by the fenced ledger while
// the current primary's are accepted.
import test from 'ava';
import { TestCluster, runCli, waitFor, type Reply } from '../support/cluster.ts';

interface Alarm {
  id: string;
  severity: string;
  object: string;
  raisedBy: string;
  state: string;
  fence: { term: number; seq: number };
}
interface Alerts extends Reply {
  active: Alarm[];
  fence: { term: number; seq: number };
  holder: string | null;
}

test('the Monitor primary raises alarms, moves on SIGKILL, and a stale primary is fenced', async (t) => {
  const c = await TestCluster.forTest(t);
  // A publication, retried only while definitely not proposed (no monitor leader at that instant).
  const publish = (via: string, pub: unknown): Promise<Reply> =>
    waitFor(`publication via ${via}`, async () => {
      const r = (await c.call(via, 'monitor.publish', pub, 10_000)) as Reply;
      return !r.ok && (r.code === 'not-leader' || r.code === 'unavailable') ? undefined : r;
    });
  const alerts = async (via: string): Promise<Alerts | undefined> => {
    const r = (await c.call(via, 'alerts', {}, 5000).catch(() => undefined)) as Alerts | undefined;
    return r?.ok ? r : undefined;
  };

  // Every node names the same primary: the leader of the monitor group.
  const m1 = await c.waitLeader({ group: 'monitor' });
  for (const s of m1.statuses.values()) {
    t.is(s.monitor.primary, m1.leader, `${s.node} sees ${m1.leader} as Monitor primary`);
    t.is(s.monitor.term, m1.term);
  }
  const P1 = m1.leader;
  const T1 = m1.term;

  // A real condition: a pool over devices that do not exist → a dangling-ref warning, raised by the primary in its term.
  const pool = await c.put(c.names[0]!, { type: 'storage', subtype: 'pool', id: 'e2e-pool', spec: { devices: ['ghost-a', 'ghost-b'], redundancy: 'mirror' } });
  t.true(pool.ok, pool.message);
  const raised = await waitFor(
    'the dangling-ref alarm on storage/e2e-pool',
    async () => (await alerts(c.names[1]!))?.active.find((a) => a.id === 'dangling-ref:storage/e2e-pool'),
    30_000,
    200,
  );
  t.is(raised.severity, 'warning');
  t.is(raised.raisedBy, P1);
  t.is(raised.fence.term, T1);
  // `acp monitor alerts` shows it, as a person would see it.
  const shown = await runCli(['monitor', 'alerts', '--dir', c.dir], { timeoutMs: 30_000 });
  t.is(shown.code, 0, shown.stderr);
  const line = shown.stdout.split('\n').find((l) => l.includes('storage/e2e-pool'));
  t.truthy(line, shown.stdout);
  t.regex(line!, /^WARNING\s+active\s+storage\/e2e-pool\s+.*\S+@\d+\.\d+$/);
  t.true(line!.includes(`${P1}@${T1}.`), line);

  // SIGKILL the primary's node: the monitor group elects another primary in a higher term.
  await c.kill(P1);
  const m2 = await c.waitLeader({ group: 'monitor', not: P1, timeoutMs: 30_000 });
  const P2 = m2.leader;
  const T2 = m2.term;
  t.not(P2, P1);
  t.true(T2 > T1, `monitor term ${T1} → ${T2}`);
  for (const s of m2.statuses.values()) t.is(s.monitor.primary, P2, `${s.node} sees the new primary`);

  // The new primary's takeover was accepted: the ledger's highest token is in its term, held by it.
  const after = await waitFor('the ledger to accept the new primary’s takeover', async () => {
    const a = await alerts(P2);
    return a && a.fence.term === T2 && a.holder === P2 ? a : undefined;
  });
  // It resumed the active alarm rather than re-raising it (raisedBy still the old primary).
  t.is(after.active.find((a) => a.id === 'dangling-ref:storage/e2e-pool')?.raisedBy, P1);

  // A late publication of the deposed primary, with its old term, is fenced — through either survivor.
  const fake = { kind: 'raise', id: 'dangling-ref:storage/stale-proof', code: 'dangling-ref', object: 'storage/stale-proof', severity: 'critical', reason: 'published by a deposed primary', at: Date.now() };
  for (const via of c.alive()) {
    const stale = await publish(via, { v: 1, from: P1, fence: { term: T1, seq: 1_000_000 }, kind: 'events', events: [fake] });
    t.false(stale.ok, `a stale primary's publication via ${via} must be rejected`);
    t.is(stale.code, 'fenced', JSON.stringify(stale));
  }
  // Nobody but the primary may publish in the current term either.
  const other = c.alive().find((n) => n !== P2)!;
  const usurper = await publish(other, { v: 1, from: other, fence: { term: T2, seq: 1_000_000 }, kind: 'events', events: [fake] });
  t.is(usurper.code, 'conflicting-holder', JSON.stringify(usurper));
  // Garbage is refused before it reaches Raft.
  const bad = (await c.call(other, 'monitor.publish', { v: 1, from: P1 }, 10_000)) as Reply;
  t.is(bad.code, 'invalid');

  // The new primary keeps publishing: the killed node goes stale → node-down, raised by P2 in term T2.
  const down = await waitFor(
    `a node-down alarm for ${P1} from the new primary`,
    async () => (await alerts(P2))?.active.find((a) => a.id === `node-down:node/${P1}`),
    30_000,
    200,
  );
  t.is(down.severity, 'critical');
  t.is(down.raisedBy, P2);
  t.is(down.fence.term, T2);
  const final = (await alerts(other))!;
  t.falsy(final.active.find((a) => a.object === 'storage/stale-proof'), 'the fenced alarm never entered the ledger');
  t.true(final.fence.term === T2 && final.holder === P2);
});
