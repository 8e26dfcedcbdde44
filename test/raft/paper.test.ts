// Tests written sentence by sentence from the Raft paper (Ongaro & Ousterhout,
// "In Search of an Understandable Consensus Algorithm", Figure 2 and §5),
// plus the PreVote / CheckQuorum extensions from the dissertation §9.6.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { RawNode } from '../../runtime/raft/rawnode.ts';
import { MemoryStorage, applyReadyToStorage } from '../../runtime/raft/storage.ts';
import type { Entry, Message, MsgAppendResp, MsgVoteResp, NodeId } from '../../runtime/raft/types.ts';
import { newCluster } from './harness.ts';

const VOTERS = ['1', '2', '3'];
const BOOT = 3; // bootstrap conf entries occupy indexes 1..3 (term 1)

/** A node "1" of {1,2,3} whose log is the bootstrap entries plus `extra` (term, data) pairs. */
function node(opts: { term?: number; vote?: NodeId; extraTerms?: number[]; preVote?: boolean; checkQuorum?: boolean; id?: NodeId } = {}): RawNode {
  const s = MemoryStorage.bootstrap({ voters: VOTERS, learners: [] });
  const ents: Entry[] = (opts.extraTerms ?? []).map((t, i) => ({ term: t, index: BOOT + 1 + i, type: 'normal', data: `e${i}` }));
  s.append(ents);
  const lastTerm = ents.length > 0 ? ents[ents.length - 1].term : 1;
  s.setHardState({ term: Math.max(opts.term ?? 1, lastTerm), vote: opts.vote ?? '', commit: BOOT });
  const rn = new RawNode({ id: opts.id ?? '1', storage: s, rng: new SeededRng(7), preVote: opts.preVote ?? false, checkQuorum: opts.checkQuorum ?? false });
  storages.set(rn, s);
  return rn;
}

const storages = new WeakMap<RawNode, MemoryStorage>();

/** Handle one Ready like a host would (persist to storage, then advance) and return its messages. */
function drain(rn: RawNode): Message[] {
  if (!rn.hasReady()) return [];
  const rd = rn.ready();
  applyReadyToStorage(storages.get(rn)!, rd);
  rn.advance(rd);
  return rd.messages;
}

function vote(from: NodeId, term: number, lastIndex: number, lastTerm: number, type: 'vote' | 'preVote' = 'vote'): Message {
  return { type, from, to: '1', term, index: lastIndex, logTerm: lastTerm, transfer: false };
}

test('§5.1 "If a server receives a request with a stale term number, it rejects the request"', (t) => {
  const rn = node({ term: 5, preVote: true });
  drain(rn);
  rn.step({ type: 'append', from: '2', to: '1', term: 3, index: BOOT, logTerm: 1, entries: [{ term: 3, index: BOOT + 1, type: 'normal', data: 'x' }], commit: BOOT });
  const out = drain(rn);
  t.is(rn.raft.log.lastIndex(), BOOT, 'stale append not accepted');
  // With PreVote/CheckQuorum the stale leader is told our term so it steps down.
  t.deepEqual(out.map((m) => [m.type, m.term]), [['appendResp', 5]]);
  t.is(rn.status().term, 5);
});

test('§5.1 "If a candidate or leader discovers that its term is out of date, it immediately reverts to follower state"', (t) => {
  const rn = node();
  rn.campaign();
  rn.step({ type: 'voteResp', from: '2', to: '1', term: 2, reject: false });
  t.is(rn.status().role, 'leader');
  rn.step({ type: 'voteResp', from: '3', to: '1', term: 9, reject: true });
  t.is(rn.status().role, 'follower');
  t.is(rn.status().term, 9);
});

