// The shared-memory links between threads: the ring itself (wrap-around,
// full, oversized frames), the merge of ring and port batches by number, and
// ordering across real workers whatever path each batch takes.
import test from 'ava';
import { createRing, RingReader, RingWriter, RING_MAX_FRAME } from '../../runtime/actor/ring.ts';
import { InLink } from '../../runtime/actor/in-link.ts';
import type { WireBatch } from '../../runtime/actor/link.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { makeSystem } from '../support/harness.ts';
import { mixer, orderSink } from '../support/behaviors.ts';

function frame(rng: SeededRng, seq: number, max: number): Uint8Array {
  const b = new Uint8Array(1 + rng.int(0, max));
  for (let i = 0; i < b.length; i++) b[i] = (seq * 31 + i) & 255;
  return b;
}

test('frames come out whole and in order across many wrap-arounds of the ring', async (t) => {
  const sab = createRing(1024);
  const w = new RingWriter(sab);
  const rng = new SeededRng(7);
  const sent: Uint8Array[] = [];
  const got: { seq: number; bytes: number[] }[] = [];
  const done = Promise.withResolvers<void>();
  const r = new RingReader(sab, (seq, bytes, n) => {
    got.push({ seq, bytes: [...bytes.subarray(0, n)] });
    if (got.length === 400) done.resolve();
    return true;
  });
  r.start();
  let seq = 0;
  while (seq < 400) {
    const f = frame(rng, seq + 1, 200);
    if (w.write(seq + 1, f, f.length)) {
      sent.push(f);
      seq++;
    } else await new Promise<void>((res) => setImmediate(res)); // full: let the reader catch up
  }
  await done.promise;
  r.close();
  t.is(got.length, 400);
  for (let i = 0; i < 400; i++) {
    t.is(got[i]!.seq, i + 1);
    t.deepEqual(got[i]!.bytes, [...sent[i]!]);
  }
});

test('a full ring and an oversized frame are refused, not truncated; space comes back once read', (t) => {
  const sab = createRing(1024);
  const w = new RingWriter(sab);
  const big = new Uint8Array(RING_MAX_FRAME + 1);
  t.false(w.write(1, big, big.length));
  const f = new Uint8Array(200);
  let written = 0;
  while (w.write(written + 1, f, f.length)) written++;
  t.is(written, 4); // 4 × (8-byte header + 200) fit in 1024, a fifth does not
  const seen: number[] = [];
  const r = new RingReader(sab, (seq) => {
    seen.push(seq);
    return true;
  });
  r.start(); // reads what is there synchronously
  t.deepEqual(seen, [1, 2, 3, 4]);
  t.true(w.write(5, f, f.length));
  r.close();
});

test('numbered batches are handled in order whichever way each came (port or ring)', async (t) => {
  const sab = createRing(1024);
  const w = new RingWriter(sab);
  const order: string[] = [];
  const done = Promise.withResolvers<void>();
  const link = new InLink({
    port: (b) => {
      order.push(typeof b === 'string' ? b : `port ${b.s}`);
      if (order.length === 7) done.resolve();
    },
    frame: (bytes) => {
      order.push(`ring ${bytes[0]}`);
      if (order.length === 7) done.resolve();
    },
    failed: (e) => t.fail(String(e)),
  });
  const port = (q: number, ring?: SharedArrayBuffer): WireBatch => (ring ? { $b: 1, s: String(q), q, ring } : { $b: 1, s: String(q), q });
  link.fromPort('before'); // unnumbered batches (before the ring) go straight through
  // 2 and 4 are in the ring before 1 (which brings the ring) and 3 arrive by port; 5 overtakes 3.
  t.true(w.write(2, Uint8Array.of(2), 1));
  t.true(w.write(4, Uint8Array.of(4), 1));
  link.fromPort(port(5));
  link.fromPort(port(1, sab));
  link.fromPort(port(3));
  t.true(w.write(6, Uint8Array.of(6), 1));
  await done.promise;
  t.deepEqual(order, ['before', 'port 1', 'ring 2', 'port 3', 'ring 4', 'port 5', 'ring 6']);
  link.close();
});

test('across workers, every item arrives once and in order through ring, port and overflow', async (t) => {
  const { system } = makeSystem(t);
  const sink = system.spawn(orderSink, 'sink', { placement: { worker: 'rb' }, mailbox: { capacity: 100_000 } });
  const src = system.spawn(mixer, 'mixer', { placement: { worker: 'ra' } });
  const n = 30_000;
  const report = await src.ask<{ count: number; outOfOrder: number; extrasIntact: boolean }>((replyTo) => ({ type: 'mix', target: sink, n, replyTo }), { timeoutMs: 60_000 });
  t.deepEqual(report, { count: n, outOfOrder: 0, extrasIntact: true });
});
