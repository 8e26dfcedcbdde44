// Hostile input and failures: garbage on the listening socket, frames failing
// validation, peer restarts with backoff, bounded buffering.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import { backoffDelay } from '../../runtime/net/backoff.ts';
import { allUp, closed, frame, makePki, mesh, rawTls, startNode } from './transport-fixture.ts';
import type { Node, Pki } from './transport-fixture.ts';
import { withTimeout } from './helpers.ts';

let pki: Pki;
let foreign: Pki;
test.before(async () => {
  pki = await makePki(['a', 'b', 'c']);
  foreign = await makePki(['a']);
});
test.after.always(() => {
  for (const p of [pki, foreign]) if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

/** Frames still flow on an established link, and it did not reconnect. */
async function linkIntact(t: import('ava').ExecutionContext, x: Node, y: Node, n: number): Promise<void> {
  const before = y.inbox.items.length;
  t.true(x.t.send(y.name, { n }));
  await y.inbox.count(before + 1);
  t.is(y.inbox.items.at(-1)!.frame.n, n);
  t.is(x.t.stats().peers[y.name]!.connects, 1, `${x.name}->${y.name} never dropped`);
}

test('garbage bytes on the listening socket leave the node and other links unaffected', async (t) => {
  const nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(t, n, pki.creds(n), { maxFrameBytes: 64 * 1024 })));
  mesh(nodes);
  await allUp(nodes);
  const [a, b, c] = nodes as [Node, Node, Node];
  const port = c.addr.port;

  // 1. plain TCP, no TLS at all
  const raw = net.connect({ host: '127.0.0.1', port });
  await withTimeout(new Promise((r) => raw.once('connect', r)), 5000, 'tcp connect');
  raw.write(Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0x0c, 0x0c]));
  raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await closed(raw);

  // 2. TLS without a client certificate
  const noCert = await rawTls(port, undefined, pki.creds('a').ca).catch((e: Error) => e);
  if (!(noCert instanceof Error)) {
    noCert.write('junk\f');
    await closed(noCert);
  }

  // 3. valid certificate (a may dial c), then junk: binary, invalid JSON, wrong envelope, unknown event, oversized
  const junk: (string | Buffer)[] = [
    Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0x0c]),
    '{"type":"hello","data":\f',
    '[1,2,3]\f',
    frame('subscribe', { x: 1 }),
    frame('constructor', {}),
    frame('frame', { p: { n: 1 } }), // frame before hello
    frame('hello', { v: 1, from: 'a', to: 'c' }),
    'x'.repeat(100 * 1024), // larger than maxFrameBytes, no delimiter
  ];
  for (const j of junk) {
    const s = await rawTls(port, pki.creds('a'));
    s.write(j);
    await closed(s);
  }
  // 4. certificate from another CA
  const alien = await rawTls(port, foreign.creds('a'), pki.creds('a').ca).catch((e: Error) => e);
  if (!(alien instanceof Error)) {
    alien.write(frame('hello', { v: 2, from: 'a', to: 'c' }));
    await closed(alien);
  }

  t.is(c.inbox.items.length, 0, 'nothing delivered from garbage');
  const warned = c.log.lines.filter((l) => l.level === 'warn').map((l) => String(l.fields?.reason));
  t.true(warned.some((r) => /ERR_IPC_INVALID_JSON/.test(r)), 'invalid JSON logged');
  t.true(warned.some((r) => /ERR_IPC_EVENT_NOT_ALLOWED/.test(r)), 'unknown event logged');
  t.true(warned.some((r) => /ERR_IPC_FRAME_TOO_LARGE/.test(r)), 'oversized frame logged');
  t.true(warned.some((r) => /frame before hello/.test(r)));
  t.true(warned.some((r) => /malformed hello/.test(r)));
  t.true(c.t.stats().refused >= junk.length);

  // Every established link still works, none reconnected.
  await linkIntact(t, a, c, 11);
  await linkIntact(t, c, a, 12);
  await linkIntact(t, b, c, 13);
  await linkIntact(t, a, b, 14);
  t.is(c.t.stats().peers.a!.rejected, 0, 'the genuine a link is not blamed');
});

test('a frame failing the validator closes only that connection; the dialer reconnects', async (t) => {
  const nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(t, n, pki.creds(n))));
  mesh(nodes);
  await allUp(nodes);
  const [a, b, c] = nodes as [Node, Node, Node];
  const down = b.peers.next('a', false);
  const upAgain = a.peers.next('b', true);
  t.true(a.t.send('b', { n: 'not a number' } as unknown as { n: number }));
  await down;
  const line = await b.log.waitFor((l) => l.msg === 'closing connection to peer' && l.fields?.peer === 'a');
  t.regex(String(line.fields?.reason), /^invalid frame: /);
  t.is(b.t.stats().peers.a!.rejected, 1);
  t.is(b.inbox.items.length, 0);
  await upAgain;
  t.is(a.t.stats().peers.b!.reconnects, 1);
  await linkIntact(t, b, c, 1);
  await linkIntact(t, c, b, 2);
  await linkIntact(t, a, c, 3);
  a.t.send('b', { n: 4 });
  await b.inbox.until(() => b.inbox.items.some((x) => x.from === 'a'));
  t.deepEqual(b.inbox.items.filter((x) => x.from === 'a'), [{ from: 'a', frame: { n: 4 } }]);

  // the other direction: the acceptor sends garbage, the dialer closes and redials
  const down2 = a.peers.next('b', false);
  const up2 = a.peers.next('b', true);
  b.t.send('a', { n: 1, extra: true } as unknown as { n: number });
  await down2;
  await up2;
  t.is(a.t.stats().peers.b!.rejected, 1);
  t.is(a.t.stats().peers.b!.reconnects, 2);
});

