// The Raft paper's Figure 8, step by step, on five servers S1..S5.
//
// Index numbering: the bootstrap conf entries occupy 1..5 (term 1) and the
// first leader's empty entry is 6, so the paper's "index 2" is our index 7.
// (a) S1 leads term 2 and replicates the term-2 entry at 7 to S2 only.
// (b) S1 crashes; S5 is elected for term 3 (votes S3, S4, S5) and appends a
//     different entry (its term-3 empty entry) at 7.
// (c) S5 crashes; S1 restarts, is elected for term 4 (S1, S2, S3) and copies
//     its term-2 entry at 7 to S3: it is now on a majority but MUST NOT be
//     committed, because it is not from the leader's current term.
// (d) If S1 crashes now, S5 can be elected (term 5) and overwrite index 7 on
//     everyone: that is safe only because 7 was never committed.
// (e) If instead S1 first replicates its term-4 entry to a majority, that
//     entry commits and so does everything before it; S5 can no longer win.
import test from 'ava';
import { newCluster } from './harness.ts';
import type { Cluster } from './harness.ts';
import type { Message, NodeId } from '../../runtime/raft/types.ts';

function t5(c: Cluster): void {
  const s5 = c.node('5').status();
  if (s5.role !== 'leader' || s5.term !== 3 || c.node('5').raft.log.term(X) !== 3 || c.node('3').raft.log.lastIndex() !== X - 1) {
    throw new Error('state (b) not reached');
  }
}

const X = 7; // the paper's index 2

function termAt(c: Cluster, id: NodeId, i: number): number | undefined {
  return c.node(id).raft.log.term(i);
}

/** Process readies and deliver messages until quiet; messages matching `drop` are lost. */
function settle(c: Cluster, drop: (m: Message) => boolean = () => false): void {
  for (let round = 0; round < 200; round++) {
    let busy = false;
    for (const id of c.ids()) if (c.processReady(id)) busy = true;
    const msgs = c.inflight;
    c.inflight = [];
    for (const m of msgs) {
      busy = true;
      if (!drop(m)) c.deliver(m);
    }
    if (!busy) return;
  }
  throw new Error('did not settle');
}

function elect(c: Cluster, id: NodeId): void {
  c.node(id).campaign();
  settle(c);
  if (c.node(id).status().role !== 'leader') throw new Error(`${id} not elected`);
}

/** Build state (c). maxSizePerMsg=1 makes every append carry a single entry, so we can stop between them. */
function toStateC(): Cluster {
  // No PreVote/CheckQuorum: the paper's algorithm, and terms advance exactly as in the figure.
  const c = newCluster(5, { preVote: false, checkQuorum: false, maxSizePerMsg: 1 });
  elect(c, '1');
  const s1 = c.node('1');
  if (s1.status().term !== 2) throw new Error('expected term 2');

  // (a) entry 2/7 reaches S2 only.
  c.partition([['1', '2'], ['3', '4', '5']]);
  s1.propose('term2-entry');
  settle(c);
  c.heal();

  // (b) S1 crashes; S5 elected in term 3 with S3, S4; its entry 3/7 stays local.
  c.crash('1');
  c.partition([['1'], ['2'], ['3', '4', '5']]);
  c.node('5').campaign(); // term 3
  settle(c, (m) => m.from === '5' && m.type === 'append'); // its entry never leaves S5
  t5(c);
  c.crash('5');

  // (c) S1 restarts, elected in term 4 by S1, S2, S3.
  c.restart('1');
  c.partition([['1', '2', '3'], ['4'], ['5']]);
  c.node('1').campaign(); // term 3: S3 already voted for S5 in term 3, so this round cannot win
  settle(c);
  if (c.node('1').status().role === 'leader') throw new Error('S1 should not win term 3');
  c.node('1').campaign(); // term 4
  return c;
}

test('Figure 8 (a)-(c): an entry from a previous term is not committed by counting replicas', (t) => {
  const c = toStateC();
  // Let the election finish and S3 receive exactly one append carrying 2/7.
  for (let i = 0; i < 20; i++) {
    for (const id of ['1', '2', '3']) c.processReady(id);
    const msgs = c.inflight;
    c.inflight = [];
    for (const m of msgs) {
      // Hold back the term-4 entry (index 8) from anyone who could accept it
      // (i.e. already has index 7), so it does not reach a majority.
      if (m.type === 'append' && m.entries.some((e) => e.index > X) && c.peer(m.to).rn && termAt(c, m.to, X) !== undefined) continue;
      c.deliver(m);
    }
  }
  const s1 = c.node('1');
  t.is(s1.status().role, 'leader');
  t.is(s1.status().term, 4);
  t.is(termAt(c, '1', X), 2);
  t.is(termAt(c, '2', X), 2);
  t.is(termAt(c, '3', X), 2, 'S3 now has the term-2 entry: it is on a majority (S1, S2, S3)');
  t.is(termAt(c, '1', X + 1), 4, "S1's own term-4 entry");
  t.is(s1.status().progress!['3'].match, X);
  t.true(s1.status().commit < X, 'yet it is NOT committed');
  for (const id of ['1', '2', '3']) t.true(c.node(id).status().commit < X);

  // (d) S1 crashes; S5 comes back and wins term 5 with S2, S3, S4 (its last term 3 > 2).
  c.crash('1');
  c.restart('5');
  c.partition([['1'], ['2', '3', '4', '5']]);
  c.node('5').campaign(); // term 3 -> 4: rejected by voters already in term 4 ...
  settle(c);
  if (c.node('5').status().role !== 'leader') {
    c.node('5').campaign(); // ... then term 5 wins
    settle(c);
  }
  t.is(c.node('5').status().role, 'leader');
  t.is(c.node('5').status().term, 5);
  for (const id of ['2', '3', '4', '5']) {
    t.is(termAt(c, id, X), 3, `S${id}: index ${X} overwritten by the term-3 entry (safe: it was never committed)`);
  }
  t.true(c.node('5').status().commit >= X, 'S5 commits it through its own term-5 entry');
});

test('Figure 8 (e): once the current-term entry is on a majority, it and everything before it commit', (t) => {
  const c = toStateC();
  settle(c); // deliver everything among S1, S2, S3, including the term-4 entry
  const s1 = c.node('1');
  t.is(s1.status().role, 'leader');
  t.is(s1.status().term, 4);
  t.is(termAt(c, '3', X + 1), 4);
  t.true(s1.status().commit >= X + 1, 'the term-4 entry is committed');
  for (const id of ['1', '2', '3']) {
    const applied = c.peer(id).applied;
    t.true(applied.some((e) => e.index === X && e.term === 2 && e.data === 'term2-entry'), `S${id} applied 2/${X}`);
  }

  // S1 crashes; S5 cannot be elected any more: S2 and S3 have a more up-to-date log.
  c.crash('1');
  c.restart('5');
  c.partition([['1'], ['2', '3', '4', '5']]);
  for (let i = 0; i < 3; i++) {
    c.node('5').campaign();
    settle(c);
    t.not(c.node('5').status().role, 'leader');
  }
  // Whoever leads next keeps 2/7.
  c.node('2').campaign();
  settle(c);
  t.is(c.node('2').status().role, 'leader');
  for (const id of ['2', '3', '4', '5']) t.is(termAt(c, id, X), 2);
});