test('§5.2 "Each server will vote for at most one candidate in a given term, on a first-come-first-served basis"', (t) => {
  const rn = node({ term: 1 });
  rn.step(vote('2', 2, BOOT, 1));
  rn.step(vote('3', 2, BOOT, 1));
  const resps = drain(rn) as MsgVoteResp[];
  t.deepEqual(resps.map((m) => [m.to, m.reject]), [['2', false], ['3', true]]);
  t.is(rn.status().vote, '2');
  // Repeated request from the same candidate is granted again (idempotent).
  rn.step(vote('2', 2, BOOT, 1));
  t.false((drain(rn)[0] as MsgVoteResp).reject);
});

test('§5.2 the vote survives a restart (it is part of the persisted hard state)', (t) => {
  const c = newCluster(3, { preVote: false, checkQuorum: false });
  c.node('1').step(vote('2', 2, BOOT, 1) as Message);
  c.processReady('1');
  c.inflight = [];
  c.crash('1');
  c.restart('1');
  t.is(c.node('1').status().vote, '2');
  c.node('1').step({ ...vote('3', 2, BOOT, 1), to: '1' });
  c.processReady('1');
  const resp = c.inflight.find((m) => m.type === 'voteResp') as MsgVoteResp;
  t.true(resp.reject, 'no second vote in term 2 after restart');
});

test('§5.4.1 "the voter denies its vote if its own log is more up-to-date than that of the candidate"', (t) => {
  // Our log ends with term 3 at index BOOT+2.
  const cases: [number, number, boolean][] = [
    [BOOT + 5, 2, true], // lower last term, longer log: denied
    [BOOT + 1, 3, true], // same last term, shorter log: denied
    [BOOT + 2, 3, false], // same: granted
    [BOOT + 3, 3, false], // same term, longer: granted
    [BOOT, 4, false], // higher last term, shorter: granted
  ];
  for (const [li, lt, reject] of cases) {
    const rn = node({ extraTerms: [2, 3], term: 3 });
    rn.step(vote('2', 5, li, lt));
    const r = drain(rn).find((m) => m.type === 'voteResp') as MsgVoteResp;
    t.is(r.reject, reject, `candidate last=${lt}/${li}`);
  }
});

test('§5.2 "If AppendEntries RPC received from new leader: convert to follower" (candidate, same term)', (t) => {
  const rn = node();
  rn.campaign();
  t.is(rn.status().role, 'candidate');
  const term = rn.status().term;
  rn.step({ type: 'append', from: '3', to: '1', term, index: BOOT, logTerm: 1, entries: [], commit: BOOT });
  t.is(rn.status().role, 'follower');
  t.is(rn.status().lead, '3');
});

test('§5.2 election timeouts are randomized in [electionTick, 2*electionTick) and come from the injected Rng', (t) => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const s = MemoryStorage.bootstrap({ voters: VOTERS, learners: [] });
    const rn = new RawNode({ id: '1', storage: s, rng: new SeededRng(seed), electionTick: 10 });
    const r = rn.raft.randomizedElectionTimeout;
    t.true(r >= 10 && r < 20);
    seen.add(r);
  }
  t.true(seen.size >= 8, 'timeouts spread over the range');
  // Same seed, same timeout: runs replay.
  const a = new RawNode({ id: '1', storage: MemoryStorage.bootstrap({ voters: VOTERS, learners: [] }), rng: new SeededRng(42) });
  const b = new RawNode({ id: '1', storage: MemoryStorage.bootstrap({ voters: VOTERS, learners: [] }), rng: new SeededRng(42) });
  t.is(a.raft.randomizedElectionTimeout, b.raft.randomizedElectionTimeout);
});

test('§5.3 "If a follower\'s log is inconsistent with the leader\'s, the AppendEntries consistency check will fail"', (t) => {
  const rn = node({ extraTerms: [2, 2] }); // last 2/BOOT+2
  rn.step({ type: 'append', from: '2', to: '1', term: 4, index: BOOT + 2, logTerm: 3, entries: [{ term: 4, index: BOOT + 3, type: 'normal', data: 'z' }], commit: BOOT });
  const r = drain(rn).find((m) => m.type === 'appendResp') as MsgAppendResp;
  t.true(r.reject);
  t.is(r.index, BOOT + 2);
  // Hint: the last index with term <= 3 is BOOT+2 (term 2): the leader can skip straight there.
  t.is(r.rejectHint, BOOT + 2);
  t.is(r.logTerm, 2);
  t.is(rn.raft.log.lastIndex(), BOOT + 2);
});

