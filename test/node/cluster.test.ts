// Real processes on loopback: a 3-node cluster starts, elects one leader,
// replicates, survives kill -9 of the leader, and the restarted node catches up.
import test from 'ava';
import { TestCluster, waitFor } from '../support/cluster.ts';

const sys = (id: string, name: string, memoryMb = 64) => ({ type: 'system', id, spec: { name, vcpus: 1, memoryMb } });

test('3 nodes elect one leader, replicate, survive kill -9 of the leader, and the restarted node catches up', async (t) => {
  const c = await TestCluster.forTest(t);

  // Exactly one cdb leader, every node agreeing on leader and term.
  const first = await c.waitLeader();
  const leaders = [...first.statuses.values()].filter((s) => s.raft.cdb.role === 'leader');
  t.is(leaders.length, 1, 'exactly one leader');
  t.is(first.statuses.size, 3);
  for (const s of first.statuses.values()) {
    t.is(s.raft.cdb.lead, first.leader, `${s.node} agrees on the leader`);
    t.is(s.raft.cdb.term, first.term, `${s.node} agrees on the term`);
    t.deepEqual([...s.raft.cdb.voters].sort(), ['n1', 'n2', 'n3']);
  }

  // A put through a follower (forwarded to the leader) is readable, linearizably, through every node.
  const follower = c.names.find((n) => n !== first.leader)!;
  const w1 = await c.put(follower, sys('e2e-a', 'alpha'));
  t.true(w1.ok, `put through ${follower}: ${w1.message}`);
  for (const n of c.names) {
    const g = await c.cdb(n, { op: 'get', type: 'system', id: 'e2e-a' });
    t.true(g.ok, `linearizable get on ${n}: ${g.message}`);
    t.is((g.object as { spec: { name: string } } | undefined)?.spec.name, 'alpha', `${n} reads the write`);
    t.true((g.revision as number) >= (w1.revision as number), `${n} read at a revision ≥ the write's`);
  }

  // kill -9 the leader: the two survivors elect a new one, in a higher term, and accept writes.
  const old = first.leader;
  await c.kill(old, 'SIGKILL');
  t.false(c.isAlive(old));
  const second = await c.waitLeader({ not: old, timeoutMs: 30_000 });
  t.not(second.leader, old);
  t.true(second.term > first.term, `term moved on: ${first.term} → ${second.term}`);
  const survivors = c.alive();
  const w2 = await c.put(survivors.find((n) => n !== second.leader)!, sys('e2e-b', 'written-while-down'));
  t.true(w2.ok, `write after failover: ${w2.message}`);
  const w3 = await c.put(second.leader, sys('e2e-a', 'alpha-2'));
  t.true(w3.ok, `overwrite after failover: ${w3.message}`);

  // Restart the killed node: it catches up (applied ≥ the leader's commit at that moment), and
  // its own copy — a stale read, no Raft round trip — holds what was written while it was down.
  await c.restart(old);
  const target = (await waitFor('the leader’s status', () => c.status(second.leader))).raft.cdb.commit;
  t.true(target >= (w3.revision as number));
  const caught = await waitFor(`${old} to apply up to ${target}`, async () => {
    const s = await c.status(old);
    return s && s.raft.cdb.applied >= target ? s : undefined;
  });
  t.true(caught.raft.cdb.applied >= target);
  const b = await c.cdb(old, { op: 'get', type: 'system', id: 'e2e-b', consistency: 'stale' });
  t.true(b.ok);
  t.is((b.object as { spec: { name: string } } | undefined)?.spec.name, 'written-while-down', 'the restarted node replicated the write made while it was down');
  const a = await c.cdb(old, { op: 'get', type: 'system', id: 'e2e-a', consistency: 'stale' });
  t.is((a.object as { spec: { name: string } } | undefined)?.spec.name, 'alpha-2');
  t.is((a.object as { revision: number }).revision, w3.revision as number);

  // It rejoined as a follower of the current leader (or the cluster re-elected with it): one leader, all agree.
  const third = await c.waitLeader();
  t.is(third.statuses.size, 3);
  t.true(third.term >= second.term);
  // And writes through the restarted node work.
  const w4 = await c.put(old, sys('e2e-c', 'after-restart'));
  t.true(w4.ok, `write through the restarted node: ${w4.message}`);
});
