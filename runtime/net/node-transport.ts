// Node-to-node transport: node-ipc 14.0.0 over mutually authenticated TLS in
// its `assured` profile (required event allow-list, frame size limits,
// incomplete-frame timeout, bounded pending writes, TLS with requestCert +
// rejectUnauthorized against the cluster CA on both sides).
//
// ## One logical link per pair of nodes
//
// Between nodes X and Y there is exactly one TLS connection, dialed by the
// node whose name sorts lower (JS string order): "a" dials "b" and "c", "b"
// dials "c". The connection carries frames both ways. Both sides derive the
// roles from the names alone, so there is nothing to negotiate and no
// duplicate connections to dedupe; the acceptor refuses a connection from a
// peer that should have been dialed instead. Only the dialer reconnects (with
// exponential backoff + jitter); the acceptor buffers frames for a peer until
// that peer dials in again. If a dialer reconnects while the acceptor still
// holds the old connection (half-dead after a peer restart), the newer
// connection replaces the old one.
//
// ## Identity
//
// The identity of the other end is taken from its TLS certificate, verified
// against the cluster CA, never from a payload field:
//  - dialer: node's TLS verifies the acceptor's chain and host (SAN); our
//    checkServerIdentity additionally requires CN = the peer we meant to dial
//    and OU = node.
//  - acceptor: node's TLS verifies the dialer's chain (requestCert +
//    rejectUnauthorized); on connect we read CN/OU from the verified peer
//    certificate. CN must be a configured peer that dials us, OU = node.
// The first frame on a connection is `hello {v, from, to}` from the dialer;
// `from` must equal the certificate CN and `to` our own name, otherwise the
// connection is refused (a node with a valid certificate claiming another
// name is refused). The acceptor answers `welcome`; the dialer only counts the
// link as up (and flushes its buffer) after the welcome, so frames are not
// written into a connection the acceptor is about to refuse.
//
// ## Frames
//
// Wire events: hello, welcome, frame, ping (node-ipc allowedEvents; anything
// else closes the connection inside node-ipc). A frame's data must be exactly
// `{p: payload}`; the payload is passed to the injected `validate` before it
// becomes a message. A frame failing the envelope or the validator closes that
// one connection (logged with the reason), and nothing else. Delivery is
// at-most-once: frames written into a connection that then dies are lost;
// frames sent while a link is down wait in a bounded per-peer buffer and are
// flushed, in order, when it is up again.
//
// ## Dead links and partitions
//
// A partition that drops packets (no RST) leaves both ends of a TCP
// connection looking alive: writes pile up unacknowledged, TCP retransmits
// with a doubling timer (a 15 s cut left the next retransmission 12.8 s after
// the heal), and keepalive does not probe while data is unacknowledged. So
// liveness is the application's: each side sends `ping` on a link that has
// sent nothing for `heartbeatMs` (200 ms), and a link that has received
// nothing for `idleTimeoutMs` (1 s) is closed; the dialer then redials. (After
// a tick that fires late — this process was stalled — silence is counted from
// the end of the stall: the bytes that arrived meanwhile are not read yet.) A
// dial attempt is abandoned if TCP has not connected within
// `connectTimeoutMs` (250 ms: a SYN lost to a partition is otherwise retried
// by the kernel only after 1, 3, 7 s) or TLS + hello/welcome have not
// completed within `handshakeTimeoutMs`, and the reconnect backoff is capped at 250 ms (a caller may not set more than
// 500). The backoff spaces the starts of attempts, so one abandoned at its
// connect deadline is followed by the next at once. So after a heal the
// dialer's next attempt starts within max(connectTimeoutMs, backoff), and the
// link is up one handshake later.
//
// ## Admission
//
// Inbound connections go through the listener gate (listener-gate.ts): from
// TCP accept, TLS with a node certificate plus an accepted hello must complete
// within handshakeTimeoutMs; at most maxConnections − reservedConnections are
// unauthenticated at once (the oldest gives way to a newer one), so idle or
// hostile connections cannot keep peers out. Refusals are counted by reason
// (stats().listener) and logged through RepeatLog (one line per burst).
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { Server as NetServer, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { IPCModule } from 'node-ipc';
import type { IPCClient, IPCServer } from 'node-ipc';
import { z } from 'zod';
import { backoffDelay, cryptoRandom, resolveBackoff } from './backoff.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './frame.ts';
import type { BackoffPolicy, RandomSource } from './backoff.ts';
import { ListenerGate, resolveLimits } from './listener-gate.ts';
import type { ListenerStats, RefuseReason } from './listener-gate.ts';
import { RepeatLog, clip, nullLogger } from './log.ts';
import type { NetLogger, RepeatLogOptions } from './log.ts';
import { NODE_OU, assertValidName, parseSubject } from './pki.ts';
import type { NodeCredentials } from './pki.ts';

export { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
export { DEFAULT_MAX_FRAME_BYTES } from './frame.ts';
export type { BackoffPolicy, RandomSource } from './backoff.ts';

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface PeerAddress {
  host: string;
  port: number;
}

export interface NodeTransportOptions<T> {
  /** This node's name; must equal the CN of `creds.cert`. */
  self: string;
  listen: PeerAddress;
  creds: NodeCredentials;
  peers?: Record<string, PeerAddress>;
  /** Validates every payload received from the network (e.g. parseRaftMessage adapted). */
  validate: (frame: unknown) => ValidationResult<T>;
  /** Called with the verified sender name and the validated frame. Must not throw (it is caught and logged). */
  onFrame: (from: string, frame: T) => void;
  /** Link up/down notifications. */
  onPeerState?: (peer: string, connected: boolean) => void;
  log?: NetLogger;
  /** Jitter source for the reconnect backoff. Default: crypto. */
  rng?: RandomSource;
  /**
   * Reconnect backoff. Default {baseMs: 50, maxMs: 250, factor: 2, jitter:
   * 0.5}. maxMs above MAX_RECONNECT_DELAY_MS (500) is lowered to it: a longer
   * wait would outlast a heal, and a failed attempt costs little.
   */
  backoff?: Partial<BackoffPolicy>;
  /** A link that stayed up this long resets the backoff attempt counter. Default 5000 ms. */
  stableMs?: number;
  /**
   * Largest frame on the wire: UTF-8 bytes of its JSON (node-ipc
   * maxMessageSize), both to send and to accept. Default DEFAULT_MAX_FRAME_BYTES.
   * A frame that does not fit is not sent (send returns false, stats sendErrors).
   */
  maxFrameBytes?: number;
  /** Bytes queued for write on one socket before node-ipc closes it. Default 16 MiB. */
  maxPendingBytes?: number;
  /** Frames buffered per peer while its link is down; the oldest are dropped beyond this. Default 1024. */
  maxBufferedFrames?: number;
  /**
   * Time for TLS + hello/welcome before a connection is dropped: inbound from
   * the TCP accept, outbound from the TCP connect. Default 3000 ms.
   */
  handshakeTimeoutMs?: number;
  /** Dialer: time for the TCP connect before the attempt is abandoned and retried. Default 250 ms (raise it for links with a longer round trip). */
  connectTimeoutMs?: number;
  /** A ping goes out on a link that has sent nothing for this long. Default 200 ms. */
  heartbeatMs?: number;
  /** A link that has received nothing (frames or pings) for this long is closed as dead. Default 1000 ms. */
  idleTimeoutMs?: number;
  /** Time an incomplete frame may stay buffered (node-ipc messageTimeout). Default 10000 ms. */
  frameTimeoutMs?: number;
  /** Max simultaneous inbound sockets, authenticated or not. Default 256. */
  maxConnections?: number;
  /** Inbound slots only authenticated peers may hold. Default maxConnections / 4. */
  reservedConnections?: number;
  /** Aggregation of repeated warnings; see RepeatLog. */
  repeatLog?: Partial<RepeatLogOptions>;
}

export interface PeerStats {
  role: 'dialer' | 'acceptor';
  connected: boolean;
  /** Successful handshakes. */
  connects: number;
  /** Handshakes after the first (the link came back after being lost). */
  reconnects: number;
  /** Dial attempts (dialer only). */
  dials: number;
  framesIn: number;
  framesOut: number;
  /** Inbound frames (or protocol violations) that caused this peer's connection to be closed. */
  rejected: number;
  /** Frames waiting for the link. */
  buffered: number;
  /** Buffered frames dropped because the buffer was full (oldest first). */
  dropped: number;
  /** Frames that could not be encoded/sent (too large, not JSON-serialisable). */
  sendErrors: number;
  /** Heartbeats received. */
  pingsIn: number;
  /** Links closed because nothing arrived for idleTimeoutMs (a partition or a hung peer). */
  idleTimeouts: number;
  /** Dial attempts abandoned at connectTimeoutMs or handshakeTimeoutMs (dialer only). */
  dialTimeouts: number;
  lastError?: string;
}

export interface TransportStats {
  peers: Record<string, PeerStats>;
  /** Inbound connections refused before they became a link (= listener.refusedTotal). */
  refused: number;
  /** The inbound listener: limit, current counts, refusals by reason. */
  listener: ListenerStats;
}

/** Transport defaults for the reconnect backoff: capped low, so a reconnect does not outlast a heal. */
export const TRANSPORT_BACKOFF: BackoffPolicy = { baseMs: 50, maxMs: 250, factor: 2, jitter: 0.5 };
/** Longest reconnect delay the transport accepts (a caller's larger maxMs is lowered to it). */
export const MAX_RECONNECT_DELAY_MS = 500;

const EVENTS = ['hello', 'welcome', 'frame', 'ping'];
/** 2: heartbeats (`ping`). A version-1 node refuses our hello and we refuse its. */
const PROTOCOL_VERSION = 2;
const nodeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const helloSchema = z.strictObject({ v: z.literal(PROTOCOL_VERSION), from: nodeName, to: nodeName });

interface Link {
  name: string;
  addr: PeerAddress;
  role: 'dialer' | 'acceptor';
  /** Dialer: node-ipc module dedicated to this peer (its own TLS expectations). */
  ipc: IPCModule | null;
  client: IPCClient | null;
  /** Authenticated socket after hello/welcome (both roles). */
  socket: Socket | null;
  connected: boolean;
  gen: number;
  attempt: number;
  retryTimer: NodeJS.Timeout | null;
  /** Dialer: deadline of the current attempt (TCP connect, then TLS + welcome). */
  hsTimer: NodeJS.Timeout | null;
  connectedAt: number;
  /** Dialer: performance.now() when the current (or last) attempt started. */
  dialedAt: number;
  /** performance.now() of the last bytes received / frame or ping sent on the link. */
  lastRecv: number;
  lastSend: number;
  /** The last connection was closed for misbehaviour: do not reset the backoff. */
  penalty: boolean;
  buffer: unknown[];
  stats: PeerStats;
}

interface Pending {
  cn: string;
}

export class NodeTransport<T = unknown> {
  readonly self: string;
  #o: NodeTransportOptions<T>;
  #log: NetLogger;
  #rng: RandomSource;
  #backoff: BackoffPolicy;
  #links = new Map<string, Link>();
  #serverIpc: IPCModule | null = null;
  #server: IPCServer | null = null;
  #netServer: NetServer | null = null;
  /** Every raw inbound TCP socket, so stop() can cut half-open handshakes too. */
  #raw = new Set<Socket>();
  /** Inbound (TLS) sockets that passed TLS but have not sent hello yet. */
  #pending = new Map<Socket, Pending>();
  /** Inbound socket -> peer name, once hello was accepted. */
  #inbound = new WeakMap<Socket, string>();
  /** Admission of inbound connections, keyed by the raw TCP socket. */
  #gate: ListenerGate<Socket>;
  /** Raw sockets that closed before authenticating, until tlsClientError says why. */
  #closedUnauthenticated = new WeakSet<Socket>();
  #repeat: RepeatLog;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastBeat = 0;
  #stallEnd = 0;
  #timing: { handshakeMs: number; connectMs: number; heartbeatMs: number; idleMs: number };
  #started = false;
  #stopped = false;
  #address: PeerAddress | null = null;

  constructor(opts: NodeTransportOptions<T>) {
    assertValidName(opts.self);
    checkOwnCert(opts.self, opts.creds);
    if (typeof opts.validate !== 'function') throw new TypeError('NodeTransport needs a validate(frame) function');
    if (typeof opts.onFrame !== 'function') throw new TypeError('NodeTransport needs an onFrame(from, frame) function');
    this.self = opts.self;
    this.#o = opts;
    this.#log = opts.log ?? nullLogger;
    this.#rng = opts.rng ?? cryptoRandom;
    const b = resolveBackoff({ ...TRANSPORT_BACKOFF, ...opts.backoff });
    this.#backoff = { ...b, maxMs: Math.min(b.maxMs, MAX_RECONNECT_DELAY_MS), baseMs: Math.min(b.baseMs, MAX_RECONNECT_DELAY_MS) };
    this.#timing = {
      handshakeMs: opts.handshakeTimeoutMs ?? 3000,
      connectMs: opts.connectTimeoutMs ?? 250,
      heartbeatMs: opts.heartbeatMs ?? 200,
      idleMs: opts.idleTimeoutMs ?? 1000,
    };
    const tm = this.#timing;
    for (const [k, v] of Object.entries(tm)) if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`NodeTransport ${opts.self}: ${k} must be a positive number of ms, got ${v}`);
    if (tm.idleMs < 2 * tm.heartbeatMs) throw new RangeError(`NodeTransport ${opts.self}: idleTimeoutMs (${tm.idleMs}) must be at least twice heartbeatMs (${tm.heartbeatMs})`);
    this.#gate = new ListenerGate<Socket>(
      resolveLimits(`NodeTransport ${opts.self}`, opts.maxConnections ?? 256, opts.reservedConnections, tm.handshakeMs),
      (raw, reason, detail) => this.#gateClose(raw, reason, detail),
    );
    this.#repeat = new RepeatLog(this.#log, opts.repeatLog);
    for (const [name, addr] of Object.entries(opts.peers ?? {})) this.addPeer(name, addr);
  }

  /** Largest frame this transport sends and accepts (UTF-8 bytes of its JSON). */
  get maxFrameBytes(): number {
    return this.#o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Address actually listened on (port resolved when 0 was asked). */
  get address(): PeerAddress | null {
    return this.#address;
  }

  /** Start listening and dialing. Resolves once the listener is bound. */
  async start(): Promise<PeerAddress> {
    if (this.#stopped) throw new Error('NodeTransport: cannot start after stop()');
    if (this.#started) throw new Error('NodeTransport: already started');
    this.#started = true;
    const o = this.#o;
    const ipc = new IPCModule();
    configure(ipc, o);
    ipc.config.id = this.self;
    // The gate enforces the limit (the oldest unauthenticated connection gives
    // way to a new one); net's own cap, which refuses the newest, is a backstop.
    ipc.config.maxConnections = this.#gate.limits.limit * 2 + 1;
    ipc.config.tls = {
      key: o.creds.key,
      cert: o.creds.cert,
      ca: o.creds.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      // The gate's deadline (TLS + hello) comes first; this is a backstop.
      handshakeTimeout: this.#timing.handshakeMs + 1000,
    };
    // serveNet() replaces a falsy port by the default 8000, so port 0 ("any
    // free port") cannot be passed through it. The server object keeps the
    // port and hands it to net's listen(), which accepts the string '0'.
    ipc.serveNet(o.listen.host, o.listen.port || 1);
    const server = ipc.server as IPCServer;
    if (!o.listen.port) server.port = '0';
    this.#serverIpc = ipc;
    this.#server = server;
    this.#wireServer(server);

    await new Promise<void>((resolve, reject) => {
      const onStart = () => {
        server.off('error', onError);
        resolve();
      };
      const onError = (e: Error) => {
        server.off('start', onStart);
        reject(new Error(`NodeTransport ${this.self}: cannot listen on ${o.listen.host}:${o.listen.port}: ${e.message}`));
      };
      server.once('start', onStart);
      server.once('error', onError);
      server.start();
      this.#netServer = server.server as NetServer;
      this.#wireNetServer(this.#netServer);
    }).catch(async (e) => {
      await this.stop();
      throw e;
    });
    server.on('error', (e: Error) => this.#log.debug('transport socket error', { self: this.self, error: clip(e.message) }));
    const a = this.#netServer!.address();
    this.#address = a && typeof a === 'object' ? { host: a.address, port: a.port } : { ...o.listen };
    this.#log.info('transport listening', { self: this.self, host: this.#address.host, port: this.#address.port });
    this.#lastBeat = performance.now();
    this.#heartbeat = setInterval(() => this.#beat(), this.#timing.heartbeatMs);
    this.#heartbeat.unref();
    for (const link of this.#links.values()) if (link.role === 'dialer') this.#dial(link);
    return this.#address;
  }

  /**
   * Send a frame to `peer`, fire-and-forget. Returns false when the peer is
   * unknown, the transport is stopped, or the frame cannot be encoded (too
   * large / not serialisable). While the link is down the frame is buffered
   * (bounded; the oldest frame is dropped and counted when full).
   */
  send(peer: string, frame: unknown): boolean {
    const link = this.#links.get(peer);
    if (!link || this.#stopped) return false;
    if (link.connected && link.buffer.length === 0) return this.#write(link, frame);
    const max = this.#o.maxBufferedFrames ?? 1024;
    if (max <= 0) {
      link.stats.dropped++;
      return false;
    }
    if (link.buffer.length >= max) {
      link.buffer.shift();
      link.stats.dropped++;
    }
    link.buffer.push(frame);
    if (link.connected) this.#flush(link);
    return true;
  }

  addPeer(name: string, addr: PeerAddress): void {
    assertValidName(name);
    if (name === this.self) throw new Error(`NodeTransport ${this.self}: cannot add itself as a peer`);
    if (!addr || typeof addr.host !== 'string' || !Number.isInteger(addr.port) || addr.port < 1 || addr.port > 65535) {
      throw new Error(`NodeTransport ${this.self}: invalid address for peer ${name}: ${JSON.stringify(addr)}`);
    }
    const existing = this.#links.get(name);
    if (existing) {
      const moved = existing.addr.host !== addr.host || existing.addr.port !== addr.port;
      existing.addr = { host: addr.host, port: addr.port };
      if (moved && existing.role === 'dialer' && this.#started && !this.#stopped) {
        this.#closeLink(existing, 'peer address changed');
        existing.attempt = 0;
        this.#dial(existing);
      }
      return;
    }
    const link: Link = {
      name,
      addr: { host: addr.host, port: addr.port },
      role: this.self < name ? 'dialer' : 'acceptor',
      ipc: null,
      client: null,
      socket: null,
      connected: false,
      gen: 0,
      attempt: 0,
      retryTimer: null,
      hsTimer: null,
      connectedAt: 0,
      dialedAt: 0,
      lastRecv: 0,
      lastSend: 0,
      penalty: false,
      buffer: [],
      stats: {
        role: this.self < name ? 'dialer' : 'acceptor',
        connected: false,
        connects: 0,
        reconnects: 0,
        dials: 0,
        framesIn: 0,
        framesOut: 0,
        rejected: 0,
        buffered: 0,
        dropped: 0,
        sendErrors: 0,
        pingsIn: 0,
        idleTimeouts: 0,
        dialTimeouts: 0,
      },
    };
    this.#links.set(name, link);
    if (link.role === 'dialer' && this.#started && !this.#stopped) this.#dial(link);
  }

  removePeer(name: string): void {
    const link = this.#links.get(name);
    if (!link) return;
    this.#links.delete(name);
    this.#closeLink(link, 'peer removed');
    link.buffer = [];
  }

  peers(): string[] {
    return [...this.#links.keys()];
  }

  isConnected(peer: string): boolean {
    return this.#links.get(peer)?.connected ?? false;
  }

  stats(): TransportStats {
    const peers: Record<string, PeerStats> = {};
    for (const [name, l] of this.#links) peers[name] = { ...l.stats, connected: l.connected, buffered: l.buffer.length };
    const listener = this.#gate.stats();
    return { peers, refused: listener.refusedTotal, listener };
  }

  /** Close every socket and timer. Idempotent; the transport cannot be restarted. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const link of this.#links.values()) {
      this.#closeLink(link, 'transport stopped');
      link.buffer = [];
    }
    for (const sock of this.#pending.keys()) sock.destroy();
    this.#pending.clear();
    this.#gate.clear();
    this.#repeat.close();
    for (const s of this.#raw) s.destroy();
    this.#raw.clear();
    const server = this.#server;
    const net = this.#netServer;
    this.#server = null;
    this.#netServer = null;
    this.#serverIpc = null;
    if (server && net && net.listening) {
      await new Promise<void>((resolve) => {
        net.once('close', () => resolve());
        server.stop();
      });
    } else if (server) {
      server.stop();
    }
    this.#log.info('transport stopped', { self: this.self });
  }

  // -------------------------------------------------------------- acceptor

  #wireNetServer(net: NetServer): void {
    net.on('connection', (s: Socket) => {
      // Runs after tls.Server's own listener has wrapped s in a TLSSocket.
      this.#raw.add(s);
      s.once('close', () => {
        this.#raw.delete(s);
        // node's TLS server closes the socket before it reports why (tlsClientError).
        if (this.#gate.isPending(s)) this.#closedUnauthenticated.add(s);
        this.#gate.release(s);
      });
      if (this.#stopped) s.destroy();
      else this.#gate.admit(s);
    });
    net.on('drop', (d?: { remoteAddress?: string }) => {
      this.#gate.countRefusal('full');
      const source = d?.remoteAddress ?? '?';
      this.#repeat.warn('refused inbound connection', 'over the backstop connection limit', source, { self: this.self, remote: source, reason: 'over the backstop connection limit' });
    });
    net.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
      const raw = rawOf(s);
      // Closed by the gate (evicted, timed out): nothing to add.
      if (!this.#gate.isPending(raw) && !this.#closedUnauthenticated.has(raw)) {
        this.#log.debug('inbound TLS handshake ended', { self: this.self, error: clip(err.message), code: err.code });
        return;
      }
      // node's TLS server verifies the client certificate after OpenSSL's
      // handshake and, with rejectUnauthorized, destroys the socket without
      // an error of its own: the reason is in authorizationError, and the
      // event only says "socket hang up".
      const authz = s.authorizationError;
      const reason = authz ? `client certificate rejected: ${String(authz)}` : clip(err.message);
      const source = raw.remoteAddress ?? '?';
      this.#repeat.warn('refused inbound connection: TLS handshake failed', authz ? `client certificate rejected: ${String(authz)}` : (err.code ?? clip(err.message, 100)), source, {
        self: this.self,
        remote: remote(raw),
        reason,
        code: err.code,
      });
      const why = authz ? 'auth' : err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'handshakeTimeout' : 'protocol';
      if (!this.#gate.refuse(raw, why, reason)) this.#gate.countRefusal(why);
    });
  }

  /** The gate closes an inbound connection (limit, eviction, deadline, or a refusal below). */
  #gateClose(raw: Socket, reason: RefuseReason, detail: string): void {
    if (reason === 'full' || reason === 'evicted' || reason === 'handshakeTimeout') {
      const source = raw.remoteAddress ?? '?';
      this.#repeat.warn('refused inbound connection', detail, source, { self: this.self, remote: remote(raw), reason: detail });
    }
    raw.destroy();
  }

  #wireServer(server: IPCServer): void {
    // node-ipc publishes its protocol errors (bad JSON, oversized frame,
    // event not allowed, incomplete frame timeout, write backpressure)
    // without the socket; wrap the method to attribute them to a peer.
    const original = server.protocolFailure.bind(server);
    server.protocolFailure = (socket: Socket, error: Error) => {
      const pending = this.#pending.get(socket);
      if (pending) {
        // Not (yet) the peer's link: whoever holds the certificate is not
        // blamed on the established link.
        this.#pending.delete(socket);
        this.#protocolError(undefined, socket, error, pending.cn);
      } else {
        this.#protocolError(this.#inbound.get(socket), socket, error);
      }
      original(socket, error);
    };

    server.on('connect', (socket: Socket) => this.#onInbound(socket));
    server.on('hello', (data: unknown, socket: Socket) => this.#onHello(data, socket));
    server.on('frame', (data: unknown, socket: Socket) => {
      if (socket.destroyed) return;
      const link = this.#linkOf(socket);
      if (!link) {
        this.#refuse(socket, this.#pending.get(socket)?.cn, 'frame before hello', 'protocol');
        return;
      }
      this.#deliver(link, data, socket);
    });
    server.on('ping', (_data: unknown, socket: Socket) => {
      if (socket.destroyed) return;
      const link = this.#linkOf(socket);
      if (link) link.stats.pingsIn++;
      else this.#refuse(socket, this.#pending.get(socket)?.cn, 'ping before hello', 'protocol');
    });
    server.on('welcome', (_data: unknown, socket: Socket) => {
      const link = this.#linkOf(socket);
      if (link) this.#reject(link, socket, 'unexpected welcome from the dialing side');
      else this.#refuse(socket, this.#pending.get(socket)?.cn, 'unexpected welcome', 'protocol');
    });
    server.on('close', (socket: Socket) => {
      this.#pending.delete(socket);
      this.#gate.release(rawOf(socket));
      const name = this.#inbound.get(socket);
      const link = name === undefined ? undefined : this.#links.get(name);
      if (link && link.socket === socket) this.#linkDown(link, 'connection closed');
    });
  }

  /** The link whose authenticated inbound socket this is. */
  #linkOf(socket: Socket): Link | undefined {
    const name = this.#inbound.get(socket);
    const link = name === undefined ? undefined : this.#links.get(name);
    return link && link.socket === socket ? link : undefined;
  }

  #onInbound(socket: Socket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const ts = socket as tls.TLSSocket;
    if (typeof ts.getPeerCertificate !== 'function' || ts.authorized !== true) {
      this.#refuse(socket, undefined, `client certificate not verified (${ts.authorizationError ?? 'no TLS'})`, 'auth');
      return;
    }
    const { cn, ou } = certIdentity(ts.getPeerCertificate());
    if (ou !== NODE_OU) {
      this.#refuse(socket, undefined, `certificate CN=${clip(cn, 64)} OU=${clip(ou, 32)} is not a node certificate`, 'auth');
      return;
    }
    const link = this.#links.get(cn);
    if (!link) {
      this.#refuse(socket, undefined, `unknown peer ${clip(cn, 64)}`, 'auth');
      return;
    }
    if (link.role !== 'acceptor') {
      this.#refuse(socket, undefined, `peer ${cn} must not dial ${this.self}: the lower name dials`, 'auth');
      return;
    }
    socket.setKeepAlive(true, 10_000);
    // The hello deadline is the gate's (from the TCP accept).
    this.#pending.set(socket, { cn });
    this.#log.debug('inbound TLS connection authenticated', { self: this.self, peer: cn, remote: remote(socket) });
  }

  #onHello(data: unknown, socket: Socket): void {
    if (socket.destroyed) return;
    const p = this.#pending.get(socket);
    if (!p) {
      const link = this.#linkOf(socket);
      if (link) this.#reject(link, socket, 'duplicate hello');
      else this.#refuse(socket, undefined, 'hello on an unauthenticated connection', 'protocol');
      return;
    }
    const h = helloSchema.safeParse(data);
    if (!h.success) {
      this.#refuse(socket, p.cn, `malformed hello: ${clip(h.error.issues[0]?.message ?? 'invalid')}`, 'protocol');
      return;
    }
    if (h.data.from !== p.cn) {
      this.#refuse(socket, p.cn, `peer claims to be ${h.data.from} but its certificate says ${p.cn}`, 'auth');
      return;
    }
    if (h.data.to !== this.self) {
      this.#refuse(socket, p.cn, `hello addressed to ${h.data.to}, this node is ${this.self}`, 'auth');
      return;
    }
    const link = this.#links.get(p.cn);
    if (!link) {
      this.#refuse(socket, p.cn, `peer ${p.cn} was removed`, 'auth');
      return;
    }
    this.#pending.delete(socket);
    if (!this.#gate.authenticate(rawOf(socket))) {
      // The gate no longer holds it (closed meanwhile).
      socket.destroy();
      return;
    }
    if (link.socket && link.socket !== socket) {
      const old = link.socket;
      this.#log.info('peer reconnected; replacing its previous connection', { self: this.self, peer: link.name });
      this.#linkDown(link, 'replaced by a newer connection');
      old.destroy();
    }
    this.#inbound.set(socket, link.name);
    link.socket = socket;
    this.#watch(link, socket);
    this.#server!.emit(socket, 'welcome', { v: PROTOCOL_VERSION, from: this.self, to: link.name });
    this.#linkUp(link);
  }

  /** Close an inbound connection that has not become a link. */
  #refuse(socket: Socket, peer: string | undefined, reason: string, why: 'auth' | 'protocol'): void {
    this.#pending.delete(socket);
    const raw = rawOf(socket);
    const source = raw.remoteAddress ?? socket.remoteAddress ?? '?';
    this.#repeat.warn('refused inbound connection', reason, source, { self: this.self, certificate: peer, remote: remote(raw), reason });
    if (!this.#gate.refuse(raw, why, reason)) socket.destroy();
  }

  // ---------------------------------------------------------------- dialer

  #dial(link: Link): void {
    if (this.#stopped || this.#links.get(link.name) !== link || link.role !== 'dialer') return;
    link.retryTimer = null;
    this.#teardownClient(link);
    const gen = ++link.gen;
    link.stats.dials++;
    link.dialedAt = performance.now();
    if (!link.ipc) link.ipc = this.#clientModule(link);
    const ipc = link.ipc;
    try {
      ipc.connectToNet(link.name, link.addr.host, link.addr.port);
    } catch (e) {
      link.stats.lastError = (e as Error).message;
      this.#log.error('cannot dial peer', { self: this.self, peer: link.name, error: clip((e as Error).message) });
      this.#scheduleReconnect(link);
      return;
    }
    const client = ipc.of[link.name];
    link.client = client;
    const current = () => gen === link.gen && link.client === client && !this.#stopped;
    const sock = () => (client.socket || null) as Socket | null;

    const original = client.protocolFailure.bind(client);
    client.protocolFailure = (socket: Socket, error: Error) => {
      if (current()) this.#protocolError(link.name, socket, error);
      original(socket, error);
    };
    // Deadlines of this attempt: the TCP connect (a SYN lost to a partition
    // would otherwise be retried by the kernel only after 1, 3, 7 s), then
    // TLS + hello/welcome. Destroying the socket ends in 'destroy' below,
    // which schedules the next attempt.
    // A deadline is judged after the I/O phase of the turn its timer fires
    // in (setImmediate): timers run first, and after a stall the connect or
    // the welcome may be waiting to be read.
    const { connectMs, handshakeMs } = this.#timing;
    const deadline = (ms: number, reason: string, penalty: boolean): NodeJS.Timeout => {
      const timer: NodeJS.Timeout = setTimeout(() => {
        setImmediate(() => {
          if (link.hsTimer !== timer) return; // progressed (or closed) meanwhile
          link.hsTimer = null;
          if (!current() || link.connected) return;
          link.penalty ||= penalty;
          link.stats.dialTimeouts++;
          link.stats.lastError = reason;
          this.#repeat.warn('dial to peer timed out', reason, link.name, { self: this.self, peer: link.name, reason });
          sock()?.destroy();
        });
      }, ms);
      return timer;
    };
    link.hsTimer = deadline(connectMs, `no TCP connection within ${connectMs} ms`, false);
    sock()?.once('connect', () => {
      if (!current() || link.connected) return;
      if (link.hsTimer) clearTimeout(link.hsTimer);
      link.hsTimer = deadline(handshakeMs, `no TLS handshake and welcome within ${handshakeMs} ms`, true);
    });
    client.on('connect', () => {
      if (!current()) return;
      const s = sock();
      s?.setKeepAlive(true, 10_000);
      this.#log.debug('TLS connected to peer; sending hello', { self: this.self, peer: link.name });
      client.emit('hello', { v: PROTOCOL_VERSION, from: this.self, to: link.name });
    });
    client.on('welcome', (data: unknown) => {
      const s = sock();
      if (!current() || !s || s.destroyed) return;
      if (link.connected) {
        this.#reject(link, s, 'duplicate welcome');
        return;
      }
      const h = helloSchema.safeParse(data);
      if (!h.success || h.data.from !== link.name || h.data.to !== this.self) {
        this.#reject(link, s, h.success ? `welcome from ${h.data.from} to ${h.data.to}, expected ${link.name} to ${this.self}` : 'malformed welcome');
        return;
      }
      if (link.hsTimer) clearTimeout(link.hsTimer);
      link.hsTimer = null;
      link.socket = s;
      this.#watch(link, s);
      this.#linkUp(link);
    });
    client.on('ping', () => {
      const s = sock();
      if (!current() || !s || s.destroyed) return;
      if (link.connected) link.stats.pingsIn++;
      else this.#reject(link, s, 'ping before welcome');
    });
    client.on('frame', (data: unknown) => {
      const s = sock();
      if (!current() || !s || s.destroyed) return;
      if (!link.connected) {
        this.#reject(link, s, 'frame before welcome');
        return;
      }
      this.#deliver(link, data, s);
    });
    client.on('hello', () => {
      const s = sock();
      if (current() && s && !s.destroyed) this.#reject(link, s, 'unexpected hello from the accepting side');
    });
    client.on('error', (e: Error & { code?: string }) => {
      if (!current()) return;
      link.stats.lastError = e.message;
      const fields = { self: this.self, peer: link.name, error: clip(e.message), code: e.code };
      if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EPIPE') this.#log.debug('connection to peer failed', fields);
      else this.#repeat.warn('connection to peer failed', e.code ?? clip(e.message, 200), link.name, fields);
    });
    client.on('destroy', () => {
      if (!current()) return;
      this.#linkDown(link, link.stats.lastError ?? 'connection closed');
      link.client = null;
      this.#scheduleReconnect(link);
    });
  }

  #clientModule(link: Link): IPCModule {
    const ipc = new IPCModule();
    configure(ipc, this.#o);
    ipc.config.id = this.self;
    // node-ipc's own retry is a fixed interval; reconnects are ours.
    ipc.config.maxRetries = 0;
    ipc.config.stopRetrying = true;
    const expected = link.name;
    ipc.config.tls = {
      key: this.#o.creds.key,
      cert: this.#o.creds.cert,
      ca: this.#o.creds.ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      checkServerIdentity: (host: string, cert: tls.PeerCertificate): Error | undefined => {
        const err = tls.checkServerIdentity(host, cert);
        if (err) return err;
        const { cn, ou } = certIdentity(cert);
        if (cn !== expected || ou !== NODE_OU) {
          return new Error(`peer at ${host} presented a certificate for CN=${clip(cn, 64)} OU=${clip(ou, 32)}, expected node ${expected}`);
        }
        return undefined;
      },
    };
    return ipc;
  }

  #teardownClient(link: Link): void {
    if (link.ipc && link.ipc.of[link.name]) link.ipc.disconnect(link.name);
    link.client = null;
  }

  #scheduleReconnect(link: Link): void {
    if (this.#stopped || this.#links.get(link.name) !== link || link.role !== 'dialer' || link.retryTimer) return;
    if (link.connectedAt && !link.penalty && performance.now() - link.connectedAt >= (this.#o.stableMs ?? 5000)) link.attempt = 0;
    link.connectedAt = 0;
    link.penalty = false;
    const delay = backoffDelay(link.attempt, this.#backoff, this.#rng.next());
    link.attempt++;
    // The backoff spaces the *starts* of attempts: an attempt that already
    // waited out its connect deadline (a SYN lost to a partition) is followed
    // by the next one at once, not a whole backoff later — after a heal the
    // link is back within one deadline, not a deadline plus a backoff.
    const waitMs = Math.max(0, Math.round(delay - (performance.now() - link.dialedAt)));
    this.#log.debug('reconnecting to peer', { self: this.self, peer: link.name, attempt: link.attempt, delayMs: delay, waitMs });
    link.retryTimer = setTimeout(() => this.#dial(link), waitMs);
  }

  // ---------------------------------------------------------------- common

  #linkUp(link: Link): void {
    link.connected = true;
    link.connectedAt = performance.now();
    link.stats.connects++;
    if (link.stats.connects > 1) link.stats.reconnects++;
    link.stats.lastError = undefined;
    this.#log.info('link up', { self: this.self, peer: link.name, role: link.role, buffered: link.buffer.length });
    this.#flush(link);
    this.#notify(link.name, true);
  }

  #linkDown(link: Link, reason: string): void {
    if (link.hsTimer) clearTimeout(link.hsTimer);
    link.hsTimer = null;
    link.socket = null;
    if (!link.connected) return;
    link.connected = false;
    this.#log.info('link down', { self: this.self, peer: link.name, reason: clip(reason) });
    this.#notify(link.name, false);
  }

  /** Close whatever connection the link has and cancel its timers. */
  #closeLink(link: Link, reason: string): void {
    if (link.retryTimer) clearTimeout(link.retryTimer);
    link.retryTimer = null;
    const s = link.socket;
    link.gen++;
    this.#linkDown(link, reason);
    if (link.role === 'dialer') this.#teardownClient(link);
    else s?.destroy();
  }

  /** Liveness bookkeeping of a link's socket: any bytes received count. */
  #watch(link: Link, socket: Socket): void {
    const now = performance.now();
    link.lastRecv = now;
    link.lastSend = now;
    socket.on('data', () => {
      if (link.socket === socket) link.lastRecv = performance.now();
    });
  }

  /** Heartbeat tick: ping idle links, close silent ones. */
  #beat(): void {
    if (this.#stopped) return;
    const now = performance.now();
    const { heartbeatMs, idleMs } = this.#timing;
    // A tick that fires late means this process was stalled (a long task,
    // GC, no CPU): bytes that arrived meanwhile are not read yet. Silence is
    // then counted from the end of the stall, so every link gets a full
    // idleMs to show it is alive.
    if (now - this.#lastBeat > 2 * heartbeatMs) this.#stallEnd = now;
    this.#lastBeat = now;
    for (const link of this.#links.values()) {
      const s = link.socket;
      if (!link.connected || !s || s.destroyed) continue;
      const silent = now - Math.max(link.lastRecv, this.#stallEnd);
      if (silent > idleMs) {
        link.stats.idleTimeouts++;
        const reason = `nothing received for over ${idleMs} ms`;
        link.stats.lastError = reason;
        this.#repeat.warn('peer link silent; closing it', reason, link.name, { self: this.self, peer: link.name, silentMs: Math.round(silent) });
        this.#linkDown(link, reason);
        s.destroy();
        continue;
      }
      if (now - link.lastSend >= heartbeatMs / 2) {
        try {
          if (link.role === 'dialer') link.client!.emit('ping', {});
          else this.#server!.emit(s, 'ping', {});
          link.lastSend = now;
        } catch {
          /* the socket is going away */
        }
      }
    }
  }

  #notify(peer: string, up: boolean): void {
    try {
      this.#o.onPeerState?.(peer, up);
    } catch (e) {
      this.#log.error('onPeerState threw', { self: this.self, peer, error: clip((e as Error)?.message) });
    }
  }

  #flush(link: Link): void {
    while (link.connected && link.buffer.length > 0) this.#write(link, link.buffer.shift());
  }

  #write(link: Link, frame: unknown): boolean {
    const s = link.socket;
    if (!s || s.destroyed) return false;
    try {
      if (link.role === 'dialer') link.client!.emit('frame', { p: frame });
      else this.#server!.emit(s, 'frame', { p: frame });
    } catch (e) {
      link.stats.sendErrors++;
      this.#log.warn('frame not sent', { self: this.self, peer: link.name, reason: clip((e as Error)?.message) });
      return false;
    }
    link.stats.framesOut++;
    link.lastSend = performance.now();
    return true;
  }

  #deliver(link: Link, data: unknown, socket: Socket): void {
    if (data === null || typeof data !== 'object' || Array.isArray(data) || !Object.hasOwn(data, 'p') || Object.keys(data).length !== 1) {
      this.#reject(link, socket, 'malformed frame envelope (expected {p})');
      return;
    }
    let r: ValidationResult<T>;
    try {
      r = this.#o.validate((data as { p: unknown }).p);
    } catch (e) {
      r = { ok: false, error: `validator threw: ${(e as Error)?.message}` };
    }
    if (!r || r.ok !== true) {
      this.#reject(link, socket, `invalid frame: ${r && r.ok === false ? r.error : 'validator returned no result'}`);
      return;
    }
    link.stats.framesIn++;
    try {
      this.#o.onFrame(link.name, r.value);
    } catch (e) {
      this.#log.error('onFrame threw', { self: this.self, peer: link.name, error: clip((e as Error)?.message) });
    }
  }

  /** An authenticated peer misbehaved: close this one connection. */
  #reject(link: Link, socket: Socket, reason: string): void {
    link.stats.rejected++;
    link.stats.lastError = reason;
    link.penalty = true;
    this.#repeat.warn('closing connection to peer', clip(reason, 300), link.name, { self: this.self, peer: link.name, reason: clip(reason, 300) });
    if (link.socket === socket) this.#linkDown(link, reason);
    socket.destroy();
  }

  #protocolError(peer: string | undefined, socket: Socket, error: Error & { code?: string }, certificate?: string): void {
    const link = peer === undefined ? undefined : this.#links.get(peer);
    const reason = `${error.code ?? 'ERR_IPC_PROTOCOL'}: ${error.message}`;
    if (link && (link.socket === socket || link.role === 'dialer')) {
      link.stats.rejected++;
      link.stats.lastError = reason;
      link.penalty = true;
      if (link.socket === socket) this.#linkDown(link, reason);
    } else {
      // Not a link: an inbound connection that has not sent its hello yet.
      this.#gate.refuse(rawOf(socket), 'protocol', reason);
    }
    const source = link ? link.name : (rawOf(socket).remoteAddress ?? '?');
    this.#repeat.warn('protocol error; closing connection', error.code ?? 'ERR_IPC_PROTOCOL', source, { self: this.self, peer, certificate, remote: remote(socket), reason: clip(reason) });
  }
}