test('§5.3 "If an existing entry conflicts with a new one, delete the existing entry and all that follow it"', (t) => {
  const rn = node({ extraTerms: [2, 2, 2] });
  rn.step({ type: 'append', from: '2', to: '1', term: 3, index: BOOT + 1, logTerm: 2, entries: [{ term: 3, index: BOOT + 2, type: 'normal', data: 'new' }], commit: BOOT });
  const rd = rn.ready();
  t.deepEqual(rd.entries.map((e) => [e.index, e.term, e.data]), [[BOOT + 2, 3, 'new']]);
  t.is(rn.raft.log.lastIndex(), BOOT + 2, 'the old BOOT+3 is gone');
  rn.advance(rd);
});

test('§5.3 "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)"', (t) => {
  const rn = node({ extraTerms: [2, 2, 2, 2] });
  // The message covers only up to BOOT+2; our entries beyond it are not known to match the leader's.
  rn.step({ type: 'append', from: '2', to: '1', term: 2, index: BOOT + 1, logTerm: 2, entries: [{ term: 2, index: BOOT + 2, type: 'normal', data: 'e1' }], commit: BOOT + 4 });
  t.is(rn.status().commit, BOOT + 2);
});

test('§5.4.2 "Raft never commits log entries from previous terms by counting replicas"', (t) => {
  // Leader of term 3 with an old term-2 entry replicated on a majority: not committed until its own entry is.
  const rn = node({ extraTerms: [2], term: 2 });
  rn.campaign();
  for (const from of ['2', '3']) rn.step({ type: 'voteResp', from, to: '1', term: 3, reject: false });
  t.is(rn.status().role, 'leader');
  const noop = rn.status().lastIndex; // BOOT+2, term 3
  drain(rn);
  rn.step({ type: 'appendResp', from: '2', to: '1', term: 3, index: BOOT + 1, reject: false, rejectHint: 0, logTerm: 0 });
  t.is(rn.status().commit, BOOT, 'majority has the term-2 entry, still not committed');
  rn.step({ type: 'appendResp', from: '2', to: '1', term: 3, index: noop, reject: false, rejectHint: 0, logTerm: 0 });
  t.is(rn.status().commit, noop, 'committing the current-term entry commits everything before it');
});

test('Figure 2 "Leaders: upon election send initial empty AppendEntries"; single-voter clusters commit alone', (t) => {
  const s = MemoryStorage.bootstrap({ voters: ['1'], learners: [] });
  const rn = new RawNode({ id: '1', storage: s, rng: new SeededRng(1) });
  rn.campaign();
  t.is(rn.status().role, 'leader');
  const r = rn.propose('x');
  t.true(r.ok);
  // Its own copy is the quorum: committed once the host persisted it (advance).
  const rd = rn.ready();
  t.deepEqual(rd.entries.map((e) => e.data), ['', 'x']);
  t.false(rd.committedEntries.some((e) => e.data === 'x'), 'not committed before it is durable');
  s.append(rd.entries);
  rn.advance(rd);
  t.is(rn.status().commit, rn.status().lastIndex);
  const rd2 = rn.ready();
  t.deepEqual(rd2.committedEntries.map((e) => e.data).slice(-2), ['', 'x']);
  rn.advance(rd2);
});

