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
