// broadcastCommit: false — the leader does not send an append that only
// carries a new commit index; followers learn it from the next append or
// heartbeat. With the default (true) they learn it at once, as in etcd.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { RawNode } from '../../runtime/raft/rawnode.ts';
import { MemoryStorage, applyReadyToStorage } from '../../runtime/raft/storage.ts';
import type { Message, NodeId } from '../../runtime/raft/types.ts';

const IDS = ['1', '2', '3'];

function cluster(broadcastCommit: boolean | undefined) {
  const nodes = new Map<NodeId, { rn: RawNode; s: MemoryStorage }>();
  for (const id of IDS) {
    const s = MemoryStorage.bootstrap({ voters: IDS, learners: [] });
    const rn = new RawNode({ id, storage: s, rng: new SeededRng(Number(id)), electionTick: 10, heartbeatTick: 2, ...(broadcastCommit === undefined ? {} : { broadcastCommit }) });
    nodes.set(id, { rn, s });
  }
  const sent: Message[] = [];
  /** Handle Readys and deliver messages until nothing moves. */
  const settle = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      const out: Message[] = [];
      for (const { rn, s } of nodes.values()) {
        while (rn.hasReady()) {
          const rd = rn.ready();
          applyReadyToStorage(s, rd);
          out.push(...rd.messages);
          rn.advance(rd);
          moved = true;
        }
      }
      for (const m of out) {
        sent.push(m);
        nodes.get(m.to)!.rn.step(m);
      }
    }
  };
  return { nodes, sent, settle, rn: (id: NodeId) => nodes.get(id)!.rn };
}

function elect(c: ReturnType<typeof cluster>): void {
  c.rn('1').campaign();
  c.settle();
  if (c.rn('1').raft.role !== 'leader') throw new Error('1 did not win');
}

test('broadcastCommit: false — no commit-only appends; followers learn the commit from the next heartbeat', (t) => {
  const c = cluster(false);
  elect(c);
  c.sent.length = 0;
  const r = c.rn('1').propose('x');
  if (!r.ok || !('index' in r)) return t.fail('propose failed');
  c.settle();
  t.is(c.rn('1').raft.log.committed, r.index, 'the leader committed the entry');
  const appends = c.sent.filter((m) => m.type === 'append' && m.from === '1');
  t.is(appends.length, 2, 'one append per follower: the one that carried the entry');
  for (const m of appends) t.true(m.type === 'append' && m.entries.length === 1);
  for (const id of ['2', '3']) t.true(c.rn(id).raft.log.committed < r.index, `follower ${id} does not know the commit yet`);
  // The next heartbeat carries it.
  for (let i = 0; i < 2; i++) c.rn('1').tick();
  c.settle();
  for (const id of ['2', '3']) t.is(c.rn(id).raft.log.committed, r.index, `follower ${id} learned the commit from the heartbeat`);
});

test('broadcastCommit: false — the commit rides on the next append', (t) => {
  const c = cluster(false);
  elect(c);
  const a = c.rn('1').propose('a');
  c.settle();
  const b = c.rn('1').propose('b');
  if (!a.ok || !('index' in a) || !b.ok || !('index' in b)) return t.fail('propose failed');
  // Deliver only the leader's appends for b: they carry a's commit.
  const rd = c.rn('1').ready();
  applyReadyToStorage(c.nodes.get('1')!.s, rd);
  for (const m of rd.messages) if (m.type === 'append') t.is(m.commit, a.index);
  c.rn('1').advance(rd);
});

test('broadcastCommit default — followers learn the commit at once (etcd behaviour)', (t) => {
  const c = cluster(undefined);
  elect(c);
  c.sent.length = 0;
  const r = c.rn('1').propose('x');
  if (!r.ok || !('index' in r)) return t.fail('propose failed');
  c.settle();
  for (const id of ['2', '3']) t.is(c.rn(id).raft.log.committed, r.index);
  t.is(c.sent.filter((m) => m.type === 'append' && m.from === '1').length, 4, 'entry appends plus commit-only appends');
});
