// Local control socket: permissions, API key, validation, timeouts, streams.
import test from 'ava';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { LocalApiError, LocalApiServer, LocalClient, callLocal, localSocketPath, method, streamMethod, subscribeLocal } from '../../runtime/net/local-api.ts';
import { MemLog, tempDir, waitUntil, withTimeout } from './helpers.ts';

interface Fixture {
  dir: string;
  key: string;
  server: LocalApiServer;
  log: MemLog;
  clientLog: MemLog;
  ticks: EventEmitter;
  teardowns: { n: number };
  hung: { n: number };
}

async function setup(t: import('ava').ExecutionContext): Promise<Fixture> {
  const dir = path.join(tempDir(t, 'acp-api-'), 'sock');
  const key = crypto.randomBytes(32).toString('hex');
  const log = new MemLog(process.env.NET_TEST_ECHO === '1');
  const clientLog = new MemLog();
  const ticks = new EventEmitter();
  const teardowns = { n: 0 };
  const hung = { n: 0 };
  const server = new LocalApiServer({
    dir,
    apiKey: key,
    log,
    handlers: {
      echo: method(z.strictObject({ text: z.string() }), async (p) => ({ echoed: p.text })),
      status: () => ({ node: 'a', up: true }),
      hang: (_p, ctx) =>
        new Promise((resolve) => {
          hung.n++;
          ctx.signal.addEventListener('abort', () => resolve('aborted'));
        }),
      boom: () => {
        throw new Error('boom');
      },
      coded: () => {
        throw new LocalApiError('ENOTLEADER', 'not the leader; try b');
      },
    },
    streams: {
      ticks: streamMethod(z.strictObject({ every: z.number().int().positive() }).optional(), (_p, sink) => {
        const on = (n: number) => {
          if (n < 0) sink.end();
          else if (n === 999) sink.end({ code: 'EFAIL', message: 'stream failed' });
          else sink.next({ tick: n });
        };
        ticks.on('tick', on);
        return () => {
          teardowns.n++;
          ticks.off('tick', on);
        };
      }),
    },
  });
  t.teardown(() => server.stop());
  await server.start();
  return { dir, key, server, log, clientLog, ticks, teardowns, hung };
}

test('calls work; socket directory 0700 and socket 0600, owned by us', async (t) => {
  const f = await setup(t);
  t.deepEqual(await callLocal(f.dir, 'echo', { text: 'hi' }, { apiKey: f.key }), { echoed: 'hi' });
  t.deepEqual(await callLocal(f.dir, 'status', {}, { apiKey: f.key }), { node: 'a', up: true });
  const d = fs.statSync(f.dir);
  const s = fs.lstatSync(localSocketPath(f.dir));
  t.is(d.mode & 0o777, 0o700);
  t.true(s.isSocket());
  t.is(s.mode & 0o777, 0o600);
  if (process.getuid) t.is(s.uid, process.getuid());
});

test('a loose existing directory is tightened by the server; a loose one is refused by the client', async (t) => {
  const dir = path.join(tempDir(t, 'acp-api-'), 'sock');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const key = crypto.randomBytes(32).toString('hex');
  const server = new LocalApiServer({ dir, apiKey: key, handlers: { ping: () => 'pong' } });
  t.teardown(() => server.stop());
  await server.start();
  t.is(fs.statSync(dir).mode & 0o777, 0o700);
  t.is(await callLocal(dir, 'ping', undefined, { apiKey: key }), 'pong');
  fs.chmodSync(dir, 0o750);
  await t.throwsAsync(callLocal(dir, 'ping', undefined, { apiKey: key }), { instanceOf: LocalApiError, message: /lets other users in/ });
});

test('wrong API key is rejected; keys never appear in logs', async (t) => {
  const f = await setup(t);
  const wrong = crypto.randomBytes(32).toString('hex');
  const err = await t.throwsAsync(callLocal(f.dir, 'status', {}, { apiKey: wrong, log: f.clientLog }), { instanceOf: LocalApiError });
  t.is(err?.code, 'EAUTH');
  t.is(err?.message, 'API key rejected');
  await t.throwsAsync(callLocal(f.dir, 'status', {}, { apiKey: '', log: f.clientLog }), { message: 'API key rejected' });
  await callLocal(f.dir, 'echo', { text: 'x' }, { apiKey: f.key, log: f.clientLog });
  t.truthy(f.log.find((l) => l.msg === 'control socket: refused handshake' && l.fields?.reason === 'API key rejected'));
  const all = f.log.text() + f.clientLog.text();
  t.false(all.includes(f.key), 'the real key is not logged');
  t.false(all.includes(wrong), 'the presented key is not logged');
});

