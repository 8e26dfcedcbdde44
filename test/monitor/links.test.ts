// The link evidence the Monitor reads from its node's peer port: LinkTracker
// (the bookkeeping a real node keeps from its transport's link events) and
// (The simulator feeds the same tracker from its link model: test/monitor/sim-links.test.ts.)
import test from 'ava';
import { LinkTracker } from '../../runtime/ports/peers.ts';

test('LinkTracker: peers start down (never connected); up and down are timed on its clock', (t) => {
  let now = 1000;
  const l = new LinkTracker(['b', 'c'], () => now);
  now = 1250;
  t.deepEqual(l.all(), { b: { up: false, cause: 'silent', forMs: 250 }, c: { up: false, cause: 'silent', forMs: 250 } });
  l.up('b');
  l.up('c');
  t.true(l.isUp('b'));
  t.false(l.isUp('x'), 'a node that is no peer has no link');
  now = 2000;
  l.down('b', 'closed');
  now = 2300;
  t.deepEqual(l.state('b'), { up: false, cause: 'closed', forMs: 300 });
  t.deepEqual(l.state('c'), { up: true });
});

test('LinkTracker: a closed link stays closed since its first drop; silence after a close does not weaken it, a close after silence strengthens it', (t) => {
  let now = 0;
  const l = new LinkTracker(['b', 'c'], () => now);
  l.up('b');
  l.up('c');
  now = 100;
  l.down('b', 'closed');
  l.down('c', 'silent');
  now = 400;
  l.down('b', 'silent');
  l.down('c', 'closed');
  t.deepEqual(l.all(), { b: { up: false, cause: 'closed', forMs: 300 }, c: { up: false, cause: 'closed', forMs: 300 } });
  l.up('c');
  t.deepEqual(l.state('c'), { up: true });
});