test('an acceptor restart: reconnect with backoff, buffered frames delivered, bounded buffer', async (t) => {
  const policy = { baseMs: 20, maxMs: 160, factor: 2, jitter: 0.5 };
  const a = await startNode(t, 'a', pki.creds('a'), { rng: { next: () => 0.5 }, backoff: policy, stableMs: 0, maxBufferedFrames: 4 });
  const b = await startNode(t, 'b', pki.creds('b'));
  mesh([a, b]);
  await allUp([a, b]);
  const port = b.addr.port;
  const down = a.peers.next('b', false);
  await b.t.stop();
  await down;
  for (let i = 1; i <= 6; i++) t.true(a.t.send('b', { n: i }));
  t.like(a.t.stats().peers.b!, { connected: false, buffered: 4, dropped: 2 });
  // Let a few dials fail against the closed port, then bring b back.
  await a.log.waitFor((l) => l.msg === 'reconnecting to peer' && l.fields?.attempt === 4, 5000, 'four reconnect attempts');
  const b2 = await startNode(t, 'b', pki.creds('b'), { listen: { host: '127.0.0.1', port } });
  b2.t.addPeer('a', a.addr);
  await b2.inbox.count(4);
  t.deepEqual(b2.inbox.items.map((x) => x.frame.n), [3, 4, 5, 6], 'oldest dropped, rest in order');
  const s = a.t.stats().peers.b!;
  t.like(s, { connected: true, reconnects: 1, buffered: 0, dropped: 2 });
  t.true(s.dials >= 5);
  const delays = a.log.lines.filter((l) => l.msg === 'reconnecting to peer').map((l) => l.fields?.delayMs);
  const expected = delays.map((_, i) => backoffDelay(i, policy, 0.5));
  t.deepEqual(delays, expected, 'delays follow the backoff policy');
  t.true(delays.length >= 4);
  t.deepEqual(expected.slice(0, 4), [15, 30, 60, 120]);
  t.is(backoffDelay(4, policy, 0.5), 120, 'capped');
});

test('a dialer restart: the acceptor buffers until the dialer is back', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'));
  const b = await startNode(t, 'b', pki.creds('b'));
  mesh([a, b]);
  await allUp([a, b]);
  const down = b.peers.next('a', false);
  await a.t.stop();
  await down;
  b.t.send('a', { n: 1 });
  b.t.send('a', { n: 2 });
  t.is(b.t.stats().peers.a!.buffered, 2);
  const a2 = await startNode(t, 'a', pki.creds('a'));
  a2.t.addPeer('b', b.addr);
  await a2.inbox.count(2);
  t.deepEqual(a2.inbox.items.map((x) => x.frame.n), [1, 2]);
  t.is(b.t.stats().peers.a!.reconnects, 1);
});

test('a throwing onFrame or validator does not take the node down', async (t) => {
  let calls = 0;
  const a = await startNode(t, 'a', pki.creds('a'));
  const b = await startNode(t, 'b', pki.creds('b'), {
    onFrame: () => {
      calls++;
      throw new Error('application bug');
    },
  });
  mesh([a, b]);
  await allUp([a, b]);
  a.t.send('b', { n: 1 });
  a.t.send('b', { n: 2 });
  await b.log.waitFor((l) => l.msg === 'onFrame threw' && calls === 2);
  t.true(b.t.isConnected('a'));
  const c = await startNode(t, 'c', pki.creds('c'), {
    validate: () => {
      throw new Error('validator bug');
    },
  });
  c.t.addPeer('a', a.addr);
  a.t.addPeer('c', c.addr);
  await a.peers.wait('c', true);
  a.t.send('c', { n: 1 });
  const l = await c.log.waitFor((x) => x.msg === 'closing connection to peer');
  t.regex(String(l.fields?.reason), /validator threw: validator bug/);
});

test('oversized or unserialisable frames are refused at send', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'), { maxFrameBytes: 1024 });
  const b = await startNode(t, 'b', pki.creds('b'), { maxFrameBytes: 1024 });
  mesh([a, b]);
  await allUp([a, b]);
  t.false(a.t.send('b', { n: 1, s: 'x'.repeat(2000) }));
  t.false(a.t.send('b', { n: 1, s: 10n } as unknown as { n: number }));
  t.is(a.t.stats().peers.b!.sendErrors, 2);
  t.true(a.t.send('b', { n: 2 }));
  await b.inbox.count(1);
  t.is(b.inbox.items[0]!.frame.n, 2);
  t.true(a.t.isConnected('b'));
});
