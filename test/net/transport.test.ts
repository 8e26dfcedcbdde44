// mTLS links between real transports on loopback: exchange, identity, refusals.
import test from 'ava';
import { NodeTransport } from '../../runtime/net/node-transport.ts';
import { loadClientCredentials } from '../../runtime/net/pki.ts';
import { allUp, closed, frame, makePki, mesh, rawTls, startNode, validateMsg } from './transport-fixture.ts';
import type { Pki } from './transport-fixture.ts';
import fs from 'node:fs';

let pki: Pki;
let foreign: Pki;
test.before(async () => {
  pki = await makePki(['a', 'b', 'c']);
  foreign = await makePki(['a', 'b', 'c']);
});
test.after.always(() => {
  for (const p of [pki, foreign]) if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

test('two transports connect over mTLS and exchange frames both ways', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'));
  const b = await startNode(t, 'b', pki.creds('b'));
  mesh([a, b]);
  await allUp([a, b]);
  t.true(a.t.send('b', { n: 1, s: 'a->b' }));
  t.true(b.t.send('a', { n: 2, s: 'b->a' }));
  for (let i = 0; i < 100; i++) a.t.send('b', { n: 100 + i });
  await b.inbox.count(101);
  await a.inbox.count(1);
  t.deepEqual(b.inbox.items[0], { from: 'a', frame: { n: 1, s: 'a->b' } });
  t.deepEqual(a.inbox.items[0], { from: 'b', frame: { n: 2, s: 'b->a' } });
  t.deepEqual(b.inbox.items.slice(1).map((x) => x.frame.n), Array.from({ length: 100 }, (_, i) => 100 + i), 'in order');
  const sa = a.t.stats().peers.b!;
  const sb = b.t.stats().peers.a!;
  t.like(sa, { role: 'dialer', connected: true, connects: 1, reconnects: 0, framesOut: 101, framesIn: 1, rejected: 0 });
  t.like(sb, { role: 'acceptor', connected: true, connects: 1, framesOut: 1, framesIn: 101, rejected: 0 });
  t.false(a.t.send('nobody', { n: 0 }), 'unknown peer');
});

test('three transports form a full mesh (lower name dials)', async (t) => {
  const nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(t, n, pki.creds(n))));
  mesh(nodes);
  await allUp(nodes);
  for (const x of nodes) for (const y of nodes) if (x !== y) x.t.send(y.name, { n: x.name.charCodeAt(0) * 1000 + y.name.charCodeAt(0) });
  await Promise.all(nodes.map((x) => x.inbox.count(2)));
  for (const x of nodes) {
    t.deepEqual(x.inbox.items.map((i) => i.from).sort(), nodes.filter((y) => y !== x).map((y) => y.name));
    for (const i of x.inbox.items) t.is(i.frame.n, i.from.charCodeAt(0) * 1000 + x.name.charCodeAt(0), 'sender identity matches');
  }
  const [a, b, c] = nodes;
  t.is(a!.t.stats().peers.b!.role, 'dialer');
  t.is(a!.t.stats().peers.c!.role, 'dialer');
  t.is(b!.t.stats().peers.a!.role, 'acceptor');
  t.is(b!.t.stats().peers.c!.role, 'dialer');
  t.is(c!.t.stats().peers.a!.role, 'acceptor');
  t.is(c!.t.stats().peers.b!.role, 'acceptor');
});

test('a node with a certificate from another CA is refused (inbound)', async (t) => {
  const b = await startNode(t, 'b', pki.creds('b'));
  // Impostor "a": trusts our CA (so it accepts b) but presents a foreign certificate.
  const impostor = await startNode(t, 'a', { ...foreign.creds('a'), ca: pki.creds('a').ca });
  b.t.addPeer('a', impostor.addr);
  impostor.t.addPeer('b', b.addr);
  impostor.t.send('b', { n: 666 });
  const line = await b.log.waitFor((l) => l.msg === 'refused inbound connection: TLS handshake failed');
  t.regex(String(line.fields?.reason), /certificate|verify|unknown ca|signature/i);
  t.true(b.t.stats().refused >= 1);
  t.is(b.inbox.items.length, 0, 'no frame delivered');
  t.false(b.t.isConnected('a'));
  t.false(impostor.t.isConnected('b'));
  t.is(impostor.t.stats().peers.b!.framesOut, 0);
});

test('a node refuses a peer server with a certificate from another CA (outbound)', async (t) => {
  const fakeB = await startNode(t, 'b', foreign.creds('b'));
  const a = await startNode(t, 'a', pki.creds('a'));
  a.t.addPeer('b', fakeB.addr);
  fakeB.t.addPeer('a', a.addr);
  a.t.send('b', { n: 1 });
  const line = await a.log.waitFor((l) => l.msg === 'connection to peer failed' && l.fields?.peer === 'b');
  t.regex(String(line.fields?.error), /self-signed|certificate/i);
  t.false(a.t.isConnected('b'));
  t.is(fakeB.inbox.items.length, 0);
  t.is(a.t.stats().peers.b!.buffered, 1, 'frame kept for a real b');
});

