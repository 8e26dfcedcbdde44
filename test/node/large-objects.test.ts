// Real processes on loopback: 64 KiB objects written quickly make Raft batch
// many of them per append. Every append must still fit the transport's 1 MiB
// frame (runtime/raft-host/limits.ts), or the peer link never carries it and
// replication stops: with one follower down, writes could not even commit.
// The stopped follower, restarted, catches up on all of them; a write too
// large for one message between nodes is refused, and the cluster goes on.
import test from 'ava';
import { FAST, TestCluster, waitFor, type Reply } from '../support/cluster.ts';

const OBJECTS = 40;
const OBJECT_BYTES = 64 * 1024;

/**
 * A network/vlan-bridge listing node ids: the one kind of object with no cap on a field's size
 * (see bench/cdb.ts). Short ids, so a quarter of the object's bytes are quotes, which double when
 * the object travels as a Raft entry's data (a JSON string): 64 KiB of object is ~80 KiB of frame.
 */
function bridge(id: string, count: number): Record<string, unknown> {
  const nodes: string[] = [];
  for (let i = 0; i < count; i++) nodes.push(`n${String(i).padStart(5, '0')}`);
  return { type: 'network', subtype: 'vlan-bridge', id, spec: { vlan: 100, bridge: 'br0', nodes } };
}

/** The smallest bridge whose JSON takes at least `bytes`. */
function bridgeOf(id: string, bytes: number): Record<string, unknown> {
  const per = JSON.stringify(bridge(id, 2)).length - JSON.stringify(bridge(id, 1)).length;
  return bridge(id, Math.ceil(bytes / per));
}

test('a follower restarted after 40 writes of 64 KiB objects catches up on all of them', async (t) => {
  t.timeout(180_000);
  const c = await TestCluster.forTest(t);
  const t0 = Date.now();
  const step = (what: string) => t.log(`${Date.now() - t0} ms: ${what}`);
  const first = await c.waitLeader();
  const [down, up] = c.names.filter((n) => n !== first.leader);
  await c.kill(down!);

  // Quickly: twenty writers at a time, so the leader batches objects per append where it can.
  const objects = Array.from({ length: OBJECTS }, (_, i) => bridgeOf(`big-${String(i).padStart(2, '0')}`, OBJECT_BYTES));
  t.true(JSON.stringify(objects[0]).length >= OBJECT_BYTES);
  let next = 0;
  const revisions: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < objects.length) {
        const o = objects[next++]!;
        const r = await c.put(first.leader, o, {}, 60_000);
        t.true(r.ok, `put of ${String(o.id)}: ${r.message}`);
        revisions.push(r.revision as number);
      }
    }),
  );
  t.is(revisions.length, OBJECTS);
  step('written');

  // The follower comes back under a new leader, which has to send it all 40 objects from its
  // log (the old leader would also have had its appends buffered for the follower's link):
  // 3.2 MB of frames, in appends that must each fit one. Then the old leader comes back too.
  await c.kill(first.leader);
  await c.restart(down!);
  const second = await c.waitLeader({ timeoutMs: 60_000 });
  t.is(second.leader, up, 'the node that has every object leads');
  step('new leader');
  // The new leader can commit (the entry of its term) only once the follower has every object:
  // the old leader is down, so the two of them are the quorum.
  const last = Math.max(...revisions);
  const target = await waitFor(
    `${second.leader} to commit past ${last}`,
    async () => {
      const s = await c.status(second.leader);
      return s !== undefined && s.raft.cdb.commit > last ? s.raft.cdb.commit : undefined;
    },
    60_000,
  );
  step('committed');
  await c.restart(first.leader);
  for (const n of [down!, first.leader]) {
    await waitFor(
      `${n} to apply up to ${target}`,
      async () => {
        const s = await c.status(n);
        return s !== undefined && s.raft.cdb.applied >= target;
      },
      60_000,
    );
  }
  step('caught up');
  const leader = second.leader;
  // Its own copy (a stale read: no Raft round trip) holds every object, whole.
  for (const o of [objects[0]!, objects[OBJECTS - 1]!]) {
    const g: Reply = await c.cdb(down!, { op: 'get', type: 'network', id: o.id, consistency: 'stale' });
    t.true(g.ok, g.message);
    t.deepEqual((g.object as { spec: unknown } | undefined)?.spec, o.spec, `${down} holds ${String(o.id)}`);
  }

  // A write that could not fit one message between nodes is refused as invalid (it was never proposed);
  // one just under the CDB's limit goes through, and replicates.
  const huge = await c.cdb(leader, { op: 'put', object: bridgeOf('too-big', 600 * 1024) }, 20_000);
  t.false(huge.ok);
  t.is(huge.code, 'invalid');
  t.regex(huge.message ?? '', /too large: \d+ bytes encoded, over the CDB's limit of \d+ bytes for one write/);
  const limit = Number(/limit of (\d+) bytes/.exec(huge.message ?? '')?.[1]);
  const largest = bridgeOf('largest', limit - 4096);
  const w = await c.put(up!, largest, {}, 60_000);
  t.true(w.ok, `put of an object just under the limit: ${w.message}`);
  for (const n of c.names) {
    await waitFor(`${n} to apply the largest object`, async () => {
      const s = await c.status(n);
      return s !== undefined && s.raft.cdb.applied >= (w.revision as number);
    });
  }
});

test('a follower that needs a snapshot of many 64 KiB objects (megabytes: more than a frame) gets it in pieces', async (t) => {
  t.timeout(180_000);
  // A snapshot every 10 entries: once restarted, the leaders keep only what follows their last one.
  const c = await TestCluster.forTest(t, { extra: { ...FAST, raft: { ...FAST.raft, snapshotEvery: 10 } } });
  const first = await c.waitLeader();
  const [down] = c.names.filter((n) => n !== first.leader);
  await c.kill(down!);
  const others = c.names.filter((n) => n !== down);
  const objects = Array.from({ length: OBJECTS }, (_, i) => bridgeOf(`snap-${String(i).padStart(2, '0')}`, OBJECT_BYTES));
  let next = 0;
  let last = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < objects.length) {
        const o = objects[next++]!;
        const r = await c.put(first.leader, o, {}, 60_000);
        t.true(r.ok, `put of ${String(o.id)}: ${r.message}`);
        last = Math.max(last, r.revision as number);
      }
    }),
  );
  // Both restart from their disks, which hold a snapshot and only the entries after it.
  for (const n of others) await waitFor(`${n} to apply ${last}`, async () => ((await c.status(n))?.raft.cdb.applied ?? 0) >= last, 60_000);
  for (const n of others) await c.kill(n);
  for (const n of others) c.spawn(n);
  const second = await c.waitLeader({ among: others, timeoutMs: 60_000 });
  // The follower's log ends where the leaders' begin: only a snapshot (all 40 objects and their
  // history, several MB) can bring it up to date.
  await c.restart(down!);
  const target = (await waitFor('the leader’s status', () => c.status(second.leader))).raft.cdb.commit;
  await waitFor(
    `${down} to apply up to ${target}`,
    async () => ((await c.status(down!))?.raft.cdb.applied ?? 0) >= target,
    60_000,
  );
  for (const o of [objects[0]!, objects[OBJECTS - 1]!]) {
    const g: Reply = await c.cdb(down!, { op: 'get', type: 'network', id: o.id, consistency: 'stale' });
    t.deepEqual((g.object as { spec: unknown } | undefined)?.spec, o.spec, `${down} holds ${String(o.id)}`);
  }
});
