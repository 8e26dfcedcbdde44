// The admission rule every listener shares, under virtual time.
import test from 'ava';
import { ListenerGate, resolveLimits } from '../../runtime/net/listener-gate.ts';
import type { RefuseReason } from '../../runtime/net/listener-gate.ts';
import { VirtualClock } from './virtual-clock.ts';

interface Conn {
  n: number;
}

function gate(limit: number, reserve: number, handshakeTimeoutMs = 2000) {
  const clock = new VirtualClock();
  const closed: { n: number; reason: RefuseReason; at: number }[] = [];
  const g = new ListenerGate<Conn>(resolveLimits('test', limit, reserve, handshakeTimeoutMs), (s, reason) => closed.push({ n: s.n, reason, at: clock.t }), clock);
  return { g, clock, closed };
}

test('unauthenticated connections are closed at the handshake deadline; authenticated ones stay', (t) => {
  const { g, clock, closed } = gate(8, 2, 2000);
  const a = { n: 1 };
  const b = { n: 2 };
  t.true(g.admit(a));
  clock.advance(500);
  t.true(g.admit(b));
  t.true(g.authenticate(a));
  clock.advance(1999);
  t.deepEqual(closed, []);
  clock.advance(1);
  t.deepEqual(closed, [{ n: 2, reason: 'handshakeTimeout', at: 2500 }], 'judged one turn after the timer (a zero-delay timer here)');
  clock.advance(60_000);
  t.is(closed.length, 1);
  t.like(g.stats(), { open: 1, authenticated: 1, unauthenticated: 0, accepted: 2, refusedTotal: 1, handshakeTimeouts: 1 });
  t.is(clock.pending, 0, 'no timer left behind');
});

test('at most limit − reserve unauthenticated: the oldest gives way; the reserve stays for authenticated ones', (t) => {
  const { g, closed } = gate(8, 2);
  const conns = Array.from({ length: 10 }, (_, i) => ({ n: i }));
  for (const c of conns) t.true(g.admit(c));
  t.deepEqual(closed.map((c) => c.n), [0, 1, 2, 3], 'the four oldest were evicted');
  t.like(g.stats(), { unauthenticated: 6, refusedByReason: { evicted: 4 } });
  // Six authenticate; two more can still authenticate through the reserve.
  for (const c of conns.slice(4)) g.authenticate(c);
  const x = { n: 100 };
  const y = { n: 101 };
  t.true(g.admit(x));
  t.true(g.authenticate(x));
  t.true(g.admit(y));
  t.true(g.authenticate(y));
  t.like(g.stats(), { open: 8, authenticated: 8, unauthenticated: 0 });
  // Full of authenticated connections: the newcomer is refused, nothing is evicted.
  t.false(g.admit({ n: 200 }));
  t.deepEqual(closed.at(-1), { n: 200, reason: 'full', at: 0 });
  t.like(g.stats(), { open: 8, refusedByReason: { full: 1, evicted: 4 }, refusedTotal: 5 });
  // One leaves; a stranger may take its slot as unauthenticated (7 authenticated + 1 unauthenticated ≤ 8).
  g.release(conns[4]!);
  t.true(g.admit({ n: 300 }));
  t.like(g.stats(), { open: 8, authenticated: 7, unauthenticated: 1 });
  // Full again: a newer stranger replaces the older one.
  t.true(g.admit({ n: 301 }));
  t.deepEqual(closed.at(-1), { n: 300, reason: 'evicted', at: 0 });
});

test('refusals are counted once by reason; release frees without counting', (t) => {
  const { g, clock, closed } = gate(4, 1, 100);
  const a = { n: 1 };
  const b = { n: 2 };
  const c = { n: 3 };
  g.admit(a);
  g.admit(b);
  g.admit(c);
  t.true(g.refuse(a, 'auth', 'bad key'));
  t.false(g.refuse(a, 'protocol', 'again'), 'counted once');
  t.true(g.refuse(b, 'protocol', 'garbage'));
  g.release(c);
  clock.advance(1000);
  t.deepEqual(closed.map((x) => [x.n, x.reason]), [[1, 'auth'], [2, 'protocol']]);
  t.like(g.stats(), { open: 0, refusedTotal: 2, refusedByReason: { auth: 1, protocol: 1, handshakeTimeout: 0 } });
  g.countRefusal('full');
  t.is(g.stats().refusedByReason.full, 1);
});

test('limits are checked', (t) => {
  t.throws(() => resolveLimits('x', 1, undefined, 1000), { message: /limit must be an integer ≥ 2/ });
  t.throws(() => resolveLimits('x', 8, 8, 1000), { message: /reserved connections must be an integer in \[1, 7\]/ });
  t.throws(() => resolveLimits('x', 8, 2, 0), { message: /handshake timeout/ });
  t.deepEqual(resolveLimits('x', 64, undefined, 2000), { limit: 64, reserve: 16, handshakeTimeoutMs: 2000 });
  t.deepEqual(resolveLimits('x', 3, undefined, 2000), { limit: 3, reserve: 1, handshakeTimeoutMs: 2000 });
});

test('a handshake that arrives in the turn the deadline fires (after a stall) is not cut off', (t) => {
  const clock = new VirtualClock();
  const closed: number[] = [];
  const g = new ListenerGate<Conn>(resolveLimits('test', 8, 2, 1000), (s) => closed.push(s.n), clock);
  const a = { n: 1 };
  g.admit(a);
  // The loop was stalled past the deadline: its timers phase runs first (timers before I/O) …
  clock.stallTo(5000);
  t.deepEqual(closed, [], 'not judged in the phase the deadline fired');
  // … then the I/O phase reads the handshake that was waiting.
  t.true(g.authenticate(a));
  clock.advance(10);
  t.deepEqual(closed, []);
  t.like(g.stats(), { authenticated: 1, handshakeTimeouts: 0 });
});