function configure(ipc: IPCModule, o: { maxFrameBytes?: number; maxPendingBytes?: number; frameTimeoutMs?: number }): void {
  const c = ipc.config;
  c.silent = true;
  c.logPayloads = false;
  c.parser = 'assured';
  c.allowedEvents = EVENTS;
  c.maxMessageSize = o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  c.maxPendingBytes = o.maxPendingBytes ?? 16 * 1024 * 1024;
  c.messageTimeout = o.frameTimeoutMs ?? 10_000;
  c.identifyPeer = false;
  c.sync = false;
}

function first(v: unknown): string {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : '';
  return typeof v === 'string' ? v : '';
}

function certIdentity(cert: tls.PeerCertificate | undefined): { cn: string; ou: string } {
  const subject = cert?.subject as unknown as Record<string, unknown> | undefined;
  // A certificate with several CNs or OUs is not ours: refuse rather than pick one.
  if (!subject || Array.isArray(subject.CN) || Array.isArray(subject.OU)) return { cn: '', ou: '' };
  return { cn: first(subject.CN), ou: first(subject.OU) };
}

function checkOwnCert(self: string, creds: NodeCredentials): void {
  if (!creds || typeof creds.cert !== 'string' || typeof creds.key !== 'string' || typeof creds.ca !== 'string') {
    throw new TypeError('NodeTransport needs creds {key, cert, ca} (see loadNodeCredentials)');
  }
  let subject: Record<string, string>;
  try {
    subject = parseSubject(new X509Certificate(creds.cert).subject);
  } catch (e) {
    throw new Error(`NodeTransport ${self}: certificate is not valid PEM: ${(e as Error).message}`);
  }
  if (subject.CN !== self || subject.OU !== NODE_OU) {
    throw new Error(`NodeTransport ${self}: its certificate is for CN=${subject.CN} OU=${subject.OU}, not node ${self}`);
  }
}

/** The TCP socket under an inbound TLS socket (the gate's key); the socket itself otherwise. */
function rawOf(s: Socket): Socket {
  const parent = (s as unknown as { _parent?: unknown })._parent;
  return parent && typeof parent === 'object' ? (parent as Socket) : s;
}

function remote(s: Socket): string {
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}
