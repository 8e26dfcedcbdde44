// The Monitor on real processes: the primary (leader of the `monitor` Raft
// group) raises alarms from real conditions, moves when its node is SIGKILLed,
// and a stale primary's publication is rejected by the fenced ledger while
// the current primary's are accepted. A SIGKILLed node is known dead from its
// closed peer links, long before anything it published goes stale.
import test from 'ava';
import { FAST, TestCluster, runCli, waitFor, type Reply } from '../support/cluster.ts';

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

test.serial('a SIGKILLed node counts as down at once from its closed links, well before its meta goes stale, and recovers', async (t) => {
  // Meta would take a minute to go stale: only the link evidence can make this pass in time.
  const c = await TestCluster.forTest(t, { extra: { ...FAST, meta: { publishMs: 100, staleAfterMs: 60_000 } } });
  type Health = Reply & { score?: number; nodes?: { total: number; up: number }; nodesDown?: { node: string; why: string }[]; findingIds?: string[] };
  const health = async (n: string) => (c.isAlive(n) ? ((await c.call(n, 'health', {}, 3000).catch(() => undefined)) as Health | undefined) : undefined);
  // Every node registered (a node object) and seen up by every Monitor: a node that never
  // registered would have nothing to go down.
  const allUp = async () => {
    for (const n of c.names) {
      const h = await health(n);
      if (h?.score !== 100 || h.nodes?.total !== c.names.length || h.nodes.up !== c.names.length) return false;
    }
    return true;
  };
  await waitFor('health 100 with every node up, on every node', allUp);

  // The case of the issue: the Raft leader is killed.
  const { leader: victim } = await c.waitLeader();
  const survivors = c.names.filter((n) => n !== victim);
  const killedAt = Date.now();
  await c.kill(victim);
  for (const n of survivors) {
    let seen = 'nothing';
    const h = await waitFor(
      () => `${n}'s health to count ${victim} unreachable (last seen: ${seen})`,
      async () => {
        const r = await health(n);
        seen = JSON.stringify({ score: r?.score, nodesDown: r?.nodesDown, findingIds: r?.findingIds });
        return r?.ok && r.score! < 100 && r.nodesDown?.some((d) => d.node === victim && d.why === 'unreachable') ? r : undefined;
      },
      15_000,
      50,
    );
    t.log(`${n}: health ${h.score} ${Date.now() - killedAt} ms after the kill (${(h.findingIds ?? []).join(' ')})`);
    t.deepEqual(h.nodesDown, [{ node: victim, why: 'unreachable' }]);
    t.true(h.findingIds?.includes(`node-down:node/${victim}`));
  }
  // `acp status` through a survivor: degraded, health below 100 naming the dead node.
  const st = await runCli(['status', '--dir', c.dir], { timeoutMs: 30_000 });
  t.is(st.code, 5, st.stderr);
  t.regex(st.stdout, new RegExp(`^${victim}\\s+\\S+\\s+down\\s`, 'm'));
  t.regex(st.stdout, new RegExp(`Health: (\\d+)/100 \\(${victim} unreachable\\)`));
  t.true(Number(/Health: (\d+)\/100/.exec(st.stdout)![1]) < 100, st.stdout);
  // The primary (a new one, if the victim held it) raises the alarm.
  const alarm = await waitFor(`a node-down alarm for ${victim}`, async () => {
    const r = (await c.call(survivors[0]!, 'alerts', {}, 5000).catch(() => undefined)) as { ok?: boolean; active?: { id: string; reason: string; severity: string }[] } | undefined;
    return r?.active?.find((a) => a.id === `node-down:node/${victim}`);
  });
  t.is(alarm.severity, 'critical');
  t.regex(alarm.reason, /unreachable/);

  // It comes back: links up, meta fresh, the score back at 100 everywhere and the alarm cleared.
  await c.restart(victim);
  await waitFor(`health back at 100 with every node up, on every node, after ${victim} restarted`, allUp);
  await waitFor(`the node-down alarm for ${victim} to clear`, async () => {
    const r = (await c.call(survivors[0]!, 'alerts', {}, 5000).catch(() => undefined)) as { ok?: boolean; active?: { id: string }[] } | undefined;
    return r?.ok === true && !r.active!.some((a) => a.id === `node-down:node/${victim}`);
  });
});

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

  // The killed node is node-down (its links closed), raised after the kill by a primary of a later
  // term: P2 in T2 — or, since the survivors know within a second, a primary that held a term
  // between T1 and T2 before P2 was elected (the alarm keeps its first raiser; P2 resumed it).
  const down = await waitFor(
    `a node-down alarm for ${P1} from a later primary`,
    async () => (await alerts(P2))?.active.find((a) => a.id === `node-down:node/${P1}`),
    30_000,
    200,
  );
  t.is(down.severity, 'critical');
  t.not(down.raisedBy, P1, JSON.stringify(down));
  t.true(down.fence.term > T1 && down.fence.term <= T2, JSON.stringify({ T1, T2, down }));
  if (down.raisedBy === P2) t.is(down.fence.term, T2);
  else t.true(down.fence.term < T2, `raised by ${down.raisedBy}, not the current primary ${P2}: in an earlier term (${JSON.stringify(down)})`);
  const final = (await alerts(other))!;
  t.falsy(final.active.find((a) => a.object === 'storage/stale-proof'), 'the fenced alarm never entered the ledger');
  t.true(final.fence.term === T2 && final.holder === P2);
});
