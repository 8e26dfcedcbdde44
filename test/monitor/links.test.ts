// The link evidence the Monitor reads from its node's peer port: LinkTracker
// (the bookkeeping a real node keeps from its transport's link events) and
// SimLinks (the same signal in the simulator, from its ground truth).
import test from 'ava';
import { LinkTracker } from '../../runtime/ports/peers.ts';
import { BEAT_MS, IDLE_MS, SimLinks } from '../../actors/node/sim/links.ts';

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

test('SimLinks: heard peers are up at once; silence past the idle timeout takes a link down, hearing again brings it up', (t) => {
  let now = 0;
  const hears = new Set(['b', 'c']);
  const s = new SimLinks(['b', 'c'], () => now, (p) => hears.has(p));
  t.true(s.isConnected('b') && s.isConnected('c'));
  hears.delete('c');
  // Beats while c says nothing: still up until the idle timeout has passed.
  for (now = BEAT_MS; now <= IDLE_MS; now += BEAT_MS) s.beat();
  t.true(s.isConnected('c'), 'one or a few missed heartbeats keep the link');
  now = IDLE_MS + BEAT_MS;
  s.beat();
  t.false(s.isConnected('c'));
  now += 500;
  t.deepEqual(s.links().c, { up: false, cause: 'silent', forMs: 500 });
  t.deepEqual(s.stats().c, { connected: false, reconnects: 0, framesIn: 0, framesOut: 0, rejected: 0, down: { cause: 'silent', forMs: 500 } });
  hears.add('c');
  s.beat();
  t.deepEqual(s.links(), { b: { up: true }, c: { up: true } });
});

test('SimLinks: a peer whose process died is closed at once, and stays down until it is heard again', (t) => {
  let now = 0;
  const hears = new Set(['b']);
  const s = new SimLinks(['b'], () => now, (p) => hears.has(p));
  hears.delete('b');
  s.closed('b');
  t.false(s.isConnected('b'));
  now = 5000;
  s.beat();
  t.deepEqual(s.links().b, { up: false, cause: 'closed', forMs: 5000 });
  hears.add('b');
  s.beat();
  t.true(s.isConnected('b'));
});
