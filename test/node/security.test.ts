// Security of a real cluster: a node whose certificate comes from another CA
// is refused (the cluster keeps working, the stranger never joins); a wrong
// API key is one clear line; the control socket is owner-only; and garbage on
// every listening socket leaves every node running and serving.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { initCluster, loadApiKey } from '../../runtime/net/pki.ts';
import { LocalClient, localSocketPath } from '../../runtime/net/local-api.ts';
import type { NodeStatus } from '../../actors/node/status.ts';
import { TestCluster, runCli, waitFor } from '../support/cluster.ts';

let c: TestCluster;
test.before(async (t) => {
  // n3 is held back: it first starts with a certificate from a foreign CA.
  c = await TestCluster.start({ hold: ['n3'], waitLeader: false }, t);
});
test.after.always(() => c?.stop());

const sys = (id: string) => ({ type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 16 } });

test.serial('a node with a certificate from another CA is refused and never joins; the cluster keeps working', async (t) => {
  const stranger = c.node('n3');
  const foreign = join(c.dir, 'pki-foreign');
  await initCluster(foreign, { nodes: ['n3'] });
  const cfgFile = stranger.config;
  const good = readFileSync(cfgFile, 'utf8');
  writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(good), pkiDir: foreign }), { mode: 0o600 });
  c.spawn('n3');

  // n1 and n2 are a majority: they elect, and writes commit, while the stranger knocks.
  const l = await c.waitLeader({ among: ['n1', 'n2'] });
  t.true(['n1', 'n2'].includes(l.leader));
  const w = await c.put('n1', sys('sec-1'));
  t.true(w.ok, w.message);

  // The stranger is up (it answers its own control socket, with its own CA's API key)…
  const key = loadApiKey(foreign);
  const strangerStatus = async (): Promise<NodeStatus | undefined> => {
    const cl = await LocalClient.connect(stranger.socketDir, { apiKey: key, timeoutMs: 3000 }).catch(() => undefined);
    if (!cl) return undefined;
    try {
      return (await cl.call('status', {}, { timeoutMs: 3000 })) as NodeStatus;
    } catch {
      return undefined;
    } finally {
      cl.close();
    }
  };
  await waitFor('the stranger to answer on its control socket', strangerStatus, 30_000);
  // …and the refusal is mutual, at the TLS layer: the members reject the stranger's server
  // certificate when they dial it, and it rejects theirs.
  for (const n of ['n1', 'n2']) {
    await waitFor(`${n} to log the refused certificate`, () => /"msg":"connection to peer failed".*"peer":"n3".*"code":"SELF_SIGNED_CERT_IN_CHAIN"/.test(c.log(n)), 20_000, 200);
  }
  await waitFor('the stranger to refuse the members', () => /"msg":"refused inbound connection: TLS handshake failed"/.test(c.log('n3')), 20_000, 200);
  // Let the members try a few more times (each dial to the stranger is refused at its peer port,
  // and each would have let it join, had the certificate check let it through); then it still has
  // no leader, no link, no data.
  const refused = async () => (await strangerStatus())?.listeners?.peer?.refusedTotal;
  const refused0 = await waitFor('the stranger’s count of refused peer connections', refused);
  await waitFor(() => `10 more refused dials at the stranger's peer port (had ${refused0})`, async () => ((await refused()) ?? 0) >= refused0 + 10, 30_000, 100);
  const s = (await strangerStatus())!;
  t.is(s.raft.cdb.lead, '', 'the stranger never learned of a leader');
  t.not(s.raft.cdb.role, 'leader');
  const member = (await c.status(l.leader))!;
  t.true(s.raft.cdb.commit < member.raft.cdb.commit, `the stranger has only its bootstrap entries (${s.raft.cdb.commit} < ${member.raft.cdb.commit})`);
  t.true(s.raft.cdb.commit <= 3, 'nothing beyond the 3 bootstrap configuration entries');
  for (const p of ['n1', 'n2']) t.false(s.transport[p]?.connected ?? false, `the stranger has no link to ${p}`);
  for (const n of ['n1', 'n2']) {
    const st = (await c.status(n))!;
    t.false(st.transport.n3?.connected ?? false, `${n} has no link to the stranger`);
    t.true(['n1', 'n2'].includes(st.raft.cdb.lead), `${n} still follows a real member`);
  }
  const cl = await LocalClient.connect(stranger.socketDir, { apiKey: key, timeoutMs: 10_000 });
  const none = (await cl.call('cdb', { op: 'get', type: 'system', id: 'sec-1', consistency: 'stale' }, { timeoutMs: 20_000 }).finally(() => cl.close())) as { ok: boolean; object?: unknown };
  t.true(none.ok);
  t.is(none.object, undefined, 'the cluster’s data never reached the stranger');
  const w2 = await c.put('n2', sys('sec-2'));
  t.true(w2.ok, 'the cluster kept working');

  // The same node with its real certificate joins at once: it was the certificate that kept it out.
  await c.kill('n3');
  writeFileSync(cfgFile, good, { mode: 0o600 });
  await c.restart('n3');
  const all = await c.waitLeader({ timeoutMs: 30_000 });
  t.is(all.statuses.size, 3);
  await waitFor('n3 to replicate sec-2', async () => ((await c.cdb('n3', { op: 'get', type: 'system', id: 'sec-2', consistency: 'stale' })).object ? true : undefined));
});

