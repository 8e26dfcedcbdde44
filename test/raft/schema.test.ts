import test from 'ava';
import { parseRaftMessage } from '../../runtime/raft/schema.ts';
import { newCluster } from './harness.ts';

test('every message the core produces passes validation after a JSON round trip', (t) => {
  const c = newCluster(3);
  c.node('1').campaign();
  c.stabilize();
  c.node('1').propose('x');
  c.node('2').readIndex('ctx');
  c.node('3').transferLeader('2');
  let n = 0;
  for (let i = 0; i < 20; i++) {
    for (const id of c.ids()) c.processReady(id);
    for (const m of c.inflight) {
      const r = parseRaftMessage(JSON.parse(JSON.stringify(m)));
      t.true(r.ok, r.ok ? '' : r.error);
      n++;
    }
    const msgs = c.inflight;
    c.inflight = [];
    for (const m of msgs) c.deliver(m);
  }
  t.true(n > 10);
});

test('malformed messages are rejected with a reason', (t) => {
  const good = { type: 'append', from: '1', to: '2', term: 3, index: 4, logTerm: 2, entries: [{ term: 3, index: 5, type: 'normal', data: 'x' }], commit: 4 };
  t.true(parseRaftMessage(good).ok);
  const bad: [unknown, RegExp][] = [
    [null, /root/],
    [{ ...good, type: 'nope' }, /type/],
    [{ ...good, term: -1 }, /term/],
    [{ ...good, term: 1.5 }, /term/],
    [{ ...good, extra: true }, /invalid/],
    [{ ...good, entries: [{ term: 3, index: 7, type: 'normal', data: 'x' }] }, /index 7, expected 5/],
    [{ ...good, entries: [{ term: 9, index: 5, type: 'normal', data: 'x' }] }, /out of order/],
    [{ ...good, term: 0 }, /term 0/],
    [{ ...good, from: '2' }, /from === to/],
    [{ ...good, entries: [{ term: 3, index: 5, type: 'weird', data: 'x' }] }, /entries/],
    [{ type: 'vote', from: '1', to: '2', term: 2, index: 1, logTerm: 1 }, /transfer/],
    [{ type: 'snapshot', from: '1', to: '2', term: 2, snapshot: { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: '' } }, /empty snapshot/],
  ];
  for (const [m, re] of bad) {
    const r = parseRaftMessage(m);
    t.false(r.ok);
    if (!r.ok) t.regex(r.error, re);
  }
});

test('the hand-written validator agrees with the zod schema and returns an unshared copy', async (t) => {
  const { raftMessageSchema } = await import('../../runtime/raft/schema.ts');
  const conf = { voters: ['1', '2'], learners: [] };
  const goods: Record<string, unknown>[] = [
    { type: 'append', from: '1', to: '2', term: 3, index: 4, logTerm: 2, entries: [{ term: 3, index: 5, type: 'conf', data: 'x' }], commit: 4 },
    { type: 'appendResp', from: '2', to: '1', term: 3, index: 4, reject: false, rejectHint: 0, logTerm: 0 },
    { type: 'preVote', from: '1', to: '2', term: 3, index: 4, logTerm: 2, transfer: false },
    { type: 'voteResp', from: '1', to: '2', term: 3, reject: true },
    { type: 'heartbeat', from: '1', to: '2', term: 3, commit: 1, context: '' },
    { type: 'heartbeatResp', from: '1', to: '2', term: 3, context: 'c' },
    { type: 'snapshot', from: '1', to: '2', term: 3, snapshot: { meta: { index: 9, term: 2, conf }, data: 'S' } },
    { type: 'timeoutNow', from: '1', to: '2', term: 3 },
    { type: 'readIndex', from: '1', to: '2', term: 0, context: 'r1' },
    { type: 'readIndexResp', from: '1', to: '2', term: 3, context: 'r1', index: 7 },
    { type: 'transferLeader', from: '1', to: '2', term: 0, target: '2' },
    { type: 'propose', from: '1', to: '2', term: 0, entries: [{ term: 0, index: 0, type: 'normal', data: 'p' }] },
  ];
  const mutations: ((m: Record<string, unknown>) => unknown)[] = [
    (m) => m,
    (m) => ({ ...m, extra: 1 }),
    (m) => ({ ...m, term: -1 }),
    (m) => ({ ...m, term: 2.5 }),
    (m) => ({ ...m, from: '' }),
    (m) => ({ ...m, to: 'x'.repeat(300) }),
    (m) => ({ ...m, type: 'bogus' }),
    (m) => Object.fromEntries(Object.entries(m).slice(0, -1)),
    (m) => ({ ...m, context: 5 }),
    (m) => ({ ...m, reject: 'no' }),
    (m) => ({ ...m, entries: [{ term: 3, index: 5, type: 'normal' }] }),
    (m) => ({ ...m, entries: [] }),
    (m) => ({ ...m, snapshot: { meta: { index: 1, term: 1, conf: { voters: [''], learners: [] } }, data: '' } }),
    (m) => [m],
    () => null,
  ];
  for (const g of goods) {
    const r = parseRaftMessage(g);
    t.true(r.ok, JSON.stringify(g));
    if (r.ok) {
      t.deepEqual(r.msg, g);
      t.not(r.msg, g as never);
      if ('entries' in r.msg) t.not(r.msg.entries, g.entries as never);
    }
    for (const mut of mutations) {
      const x = mut(g);
      const shapeOk = raftMessageSchema.safeParse(x).success;
      const ours = parseRaftMessage(x);
      // Ours may reject more (semantic checks), never accept what the schema rejects.
      if (!shapeOk) t.false(ours.ok, JSON.stringify(x));
      if (ours.ok) t.true(shapeOk, JSON.stringify(x));
    }
  }
});
