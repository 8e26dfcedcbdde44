// The transport's "link closed" hint (Raft.linkDown): a follower that loses
// its link to the leader campaigns within half an election timeout, the
// survivors in id order so their votes do not split; a hint about a leader
// that is in fact alive deposes nobody (PreVote, and the others' lease).
import test from 'ava';
import type { Cluster } from './harness.ts';
import { newCluster } from './harness.ts';

const ELECTION = 24;

function elect(c: Cluster, id: string): void {
  c.node(id).campaign();
  c.stabilize();
  if (c.leader() !== id) throw new Error(`${id} did not win`);
}

/** Tick every live node once and deliver everything. */
function tickAll(c: Cluster, ids: string[]): void {
  for (const id of ids) c.node(id).tick();
  c.stabilize();
}

test('survivors told the leader’s link closed elect one of them within half an election timeout, in one round', (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    for (const n of [3, 5]) {
      const c = newCluster(n, { electionTick: ELECTION, heartbeatTick: 4 }, seed);
      elect(c, '1');
      const term = c.node('1').raft.term;
      c.crash('1');
      const survivors = c.ids().filter((id) => id !== '1');
      for (const id of survivors) c.node(id).linkDown('1');
      c.stabilize();
      let ticks = 0;
      while (!survivors.some((id) => c.node(id).raft.role === 'leader') && ticks < 2 * ELECTION) {
        tickAll(c, survivors);
        ticks++;
      }
      const leaders = survivors.filter((id) => c.node(id).raft.role === 'leader');
      t.is(leaders.length, 1, `seed ${seed}, ${n} nodes`);
      t.true(ticks <= ELECTION / 2, `seed ${seed}, ${n} nodes: a leader after ${ticks} ticks`);
      // One election round: no split vote, no second term.
      t.is(c.node(leaders[0]!).raft.term, term + 1, `seed ${seed}, ${n} nodes`);
      // The first in id order that could win: every survivor's log is as long here.
      t.is(leaders[0], '2', `seed ${seed}, ${n} nodes`);
    }
  }
});

test('two survivors pre-campaigning at once: the higher id gives way, one candidate, no split', (t) => {
  const c = newCluster(3, { electionTick: ELECTION, heartbeatTick: 4 }, 5);
  elect(c, '1');
  const term = c.node('1').raft.term;
  c.crash('1');
  c.node('2').linkDown('1');
  c.node('3').linkDown('1');
  // Both start their pre-campaigns before either hears from the other.
  for (const id of ['2', '3']) {
    const r = c.node(id).raft;
    if (r.role !== 'preCandidate') c.node(id).campaign();
    t.is(r.role, 'preCandidate');
  }
  c.stabilize();
  t.is(c.leader(), '2');
  t.is(c.node('2').raft.term, term + 1);
  t.is(c.node('3').raft.term, term + 1);
  t.is(c.node('3').raft.lead, '2');
});

test('a hint about a leader that is alive deposes nobody', (t) => {
  const c = newCluster(3, { electionTick: ELECTION, heartbeatTick: 4 }, 9);
  elect(c, '1');
  const term = c.node('1').raft.term;
  // Only node 2's link to the leader closed; the leader and node 3 are fine, and the link comes back.
  c.cut.add('1->2');
  c.cut.add('2->1');
  c.node('2').linkDown('1');
  t.is(c.node('2').raft.lead, '');
  for (let i = 0; i < ELECTION; i++) tickAll(c, ['1', '2', '3']);
  t.is(c.node('2').raft.role, 'preCandidate', 'it asks, and nobody answers: node 3 still hears the leader');
  t.is(c.leader(), '1');
  c.heal();
  c.node('1').linkUp('2');
  c.stabilize();
  for (const id of ['1', '2', '3']) t.is(c.node(id).raft.term, term, `${id}: same term`);
  t.is(c.node('2').raft.role, 'follower');
  t.is(c.node('2').raft.lead, '1');
});

test('the hint is only about the leader; a leader whose link comes up sends that peer a heartbeat at once', (t) => {
  const c = newCluster(3, { electionTick: ELECTION, heartbeatTick: 4 }, 2);
  elect(c, '1');
  c.node('2').linkDown('3');
  t.is(c.node('2').raft.lead, '1');
  t.is(c.node('2').raft.electionElapsed, 0);
  c.node('1').linkDown('2');
  t.is(c.node('1').raft.role, 'leader');
  c.node('1').linkUp('2');
  const rd = c.node('1').ready();
  t.deepEqual(
    rd.messages.map((m) => `${m.type}>${m.to}`),
    ['heartbeat>2'],
  );
  c.node('1').advance(rd);
});

test('a follower that grants a pre-vote drops its own early campaign', (t) => {
  const c = newCluster(3, { electionTick: ELECTION, heartbeatTick: 4 }, 4);
  elect(c, '1');
  c.crash('1');
  // Node 3 learns first and asks; node 2, told too, grants and stands back instead of asking as well.
  c.node('2').linkDown('1');
  c.node('3').linkDown('1');
  if (c.node('2').raft.role === 'preCandidate') {
    t.pass('node 2 campaigned at once (its delay drew 0): covered by the first test');
    return;
  }
  c.node('3').campaign();
  c.stabilize();
  t.is(c.leader(), '3');
  t.is(c.node('2').raft.lead, '3');
});

test('a candidate whose link to a voter comes back asks that voter again', (t) => {
  const c = newCluster(3, { electionTick: ELECTION, heartbeatTick: 4 }, 6);
  elect(c, '1');
  const term = c.node('1').raft.term;
  c.crash('1');
  // Node 2 campaigns while its link to node 3 is down: its requests are lost.
  c.cut.add('2->3');
  c.node('2').linkDown('1');
  c.node('3').linkDown('1');
  c.node('2').campaign();
  c.stabilize();
  t.is(c.node('2').raft.role, 'preCandidate');
  c.heal();
  c.node('2').linkUp('3');
  c.stabilize();
  t.is(c.leader(), '2', 'elected without waiting for another election timeout');
  t.is(c.node('2').raft.term, term + 1);
});