test('§10.2.1 the leader replicates while it writes, but its own entry counts toward commit only once persisted', (t) => {
  // 3 voters, follower 3 down: the entry needs the leader's own durable copy plus follower 2's.
  const voters = ['1', '2', '3'];
  const s1 = MemoryStorage.bootstrap({ voters, learners: [] });
  const s2 = MemoryStorage.bootstrap({ voters, learners: [] });
  const n1 = new RawNode({ id: '1', storage: s1, rng: new SeededRng(1) });
  const n2 = new RawNode({ id: '2', storage: s2, rng: new SeededRng(2) });
  const pump = (from: RawNode, fromStorage: MemoryStorage, to: RawNode): void => {
    // Fully process one Ready of `from` (persist, then send everything for `to`).
    const rd = from.ready();
    if (rd.snapshot) fromStorage.applySnapshot(rd.snapshot);
    fromStorage.append(rd.entries);
    if (rd.hardState) fromStorage.setHardState(rd.hardState);
    for (const m of rd.messages) if (m.to === to.id) to.step(structuredClone(m));
    from.advance(rd);
  };
  n1.campaign();
  while (n1.raft.role !== 'leader') {
    pump(n1, s1, n2);
    pump(n2, s2, n1);
  }
  // Settle the new leader's empty entry.
  for (let i = 0; i < 4; i++) {
    if (n1.hasReady()) pump(n1, s1, n2);
    if (n2.hasReady()) pump(n2, s2, n1);
  }
  const commit0 = n1.status().commit;
  const p = n1.propose('x');
  t.true(p.ok && 'index' in p);
  const idx = p.ok && 'index' in p ? p.index : 0;
  // The leader's Ready: entry to persist, and the append to 2 may leave before it is durable.
  const rd = n1.ready();
  t.deepEqual(rd.entries.map((e) => e.index), [idx]);
  const early = rd.messages.slice(0, rd.earlyCount);
  t.true(early.some((m) => m.type === 'append' && m.to === '2' && m.entries.some((e) => e.index === idx)), 'append sent before the leader persisted');
  t.false(rd.messages.slice(rd.earlyCount).some((m) => m.type === 'append'));
  for (const m of early) if (m.to === '2') n2.step(structuredClone(m));
  // Follower 2 persists and acknowledges while the leader's write is still in flight.
  const frd = n2.ready();
  t.is(frd.earlyCount, 0, 'a follower acknowledges only after persisting');
  s2.append(frd.entries);
  for (const m of frd.messages) n1.step(structuredClone(m));
  n2.advance(frd);
  t.is(n1.status().commit, commit0, 'leader + 1 of 3 is a majority only counting the leader, whose copy is not durable yet');
  t.is(n1.status().progress!['2'].match, idx);
  // The leader's write completes: now it counts, and the entry commits.
  s1.append(rd.entries);
  n1.advance(rd);
  t.is(n1.status().commit, idx);
  const rd2 = n1.ready();
  t.true(rd2.committedEntries.some((e) => e.index === idx && e.data === 'x'));
  n1.advance(rd2);
});