test('a valid certificate claiming another name is refused', async (t) => {
  const c = await startNode(t, 'c', pki.creds('c'));
  c.t.addPeer('a', { host: '127.0.0.1', port: 1 });
  c.t.addPeer('b', { host: '127.0.0.1', port: 1 });
  // b's genuine certificate, but the hello says "a".
  const s = await rawTls(c.addr.port, pki.creds('b'));
  s.write(frame('hello', { v: 2, from: 'a', to: 'c' }));
  s.write(frame('frame', { p: { n: 1 } }));
  await closed(s);
  const line = await c.log.waitFor((l) => l.msg === 'refused inbound connection' && /claims to be a/.test(String(l.fields?.reason)));
  t.is(line.fields?.reason, 'peer claims to be a but its certificate says b');
  t.is(c.inbox.items.length, 0);
  t.false(c.t.isConnected('a'));
  t.false(c.t.isConnected('b'));

  // hello addressed to another node
  const s2 = await rawTls(c.addr.port, pki.creds('b'));
  s2.write(frame('hello', { v: 2, from: 'b', to: 'z' }));
  await closed(s2);
  await c.log.waitFor((l) => /hello addressed to z/.test(String(l.fields?.reason)));

  // a transport configured as "a" with b's credentials cannot even be built
  t.throws(() => new NodeTransport({ self: 'a', listen: { host: '127.0.0.1', port: 0 }, creds: pki.creds('b'), validate: validateMsg, onFrame() {} }), {
    message: /certificate is for CN=b/,
  });
});

test('dialing an address where another node answers is refused by the dialer', async (t) => {
  const c = await startNode(t, 'c', pki.creds('c'));
  const a = await startNode(t, 'a', pki.creds('a'));
  a.t.addPeer('b', c.addr); // wrong: c listens there
  const line = await a.log.waitFor((l) => l.msg === 'connection to peer failed' && /presented a certificate for CN=c/.test(String(l.fields?.error)));
  t.truthy(line);
  t.false(a.t.isConnected('b'));
});

test('client (CLI) certificates and unknown or wrong-direction peers are refused', async (t) => {
  const b = await startNode(t, 'b', pki.creds('b'));
  b.t.addPeer('a', { host: '127.0.0.1', port: 1 });
  b.t.addPeer('c', { host: '127.0.0.1', port: 1 });
  const cli = loadClientCredentials(pki.dir, 'cli');
  const s1 = await rawTls(b.addr.port, cli);
  await closed(s1);
  await b.log.waitFor((l) => /is not a node certificate/.test(String(l.fields?.reason)));
  // c > b: b dials c, so c must not dial b
  const s2 = await rawTls(b.addr.port, pki.creds('c'));
  await closed(s2);
  await b.log.waitFor((l) => /peer c must not dial b/.test(String(l.fields?.reason)));
  b.t.removePeer('a');
  const s3 = await rawTls(b.addr.port, pki.creds('a'));
  await closed(s3);
  await b.log.waitFor((l) => /unknown peer a/.test(String(l.fields?.reason)));
  t.is(b.inbox.items.length, 0);
  t.true(b.t.stats().refused >= 3);
});

test('listen failure rejects start() with a clear error and leaks nothing', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'));
  const clash = new NodeTransport({ self: 'b', listen: { host: '127.0.0.1', port: a.addr.port }, creds: pki.creds('b'), validate: validateMsg, onFrame() {} });
  await t.throwsAsync(clash.start(), { message: new RegExp(`cannot listen on 127.0.0.1:${a.addr.port}: .*EADDRINUSE`) });
  await t.throwsAsync(clash.start(), { message: /cannot start after stop/ });
  await clash.stop();
});

test('removePeer closes the link and later connections from it are refused', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'));
  const b = await startNode(t, 'b', pki.creds('b'));
  mesh([a, b]);
  await allUp([a, b]);
  const down = a.peers.next('b', false);
  b.t.removePeer('a');
  await down;
  await b.log.waitFor((l) => /unknown peer a/.test(String(l.fields?.reason)));
  t.false(b.t.send('a', { n: 1 }));
  t.deepEqual(b.t.peers(), []);
  // re-adding brings the link back (a has kept dialing with backoff)
  b.t.addPeer('a', a.addr);
  await a.peers.wait('b', true);
  b.t.send('a', { n: 2 });
  await a.inbox.count(1);
  t.is(a.inbox.items[0]!.frame.n, 2);
});
