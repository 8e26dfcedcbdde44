// Fixture for transport tests: a cluster PKI (plus a foreign one) and a
// factory for transports whose logs, frames and link states are captured.
import type { ExecutionContext } from 'ava';
import net from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { initCluster, loadNodeCredentials } from '../../runtime/net/pki.ts';
import type { NodeCredentials } from '../../runtime/net/pki.ts';
import { NodeTransport } from '../../runtime/net/node-transport.ts';
import type { NodeTransportOptions, PeerAddress, ValidationResult } from '../../runtime/net/node-transport.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { Inbox, MemLog, PeerStates, tempDir, withTimeout } from './helpers.ts';

export interface Msg {
  n: number;
  s?: string;
}
const msgSchema = z.strictObject({ n: z.number().int(), s: z.string().optional() });
export function validateMsg(x: unknown): ValidationResult<Msg> {
  const r = msgSchema.safeParse(x);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error.issues[0]?.message ?? 'invalid' };
}

export interface Pki {
  dir: string;
  creds(name: string): NodeCredentials;
}

export async function makePki(nodes: string[], t: ExecutionContext | null = null): Promise<Pki> {
  const dir = tempDir(t, 'acp-pki-');
  await initCluster(dir, { nodes, clients: ['cli'] });
  return { dir, creds: (n) => loadNodeCredentials(dir, n) };
}

export interface Node {
  name: string;
  t: NodeTransport<Msg>;
  log: MemLog;
  inbox: Inbox<Msg>;
  peers: PeerStates;
  addr: PeerAddress;
}

export async function startNode(
  t: ExecutionContext,
  name: string,
  creds: NodeCredentials,
  extra: Partial<NodeTransportOptions<Msg>> = {},
): Promise<Node> {
  const log = new MemLog(process.env.NET_TEST_ECHO === '1');
  const inbox = new Inbox<Msg>();
  const peers = new PeerStates();
  const tr = new NodeTransport<Msg>({
    self: name,
    listen: { host: '127.0.0.1', port: 0 },
    creds,
    validate: validateMsg,
    onFrame: inbox.push,
    onPeerState: peers.on,
    log,
    rng: new SeededRng(name.charCodeAt(0)),
    backoff: { baseMs: 20, maxMs: 200, factor: 2, jitter: 0.5 },
    handshakeTimeoutMs: 2000,
    ...extra,
  });
  t.teardown(() => tr.stop());
  const addr = await tr.start();
  return { name, t: tr, log, inbox, peers, addr };
}

/** Connect every pair (both sides learn each other's address). */
export function mesh(nodes: Node[]): void {
  for (const x of nodes) for (const y of nodes) if (x !== y) x.t.addPeer(y.name, y.addr);
}

export async function allUp(nodes: Node[], timeoutMs = 5000): Promise<void> {
  await Promise.all(nodes.flatMap((x) => nodes.filter((y) => y !== x).map((y) => x.peers.wait(y.name, true, timeoutMs))));
}

/** A raw TLS client (optionally with a certificate), resolved after the handshake. */
export function rawTls(port: number, creds?: { key: string; cert: string; ca: string }, ca?: string): Promise<tls.TLSSocket> {
  return withTimeout(
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        ca: ca ?? creds?.ca,
        ...(creds ? { key: creds.key, cert: creds.cert } : {}),
        rejectUnauthorized: false, // we are the attacker here; the server's checks are under test
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    }),
    5000,
    'raw TLS handshake',
  );
}

export function closed(s: net.Socket, timeoutMs = 5000): Promise<void> {
  if (s.destroyed || s.closed) return Promise.resolve();
  s.on('error', () => {});
  return withTimeout(new Promise<void>((resolve) => s.once('close', () => resolve())), timeoutMs, 'socket close');
}

export function frame(type: string, data: unknown): string {
  return JSON.stringify({ type, data }) + '\f';
}