test.serial('a wrong API key is one clear line and a non-zero exit', async (t) => {
  const r = await runCli(['status', '--dir', c.dir], { env: { ACP_API_KEY: 'not-the-key' }, timeoutMs: 30_000 });
  t.not(r.code, 0);
  t.is(r.stderr, 'acp: API key rejected\n');
  t.is(r.stdout, '', 'no table of "down" nodes for a rejected key');
  const ls = await runCli(['cdb', 'ls', '--dir', c.dir], { env: { ACP_API_KEY: 'also-wrong' }, timeoutMs: 30_000 });
  t.not(ls.code, 0);
  t.is(ls.stderr, 'acp: API key rejected\n');
  await t.throwsAsync(() => LocalClient.connect(c.node('n1').socketDir, { apiKey: 'x', timeoutMs: 10_000 }).then((cl) => cl.call('status', {}, { timeoutMs: 20_000 }).finally(() => cl.close())), { message: /API key rejected/ });
});

test.serial('control socket directories are 0700 and sockets 0600', (t) => {
  for (const n of c.cluster.nodes) {
    t.is(statSync(n.socketDir).mode & 0o777, 0o700, `${n.socketDir}`);
    const sock = statSync(localSocketPath(n.socketDir));
    t.true(sock.isSocket());
    t.is(sock.mode & 0o777, 0o600, localSocketPath(n.socketDir));
  }
});

/** Write `chunks` to a socket, then wait until the peer closes it or `ms` pass; never throws. */
function blast(connect: () => net.Socket, chunks: Buffer[], ms = 1500): Promise<void> {
  return new Promise((resolve) => {
    const s = connect();
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, ms);
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => {});
    s.once('connect', () => {
      for (const ch of chunks) s.write(ch);
    });
    s.once('secureConnect', () => {
      for (const ch of chunks) s.write(ch);
    });
  });
}

test.serial('garbage on every listening socket leaves every node running and serving', async (t) => {
  const before = await c.statuses();
  t.is(before.size, 3);
  const restarts = (st: Map<string, NodeStatus>) => Object.fromEntries([...st.entries()].map(([n, s]) => [n, s.actors.map((a) => `${a.path}:${a.restarts}`).sort()]));
  const jobs: Promise<void>[] = [];
  for (const n of c.cluster.nodes) {
    // Raw TCP on the TLS port: random bytes, a TLS-looking header with junk, an HTTP request, nothing at all.
    jobs.push(blast(() => net.connect(n.port, '127.0.0.1'), [randomBytes(4096), randomBytes(65536)]));
    jobs.push(blast(() => net.connect(n.port, '127.0.0.1'), [Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), randomBytes(2048)]));
    jobs.push(blast(() => net.connect(n.port, '127.0.0.1'), [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
    jobs.push(blast(() => net.connect(n.port, '127.0.0.1'), []));
    // TLS without a client certificate (and without checking the server's): refused at the handshake.
    jobs.push(blast(() => tls.connect({ host: '127.0.0.1', port: n.port, rejectUnauthorized: false }), [randomBytes(1024), Buffer.from('{"k":"raft"}\n')]));
    // The UNIX control socket: random bytes, malformed frames, a huge line, a well-formed frame with a wrong key.
    const path = localSocketPath(n.socketDir);
    jobs.push(blast(() => net.connect({ path }), [randomBytes(8192)]));
    jobs.push(blast(() => net.connect({ path }), [Buffer.from('{"type":"req","data":{"id":1}}\f{not json\f\f\f')]));
    jobs.push(blast(() => net.connect({ path }), [Buffer.alloc(256 * 1024, 0x41)]));
    jobs.push(blast(() => net.connect({ path }), [Buffer.from(JSON.stringify({ type: 'req', data: { id: 7, key: 'wrong', method: 'status' } }) + '\f')]));
  }
  await Promise.all(jobs);

  // Every process is alive, every control socket answers, the cluster has one leader and serves writes and reads.
  for (const n of c.names) t.true(c.isAlive(n), `${n} still running`);
  const after = await c.waitLeader({ timeoutMs: 30_000 });
  t.is(after.statuses.size, 3);
  t.deepEqual(restarts(after.statuses), restarts(before), 'no actor restarted');
  const w = await c.put('n3', sys('after-garbage'));
  t.true(w.ok, w.message);
  for (const n of c.names) {
    const g = await c.cdb(n, { op: 'get', type: 'system', id: 'after-garbage' });
    t.truthy(g.object, `${n} serves a linearizable read`);
  }
  const st = await runCli(['status', '--dir', c.dir, '--json'], { timeoutMs: 30_000 });
  t.is(st.code, 0, st.stderr);
  const nodes = (JSON.parse(st.stdout) as { nodes: { up: boolean; status?: { listeners?: { control?: { limit: number; refusedTotal: number }; peer?: { limit: number; refusedTotal: number } } } }[] }).nodes;
  t.true(nodes.every((n) => n.up));
  // The refusals are visible in `acp status`, per listener, with its limit.
  for (const n of nodes) {
    t.true((n.status?.listeners?.control?.limit ?? 0) > 0, 'control socket limit shown');
    t.true((n.status?.listeners?.peer?.limit ?? 0) > 0, 'peer port limit shown');
  }
  t.true(nodes.some((n) => (n.status?.listeners?.control?.refusedTotal ?? 0) + (n.status?.listeners?.peer?.refusedTotal ?? 0) > 0), 'the garbage was refused and counted');
});