test('no node running: clear error', async (t) => {
  const dir = tempDir(t, 'acp-api-');
  fs.chmodSync(dir, 0o700);
  await t.throwsAsync(callLocal(dir, 'status', {}, { apiKey: 'k'.repeat(32) }), { code: 'ENOTRUNNING', message: `no node running in ${dir}` } as never);
  await t.throwsAsync(callLocal(path.join(dir, 'missing'), 'status', {}, { apiKey: 'k'.repeat(32) }), { message: /no node running in .*missing/ });
  const f = await setup(t);
  await f.server.stop();
  await t.throwsAsync(callLocal(f.dir, 'status', {}, { apiKey: f.key }), { message: `no node running in ${f.dir}` });
});

test('requests time out when the handler hangs', async (t) => {
  const f = await setup(t);
  // Connect with a generous timeout (a loaded machine may take a while); the call's own is short.
  const client = await LocalClient.connect(f.dir, { apiKey: f.key, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const err = await t.throwsAsync(client.call('hang', {}, { timeoutMs: 300 }), { instanceOf: LocalApiError });
  t.is(err?.code, 'ETIMEDOUT');
  t.regex(err!.message, /hang: no answer .* within 300 ms/);
  await waitUntil(() => f.hung.n === 1, 10_000, 'the handler to have started');
  // the server is fine afterwards
  t.deepEqual(await callLocal(f.dir, 'echo', { text: 'still here' }, { apiKey: f.key }), { echoed: 'still here' });
});

test('client gets a prompt error when the server stops', async (t) => {
  const f = await setup(t);
  const client = await LocalClient.connect(f.dir, { apiKey: f.key, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  const pending = client.call('hang', {});
  await withTimeout(
    (async () => {
      while (f.hung.n === 0) await new Promise((r) => setImmediate(r));
    })(),
    5000,
    'handler started',
  );
  await f.server.stop();
  const err = await t.throwsAsync(pending, { instanceOf: LocalApiError });
  // EDISCONNECTED, not ETIMEDOUT: the client did not wait out its 20 s timeout.
  t.is(err?.code, 'EDISCONNECTED');
  await t.throwsAsync(client.call('status'), { code: 'EDISCONNECTED' } as never);
});

test('malformed requests get an error reply and do not kill the server', async (t) => {
  const f = await setup(t);
  const raw = net.connect({ path: localSocketPath(f.dir) });
  t.teardown(() => raw.destroy());
  await withTimeout(new Promise((r) => raw.once('connect', r)), 5000, 'connect');
  raw.setEncoding('utf8');
  let buf = '';
  const replies: unknown[] = [];
  raw.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\f')) >= 0) {
      replies.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const send = (type: string, data: unknown) => raw.write(JSON.stringify({ type, data }) + '\f');
  send('req', { id: 1, key: f.key }); // no method
  send('req', { id: 2, key: f.key, method: 'echo', params: { text: 5 } }); // bad params
  send('req', { id: 3, key: f.key, method: 'nope' });
  send('req', { id: 4, key: f.key, method: 'boom' });
  send('req', { id: 5, key: f.key, method: 'coded' });
  send('req', 'just a string');
  send('req', { id: 6, key: f.key, method: '../../etc', extra: 1 });
  send('req', { id: 7, key: f.key, method: 'toString' });
  send('req', { id: 8, key: f.key, method: '__proto__' });
  await withTimeout(
    (async () => {
      while (replies.length < 9) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    '9 replies',
  );
  const byId = new Map(replies.map((r) => [(r as { data: { id: number | null } }).data.id, (r as { data: unknown }).data]));
  t.like(byId.get(1), { ok: false, error: { code: 'EBADREQUEST' } });
  t.like(byId.get(2), { ok: false, error: { code: 'EBADREQUEST', message: 'invalid params: text: Invalid input: expected string, received number' } });
  t.like(byId.get(3), { ok: false, error: { code: 'ENOMETHOD', message: 'unknown method nope' } });
  t.deepEqual(byId.get(4), { id: 4, ok: false, error: { code: 'EINTERNAL', message: 'boom' } }, 'no stack trace');
  t.deepEqual(byId.get(5), { id: 5, ok: false, error: { code: 'ENOTLEADER', message: 'not the leader; try b' } });
  t.like(byId.get(null), { ok: false, error: { code: 'EBADREQUEST' } });
  t.like(byId.get(6), { ok: false, error: { code: 'EBADREQUEST' } });
  t.like(byId.get(7), { ok: false, error: { code: 'ENOMETHOD', message: 'unknown method toString' } });
  t.like(byId.get(8), { ok: false, error: { code: 'EBADREQUEST' } });
  t.false(JSON.stringify(replies).includes('    at '), 'no stack frames in replies');
  t.truthy(f.log.find((l) => l.level === 'error' && l.msg === 'control socket: handler failed'), 'stack kept in the server log');

  // Bytes node-ipc cannot parse close that connection only.
  const gone = new Promise((r) => raw.once('close', r));
  raw.write('this is not json\f');
  await withTimeout(gone, 5000, 'garbage connection closed');
  const big = net.connect({ path: localSocketPath(f.dir) });
  big.on('error', () => {});
  await withTimeout(new Promise((r) => big.once('connect', r)), 5000, 'connect');
  const bigGone = new Promise((r) => big.once('close', r));
  big.write('y'.repeat(2 * 1024 * 1024));
  await withTimeout(bigGone, 5000, 'oversized connection closed');
  t.deepEqual(await callLocal(f.dir, 'echo', { text: 'ok' }, { apiKey: f.key }), { echoed: 'ok' });
  t.false(f.log.text().includes(f.key));
});

test('subscribe streams events until the client closes', async (t) => {
  const f = await setup(t);
  const got: unknown[] = [];
  let wake: () => void = () => {};
  const sub = await subscribeLocal(f.dir, 'ticks', { every: 1 }, (e) => {
    got.push(e);
    wake();
  }, { apiKey: f.key });
  const waitGot = (n: number) =>
    withTimeout(
      new Promise<void>((r) => {
        wake = () => got.length >= n && r();
        wake();
      }),
      5000,
      `${n} events`,
    );
  f.ticks.emit('tick', 1);
  f.ticks.emit('tick', 2);
  await waitGot(2);
  t.deepEqual(got, [{ tick: 1 }, { tick: 2 }]);
  sub.close();
  await sub.done;
  await withTimeout(
    (async () => {
      while (f.teardowns.n === 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    'server-side teardown',
  );
  t.is(f.ticks.listenerCount('tick'), 0);

  // server ends the stream; and a failing stream
  const client = await LocalClient.connect(f.dir, { apiKey: f.key });
  t.teardown(() => client.close());
  const s1 = await client.subscribe('ticks', undefined, () => {});
  const s2 = await client.subscribe('ticks', undefined, () => {});
  f.ticks.emit('tick', -1); // ends both streams cleanly
  await s1.done;
  await s2.done;
  const s3 = await client.subscribe('ticks', undefined, () => {});
  f.ticks.emit('tick', 999);
  await t.throwsAsync(s3.done, { message: 'stream failed' });
  await t.throwsAsync(client.subscribe('nope', {}, () => {}), { code: 'ENOMETHOD' } as never);
  await t.throwsAsync(client.subscribe('ticks', { every: -1 }, () => {}), { code: 'EBADREQUEST' } as never);

  // server stops: the stream fails promptly
  const s4 = await client.subscribe('ticks', undefined, () => {});
  await f.server.stop();
  await t.throwsAsync(s4.done, { code: 'EDISCONNECTED' } as never);
});

test('a second server on a live socket directory is refused', async (t) => {
  const f = await setup(t);
  const again = new LocalApiServer({ dir: f.dir, apiKey: f.key, handlers: {} });
  await t.throwsAsync(again.start(), { message: /already running/ });
  t.deepEqual(await callLocal(f.dir, 'echo', { text: 'first' }, { apiKey: f.key }), { echoed: 'first' });
});