test('§10.2.1 while a write is in flight the leader keeps sending heartbeats and appends (takeEarlyMessages); nothing early across a term change', (t) => {
  const voters = ['1', '2', '3'];
  const s1 = MemoryStorage.bootstrap({ voters, learners: [] });
  const n1 = new RawNode({ id: '1', storage: s1, rng: new SeededRng(1), heartbeatTick: 1, electionTick: 10 });
  n1.campaign();
  // Term/vote change not durable: nothing may leave early.
  const rdv = n1.ready();
  t.is(rdv.earlyCount, 0);
  t.true(rdv.messages.some((m) => m.type === 'preVote' || m.type === 'vote'));
  s1.setHardState(rdv.hardState ?? s1.hardState());
  n1.advance(rdv);
  for (const from of ['2', '3']) {
    const m = n1.ready();
    n1.advance(m);
    const type = n1.raft.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    n1.step({ type, from, to: '1', term: n1.raft.term + (type === 'preVoteResp' ? 1 : 0), reject: false });
  }
  while (n1.raft.role !== 'leader') {
    const m = n1.ready();
    if (m.hardState) s1.setHardState(m.hardState);
    n1.advance(m);
    for (const from of ['2', '3']) n1.step({ type: 'voteResp', from, to: '1', term: n1.raft.term, reject: false });
  }
  const rd = n1.ready(); // the leader's empty entry: its write is "in flight" from here on
  t.true(rd.entries.length > 0);
  n1.tick();
  t.true(n1.takeEarlyMessages().some((m) => m.type === 'heartbeat'), 'heartbeats go out while the leader writes');
  // Follower 2 acknowledges the empty entry; a proposal is then replicated at once.
  const noop = rd.entries[rd.entries.length - 1].index;
  n1.step({ type: 'appendResp', from: '2', to: '1', term: n1.raft.term, index: noop, reject: false, rejectHint: 0, logTerm: 0 });
  n1.propose('y');
  t.true(n1.takeEarlyMessages().some((m) => m.type === 'append' && m.to === '2' && m.entries.some((e) => e.data === 'y')));
  t.true(n1.status().commit < noop, 'the empty entry is not committed: the leader has not persisted it');
  s1.append(rd.entries);
  n1.advance(rd);
});

test('proposals on a follower: typed not-leader error with a leader hint, or forwarded when enabled', (t) => {
  const c = newCluster(3);
  c.node('1').campaign();
  c.stabilize();
  const r = c.node('2').propose('x');
  t.false(r.ok);
  if (!r.ok) {
    t.is(r.error.code, 'not-leader');
    t.is(r.error.leader, '1');
  }
  const f = newCluster(3, { forwardProposals: true });
  f.node('1').campaign();
  f.stabilize();
  const fr = f.node('2').propose('y');
  t.deepEqual(fr, { ok: true, forwarded: true, to: '1' });
  f.stabilize();
  t.deepEqual(f.peer('3').applied.map((e) => e.data).filter((d) => d !== '' && !d.startsWith('{')), ['y']);
});

test('PreVote: a partitioned node does not increase its term; CheckQuorum: an isolated leader steps down', (t) => {
  const c = newCluster(3);
  c.node('1').campaign();
  c.stabilize();
  const term = c.node('1').status().term;
  c.isolate('3');
  for (let i = 0; i < 5; i++) {
    c.tickElection('3');
    c.stabilize();
  }
  t.is(c.node('3').status().term, term, 'no term inflation');
  c.heal();
  c.tickElection('3');
  c.stabilize();
  t.is(c.node('1').status().role, 'leader', 'stable leader undisturbed');
  t.is(c.node('1').status().term, term);

  c.isolate('1');
  c.tickElection('1');
  c.stabilize();
  c.tickElection('1');
  c.stabilize();
  t.is(c.node('1').status().role, 'follower', 'leader without a quorum steps down');
});

test('a leader does not accept a conf change before committing an entry of its term, nor two at once', (t) => {
  const c = newCluster(3);
  c.node('1').campaign();
  // Elected, but the empty entry is not committed yet.
  for (let i = 0; i < 6; i++) {
    for (const id of c.ids()) c.processReady(id);
    const msgs = c.inflight;
    c.inflight = [];
    for (const m of msgs) if (m.type !== 'appendResp') c.deliver(m);
  }
  t.is(c.node('1').status().role, 'leader');
  const r = c.node('1').proposeConfChange({ type: 'addLearner', node: '4' });
  t.false(r.ok);
  if (!r.ok) t.is(r.error.code, 'not-ready');
  // A heartbeat round un-pauses the probes; the empty entry then commits.
  c.node('1').tick();
  c.stabilize();
  t.like(c.node('1').proposeConfChange({ type: 'addLearner', node: '4' }), { ok: true });
  const r2 = c.node('1').proposeConfChange({ type: 'addLearner', node: '5' });
  t.false(r2.ok);
  if (!r2.ok) t.is(r2.error.code, 'conf-change-pending');
});
