// Idle and hostile connections must not lock a listener out: unauthenticated
// connections are closed by a handshake deadline, at most limit − reserve are
// held at once (the oldest gives way to a newer one), authenticated clients
// still get through, and repeated refusals are logged as one line per burst.
import test from 'ava';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { LocalApiServer, LocalClient, callLocal, localSocketPath } from '../../runtime/net/local-api.ts';
import type { LocalApiServerOptions } from '../../runtime/net/local-api.ts';
import fs from 'node:fs';
import { closed, makePki, rawTls, startNode } from './transport-fixture.ts';
import type { Pki } from './transport-fixture.ts';
import { MemLog, tempDir, withTimeout } from './helpers.ts';
import type { LogLine } from './helpers.ts';

/** N raw connections that send nothing (or `hello`), with event-driven waits on their closes. */
class Crowd {
  sockets: net.Socket[] = [];
  received: string[] = [];
  closedCount = 0;
  #waiters: { n: number; resolve: () => void }[] = [];

  constructor(n: number, connect: () => net.Socket, hello?: string) {
    for (let i = 0; i < n; i++) {
      const s = connect();
      const idx = i;
      this.received.push('');
      s.setEncoding('utf8');
      s.on('data', (d: string) => (this.received[idx] += d));
      s.on('error', () => {});
      if (hello !== undefined) s.once('connect', () => s.write(hello));
      s.once('close', () => {
        this.closedCount++;
        this.#waiters = this.#waiters.filter((w) => {
          if (this.closedCount < w.n) return true;
          w.resolve();
          return false;
        });
      });
      this.sockets.push(s);
    }
  }

  /** Resolves once `n` of the connections have been closed (by the server). */
  closed(n: number, timeoutMs: number, label: string): Promise<void> {
    if (this.closedCount >= n) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.#waiters.push({ n, resolve })), timeoutMs, `${label} (${n} closed)`);
  }

  destroy(): void {
    for (const s of this.sockets) s.destroy();
  }
}

async function apiServer(t: import('ava').ExecutionContext, extra: Partial<LocalApiServerOptions> = {}) {
  const dir = path.join(tempDir(t, 'acp-lim-'), 'sock');
  const key = crypto.randomBytes(32).toString('hex');
  const log = new MemLog(process.env.NET_TEST_ECHO === '1');
  const server = new LocalApiServer({ dir, apiKey: key, log, handlers: { status: () => ({ up: true }) }, ...extra });
  t.teardown(() => server.stop());
  await server.start();
  return { dir, key, log, server };
}

const reqFrame = (key: string, id = 1) => JSON.stringify({ type: 'req', data: { id, key, method: 'status' } }) + '\f';

test('control socket: 200 idle connections (limit 64) do not lock out an authenticated client, and the deadline closes them', async (t) => {
  const { dir, key, server } = await apiServer(t, { maxConnections: 64, handshakeTimeoutMs: 3000 });
  const crowd = new Crowd(200, () => net.connect({ path: localSocketPath(dir) }));
  t.teardown(() => crowd.destroy());
  // 64 − 16 reserved = 48 unauthenticated slots: the 152 oldest give way to newer ones.
  await crowd.closed(152, 10_000, 'the oldest idle connections to give way');
  t.like(server.stats(), { limit: 64, reserve: 16, unauthenticated: 48, authenticated: 0, refusedByReason: { evicted: 152 } });

  // While the 48 are held, an authenticated client gets through.
  t.deepEqual(await callLocal(dir, 'status', {}, { apiKey: key, timeoutMs: 2000 }), { up: true });
  t.is(server.stats().unauthenticated, 47, 'the idle connections were still held during the call (one gave way to it)');

  // The deadline closes the rest.
  await crowd.closed(200, 15_000, 'the handshake deadline to close every idle connection');
  const s = server.stats();
  t.like(s, { open: 0, unauthenticated: 0, accepted: 201, refusedTotal: 200, handshakeTimeouts: 47, refusedByReason: { evicted: 153, handshakeTimeout: 47, full: 0, auth: 0, protocol: 0 } });
  // The idle clients were told why.
  const told = crowd.received.map((r) => (r ? JSON.parse(r.split('\f')[0]!).data.error.code : null));
  t.is(told.filter((c) => c === 'EBUSY').length, 153);
  t.is(told.filter((c) => c === 'ETIMEDOUT').length, 47);
});

test('control socket: all slots authenticated: a new connection is refused with EBUSY, and reserved slots stay for authenticated clients', async (t) => {
  const { dir, key, server } = await apiServer(t, { maxConnections: 4, reservedConnections: 2, handshakeTimeoutMs: 3000 });
  // Four authenticated clients hold every slot.
  const held: LocalClient[] = [];
  t.teardown(() => held.forEach((c) => c.close()));
  for (let i = 0; i < 4; i++) {
    const c = await LocalClient.connect(dir, { apiKey: key, timeoutMs: 2000 });
    held.push(c);
    t.deepEqual(await c.call('status'), { up: true });
  }
  t.like(server.stats(), { open: 4, authenticated: 4, unauthenticated: 0 });
  await t.throwsAsync(callLocal(dir, 'status', {}, { apiKey: key, timeoutMs: 2000 }), { code: 'EBUSY', message: /at its limit of 4 connections/ } as never);
  t.is(server.stats().refusedByReason.full, 1);
  for (const c of held) c.close();
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (server.stats().open === 0 ? resolve() : setTimeout(check, 5));
      check();
    }),
    5000,
    'held clients gone',
  );
  // Two idle strangers can take only limit − reserve = 2 slots; the authenticated client still gets in.
  const idle = new Crowd(3, () => net.connect({ path: localSocketPath(dir) }));
  t.teardown(() => idle.destroy());
  await idle.closed(1, 5000, 'the oldest stranger to give way');
  t.deepEqual(await callLocal(dir, 'status', {}, { apiKey: key, timeoutMs: 2000 }), { up: true });
});

