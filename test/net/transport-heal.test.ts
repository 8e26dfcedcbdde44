// A partition that silently drops packets, then heals: both ends detect the
// dead link by heartbeats (TCP alone would not notice for minutes), the dialer
// keeps trying with short deadlines and a capped backoff, and frames flow
// again after the heal — buffered ones included. Waits are on events
// (peer state, frames received), each with a deadline; nothing is timed.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import { CutProxy } from './cut-proxy.ts';
import { waitUntil } from './helpers.ts';
import { allUp, makePki, startNode } from './transport-fixture.ts';
import type { Pki } from './transport-fixture.ts';

let pki: Pki;
test.before(async () => {
  pki = await makePki(['a', 'b']);
});
test.after.always(() => {
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

// Fast timings so the test needs no long waits; the defaults are 200 / 1000 / 500 / 3000 ms and a 250 ms backoff cap.
const fast = {
  heartbeatMs: 50,
  idleTimeoutMs: 400,
  connectTimeoutMs: 200,
  handshakeTimeoutMs: 300,
  backoff: { baseMs: 5, maxMs: 40, factor: 2, jitter: 0.5 },
};

test('after a partition heals, the link comes back and frames flow both ways, buffered ones first', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'), fast);
  const b = await startNode(t, 'b', pki.creds('b'), fast);
  const proxy = new CutProxy(b.addr);
  await proxy.start();
  t.teardown(() => proxy.stop());
  a.t.addPeer('b', proxy.address); // a dials b through the proxy
  b.t.addPeer('a', a.addr);
  await allUp([a, b]);
  a.t.send('b', { n: 1 });
  b.t.send('a', { n: 2 });
  await b.inbox.count(1);
  await a.inbox.count(1);

  // Cut. Nothing tells either side: only the missing heartbeats do.
  const aDown = a.peers.next('b', false, 5000);
  const bDown = b.peers.next('a', false, 5000);
  proxy.cut();
  await aDown;
  await bDown;
  t.regex(a.t.stats().peers.b!.lastError ?? '', /nothing received for over 400 ms/);
  // Sent while the link is down: buffered.
  t.true(a.t.send('b', { n: 10 }));
  t.true(b.t.send('a', { n: 20 }));
  // Stay cut for longer than the backoff cap: the dialer keeps trying, each attempt abandoned at its deadline.
  await proxy.attempts(3, 5000);
  t.false(a.t.isConnected('b'));
  t.true(a.t.stats().peers.b!.dialTimeouts >= 2);

  const aUp = a.peers.next('b', true, 5000);
  proxy.heal();
  await aUp;
  await b.inbox.until(() => b.inbox.items.some((x) => x.frame.n === 10), 5000, 'the frame a buffered during the cut');
  await a.inbox.until(() => a.inbox.items.some((x) => x.frame.n === 20), 5000, 'the frame b buffered during the cut');
  a.t.send('b', { n: 11 });
  b.t.send('a', { n: 21 });
  await b.inbox.until(() => b.inbox.items.some((x) => x.frame.n === 11), 5000, 'a new frame a -> b');
  await a.inbox.until(() => a.inbox.items.some((x) => x.frame.n === 21), 5000, 'a new frame b -> a');
  t.deepEqual(b.inbox.items.map((x) => x.frame.n), [1, 10, 11]);
  t.deepEqual(a.inbox.items.map((x) => x.frame.n), [2, 20, 21]);
  const sa = a.t.stats().peers.b!;
  const sb = b.t.stats().peers.a!;
  t.true(sa.idleTimeouts + sb.idleTimeouts >= 1, 'the dead link was found by the heartbeat');
  t.true(sa.reconnects >= 1 && sb.reconnects >= 1);
});

test('an idle link stays up: heartbeats keep it alive without frames', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'), fast);
  const b = await startNode(t, 'b', pki.creds('b'), fast);
  a.t.addPeer('b', b.addr);
  b.t.addPeer('a', a.addr);
  await allUp([a, b]);
  // 20 heartbeats each way span well over the 400 ms idle timeout, with no frame sent.
  await waitUntil(() => a.t.stats().peers.b!.pingsIn >= 20 && b.t.stats().peers.a!.pingsIn >= 20, 10_000, '20 heartbeats each way');
  t.deepEqual(a.peers.history, ['b:up'], 'the link never dropped');
  t.deepEqual(b.peers.history, ['a:up']);
  t.is(a.t.stats().peers.b!.idleTimeouts + b.t.stats().peers.a!.idleTimeouts, 0);
  a.t.send('b', { n: 1 });
  await b.inbox.count(1);
});

test('the reconnect delay never exceeds 500 ms, whatever backoff the caller asks for', async (t) => {
  // A port nobody listens on: every dial is refused at once.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const a = await startNode(t, 'a', pki.creds('a'), { backoff: { baseMs: 100, maxMs: 10_000, factor: 2, jitter: 0 } });
  a.t.addPeer('b', { host: '127.0.0.1', port });
  await a.log.waitFor((l) => l.msg === 'reconnecting to peer' && l.fields?.attempt === 5, 10_000, 'five reconnect attempts');
  const delays = a.log.lines.filter((l) => l.msg === 'reconnecting to peer').map((l) => l.fields?.delayMs);
  t.deepEqual(delays.slice(0, 5), [100, 200, 400, 500, 500]);
});
