// The PeerPort's channels over a wire that enforces a frame limit: a channel
// that drops while its link is down, and a large channel whose bodies (Raft
// snapshots: a head and a long text) are larger than a frame and travel in
// pieces — reordered, duplicated, or cut short by a dropped link.
import test from 'ava';
import { PeerPort, MAX_PIECES, type PeerFrame } from '../../runtime/ports/peers.ts';
import { SeededRng } from '../../runtime/env/random.ts';

const FRAME = 64 * 1024;

/** Two ports joined by a wire that refuses frames over FRAME bytes (as the transport does), with a link switch. */
function pair(o: { instanceA?: number } = {}) {
  const a = new PeerPort('a', ['a', 'b'], { instance: o.instanceA ?? 1 });
  const b = new PeerPort('b', ['a', 'b'], { instance: 1 });
  const inFlight: PeerFrame[] = [];
  const state = { up: true, largest: 0, refused: 0 };
  a.attach({
    send: (_to, f) => {
      const bytes = Buffer.byteLength(JSON.stringify({ type: 'frame', data: { p: f } }));
      state.largest = Math.max(state.largest, bytes);
      if (bytes > FRAME) {
        state.refused++;
        return false;
      }
      inFlight.push(JSON.parse(JSON.stringify(f)) as PeerFrame);
      return true;
    },
    maxFrameBytes: FRAME,
    isConnected: () => state.up,
    stats: () => ({}),
    links: () => ({}),
  });
  b.attach({ send: () => true, maxFrameBytes: FRAME, isConnected: () => true, stats: () => ({}), links: () => ({}) });
  const deliver = (frames = inFlight.splice(0)) => {
    for (const f of frames) b.receive('a', f);
  };
  return { a, b, inFlight, state, deliver };
}

const big = (n: number, seed = 1) => {
  const rng = new SeededRng(seed);
  const chars = ['x', '"', '\\', 'é', '€', '😀', '\n', '\u0001', '\ud800'];
  let s = '';
  while (s.length < n) s += chars[rng.int(0, chars.length - 1)];
  return { head: { kind: 'state', seed }, text: s };
};
type Body = { head: unknown; text: string };
const valid = (x: Body) => ((x.head as { kind?: unknown } | undefined)?.kind === 'state' ? { ok: true as const, value: x } : { ok: false as const, error: 'not a state' });

test('a body several frames long arrives whole, every piece within the frame limit', (t) => {
  const { a, b, state, deliver } = pair();
  const got: Body[] = [];
  const ch = a.openLarge('snap/x', valid, () => {});
  b.openLarge('snap/x', valid, (_from, body) => got.push(body));
  const body = big(200_000);
  t.true(ch.send('b', body));
  t.true(state.largest <= FRAME, `largest frame ${state.largest}`);
  t.is(state.refused, 0);
  deliver();
  t.is(got.length, 1);
  t.deepEqual(got[0], body);
});

test('pieces reordered and duplicated still make one body; a body cut short is replaced by the next', (t) => {
  const { a, b, inFlight, deliver } = pair();
  const got: string[] = [];
  const ch = a.openLarge('snap/x', valid, () => {});
  b.openLarge('snap/x', valid, (_from, body) => got.push(body.text));
  const first = big(150_000, 2);
  t.true(ch.send('b', first));
  const pieces = inFlight.splice(0);
  t.true(pieces.length >= 3);
  // Every piece but the last, then the link drops: the body never completes.
  deliver(pieces.slice(0, -1));
  t.is(got.length, 0);
  const second = big(150_000, 3);
  t.true(ch.send('b', second));
  const next = inFlight.splice(0);
  const rng = new SeededRng(9);
  const shuffled = [...next, next[0]!, next[1]!].sort(() => rng.next() - 0.5);
  deliver(shuffled);
  // The first body's last piece, late: it belongs to a body that was given up.
  deliver([pieces.at(-1)!]);
  t.deepEqual(got, [second.text]);
  t.is(b.dropped, 0);
});

test('a restarted sender’s bodies are told from its earlier life’s', (t) => {
  const before = pair({ instanceA: 1 });
  const after = pair({ instanceA: 2 });
  const got: string[] = [];
  before.b.openLarge('snap/x', valid, (_from, body) => got.push(body.text));
  const ch1 = before.a.openLarge('snap/x', valid, () => {});
  const ch2 = after.a.openLarge('snap/x', valid, () => {});
  t.true(ch1.send('b', big(150_000, 4)));
  const old = before.inFlight.splice(0);
  before.deliver(old.slice(0, 1)); // its first piece only, then it crashed
  const body = big(150_000, 5);
  t.true(ch2.send('b', body)); // the same piece sequence number, in the next boot
  const fresh = after.inFlight.splice(0);
  t.is(fresh.length, old.length);
  // Had the two lives' bodies the same id, the old first piece would stand in for the new one.
  before.deliver([...fresh.slice(1), fresh[0]!]);
  t.deepEqual(got, [body.text]);
  t.is(before.b.dropped, 0);
});

test('large bodies are not sent while the link is down, nor bodies too large for the piece limit; plain channels may drop too', (t) => {
  const { a, b, inFlight, state } = pair();
  const ch = a.openLarge('snap/x', valid, () => {});
  b.openLarge('snap/x', valid, () => {});
  const raft = a.open('raft/x', (x) => ({ ok: true as const, value: x }), () => {}, { dropWhileDown: true });
  const meta = a.open('meta', (x) => ({ ok: true as const, value: x }), () => {});
  state.up = false;
  t.false(ch.send('b', big(1000)));
  t.false(raft.send('b', { n: 1 }));
  t.true(meta.send('b', { n: 2 }), 'a plain channel leaves it to the wire (which buffers)');
  t.is(inFlight.length, 1);
  state.up = true;
  inFlight.length = 0;
  const per = Math.floor((FRAME - 512) / 6);
  t.false(ch.send('b', { head: { kind: 'state' }, text: 'x'.repeat(per * (MAX_PIECES - 1) + 1) }));
});

test('a malformed piece fails validation of its frame; a body that fails its validator is dropped', (t) => {
  const { b } = pair();
  b.openLarge('snap/x', valid, () => t.fail('delivered'));
  t.false(b.validate({ c: 'snap/x', b: { id: 'x', i: 2, n: 2, s: '' } }).ok);
  t.false(b.validate({ c: 'snap/x', b: { id: '', i: 0, n: 1, s: '', h: {} } }).ok);
  t.false(b.validate({ c: 'snap/x', b: { id: 'x', i: 0, n: MAX_PIECES + 1, s: '', h: {} } }).ok);
  t.false(b.validate({ c: 'snap/x', b: { id: 'x', i: 0, n: 2, s: '' } }).ok, 'the first piece carries the head');
  t.false(b.validate({ c: 'snap/x', b: { id: 'x', i: 1, n: 2, s: '', h: {} } }).ok, 'only the first');
  b.receive('a', { c: 'snap/x', b: { id: '1.1', i: 0, n: 1, s: '', h: { kind: 'other' } } });
  t.is(b.dropped, 1);
});