test('control socket: 200 refused handshakes write a handful of lines: the first at once, then one summary with the count', async (t) => {
  const { dir, key, log, server } = await apiServer(t);
  const isRefusal = (l: LogLine) => l.msg === 'control socket: refused handshake' || l.fields?.kind === 'control socket: refused handshake';
  const wrong = crypto.randomBytes(32).toString('hex');
  const first = new Crowd(1, () => net.connect({ path: localSocketPath(dir) }), reqFrame(wrong));
  await first.closed(1, 5000, 'the first refused handshake');
  t.is(log.lines.filter(isRefusal).length, 1, 'the first refusal is logged at once');
  t.like(log.lines.find(isRefusal)!.fields, { reason: 'API key rejected', source: 'local client' });
  const crowd = new Crowd(199, () => net.connect({ path: localSocketPath(dir) }), reqFrame(wrong));
  t.teardown(() => crowd.destroy());
  await crowd.closed(199, 10_000, 'every wrong key to be refused');
  t.is(crowd.received.filter((r) => r.includes('"EAUTH"')).length, 199, 'every client was told');
  t.is(server.stats().refusedByReason.auth, 200);
  const counted = () =>
    log.lines.filter((l) => isRefusal(l) && l.fields?.summary === true).reduce((n, l) => n + Number(l.fields?.count ?? 0), 0);
  // The summaries (one per window, normally just one) account for all 200.
  await log.waitFor(() => counted() >= 200, 10_000, 'summaries counting 200 refusals');
  const lines = log.lines.filter(isRefusal);
  t.true(lines.length <= 4, `${lines.length} lines for 200 refusals`);
  t.is(counted(), 200);
  t.regex(lines[1]!.msg, /^control socket: refused handshake from local client: API key rejected ×\d+ in \d+(\.\d)? m?s$/);
  t.false(log.text().includes(key) || log.text().includes(wrong), 'keys never logged');
});

let pki: Pki;
test.before(async () => {
  pki = await makePki(['a', 'b']);
});
test.after.always(() => {
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

test('TLS peer port: 200 idle connections (limit 64) do not keep a peer out, and the deadline closes them', async (t) => {
  const a = await startNode(t, 'a', pki.creds('a'));
  const b = await startNode(t, 'b', pki.creds('b'), { maxConnections: 64, handshakeTimeoutMs: 3000 });
  b.t.addPeer('a', a.addr); // b accepts a; a dials only once told about b, below
  const crowd = new Crowd(200, () => net.connect({ host: '127.0.0.1', port: b.addr.port }));
  t.teardown(() => crowd.destroy());
  await crowd.closed(152, 10_000, 'the oldest idle connections to give way');
  t.like(b.t.stats().listener, { limit: 64, reserve: 16, unauthenticated: 48, refusedByReason: { evicted: 152 } });
  // Two more that complete TLS with a valid node certificate and then send no hello.
  const silent = [await rawTls(b.addr.port, pki.creds('a')), await rawTls(b.addr.port, pki.creds('a'))];
  t.teardown(() => silent.forEach((s) => s.destroy()));
  await crowd.closed(154, 5000, 'two more to give way');

  // While the 48 are held, the real peer gets through.
  a.t.addPeer('b', b.addr);
  await a.peers.wait('b', true, 10_000);
  t.like(b.t.stats().listener, { authenticated: 1, unauthenticated: 47 }, 'the idle connections were still held when the link came up');
  a.t.send('b', { n: 1 });
  b.t.send('a', { n: 2 });
  await b.inbox.count(1);
  await a.inbox.count(1);

  // The deadline closes the rest; the link stays.
  await crowd.closed(200, 15_000, 'the handshake deadline to close every idle connection');
  await Promise.all(silent.map((s) => closed(s, 15_000)));
  t.like(b.t.stats().listener, {
    open: 1,
    authenticated: 1,
    unauthenticated: 0,
    refusedTotal: 202,
    handshakeTimeouts: 47,
    refusedByReason: { evicted: 155, handshakeTimeout: 47, full: 0, auth: 0, protocol: 0 },
  });
  t.is(b.t.stats().refused, 202);
  t.true(b.t.isConnected('a'));
  const refusals = b.log.lines.filter((l) => l.msg === 'refused inbound connection' || l.fields?.kind === 'refused inbound connection');
  t.true(refusals.length <= 6, `${refusals.length} log lines for 202 refusals`);
});
