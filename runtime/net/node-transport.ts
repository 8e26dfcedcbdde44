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
// Wire events: hello, welcome, frame (node-ipc allowedEvents; anything else
// closes the connection inside node-ipc). A frame's data must be exactly
// `{p: payload}`; the payload is passed to the injected `validate` before it
// becomes a message. A frame failing the envelope or the validator closes that
// one connection (logged with the reason), and nothing else. Delivery is
// at-most-once: frames written into a connection that then dies are lost.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { Server as NetServer, Socket } from 'node:net';
import { IPCModule } from 'node-ipc';
import type { IPCClient, IPCServer } from 'node-ipc';
import { z } from 'zod';
import { backoffDelay, cryptoRandom, resolveBackoff } from './backoff.ts';
import type { BackoffPolicy, RandomSource } from './backoff.ts';
import { clip, nullLogger } from './log.ts';
import type { NetLogger } from './log.ts';
import { NODE_OU, assertValidName, parseSubject } from './pki.ts';
import type { NodeCredentials } from './pki.ts';

export { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
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
  backoff?: Partial<BackoffPolicy>;
  /** A link that stayed up this long resets the backoff attempt counter. Default 5000 ms. */
  stableMs?: number;
  /** Largest frame on the wire (JSON bytes, node-ipc maxMessageSize). Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bytes queued for write on one socket before node-ipc closes it. Default 16 MiB. */
  maxPendingBytes?: number;
  /** Frames buffered per peer while its link is down; the oldest are dropped beyond this. Default 1024. */
  maxBufferedFrames?: number;
  /** Time for TLS + hello/welcome before a connection is dropped. Default 5000 ms. */
  handshakeTimeoutMs?: number;
  /** Time an incomplete frame may stay buffered (node-ipc messageTimeout). Default 10000 ms. */
  frameTimeoutMs?: number;
  /** Max simultaneous inbound sockets. Default 256. */
  maxConnections?: number;
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
  lastError?: string;
}

export interface TransportStats {
  peers: Record<string, PeerStats>;
  /** Inbound connections refused before they were attributed to a peer (TLS failures, unknown or mis-named peers). */
  refused: number;
}

const EVENTS = ['hello', 'welcome', 'frame'];
const PROTOCOL_VERSION = 1;
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
  hsTimer: NodeJS.Timeout | null;
  connectedAt: number;
  /** The last connection was closed for misbehaviour: do not reset the backoff. */
  penalty: boolean;
  buffer: unknown[];
  stats: PeerStats;
}

interface Pending {
  cn: string;
  timer: NodeJS.Timeout;
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
  /** Inbound sockets that passed TLS but have not sent hello yet. */
  #pending = new Map<Socket, Pending>();
  /** Inbound socket -> peer name, once hello was accepted. */
  #inbound = new WeakMap<Socket, string>();
  #refused = 0;
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
    this.#backoff = resolveBackoff(opts.backoff);
    for (const [name, addr] of Object.entries(opts.peers ?? {})) this.addPeer(name, addr);
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
    ipc.config.maxConnections = o.maxConnections ?? 256;
    ipc.config.tls = {
      key: o.creds.key,
      cert: o.creds.cert,
      ca: o.creds.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      handshakeTimeout: o.handshakeTimeoutMs ?? 5000,
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
    return { peers, refused: this.#refused };
  }

  /** Close every socket and timer. Idempotent; the transport cannot be restarted. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const link of this.#links.values()) {
      this.#closeLink(link, 'transport stopped');
      link.buffer = [];
    }
    for (const [sock, p] of this.#pending) {
      clearTimeout(p.timer);
      sock.destroy();
    }
    this.#pending.clear();
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
    const remotes = new WeakMap<Socket, string>();
    net.on('connection', (s: Socket) => {
      this.#raw.add(s);
      remotes.set(s, remote(s));
      s.once('close', () => this.#raw.delete(s));
    });
    net.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
      this.#refused++;
      // node's TLS server verifies the client certificate after OpenSSL's
      // handshake and, with rejectUnauthorized, destroys the socket without
      // an error of its own: the reason is in authorizationError, and the
      // event only says "socket hang up".
      const authz = s.authorizationError;
      const parent = (s as unknown as { _parent?: Socket })._parent;
      this.#log.warn('refused inbound connection: TLS handshake failed', {
        self: this.self,
        remote: (parent && remotes.get(parent)) ?? remote(s),
        reason: authz ? `client certificate rejected: ${String(authz)}` : clip(err.message),
        code: err.code,
      });
    });
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
        clearTimeout(pending.timer);
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
      const name = this.#inbound.get(socket);
      const link = name === undefined ? undefined : this.#links.get(name);
      if (!link || link.socket !== socket) {
        this.#refuse(socket, this.#pending.get(socket)?.cn, 'frame before hello');
        return;
      }
      this.#deliver(link, data, socket);
    });
    server.on('welcome', (_data: unknown, socket: Socket) => {
      const name = this.#inbound.get(socket);
      const link = name === undefined ? undefined : this.#links.get(name);
      if (link && link.socket === socket) this.#reject(link, socket, 'unexpected welcome from the dialing side');
      else this.#refuse(socket, this.#pending.get(socket)?.cn, 'unexpected welcome');
    });
    server.on('close', (socket: Socket) => {
      const p = this.#pending.get(socket);
      if (p) {
        clearTimeout(p.timer);
        this.#pending.delete(socket);
      }
      const name = this.#inbound.get(socket);
      const link = name === undefined ? undefined : this.#links.get(name);
      if (link && link.socket === socket) this.#linkDown(link, 'connection closed');
    });
  }

  #onInbound(socket: Socket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const ts = socket as tls.TLSSocket;
    if (typeof ts.getPeerCertificate !== 'function' || ts.authorized !== true) {
      this.#refuse(socket, undefined, `client certificate not verified (${ts.authorizationError ?? 'no TLS'})`);
      return;
    }
    const { cn, ou } = certIdentity(ts.getPeerCertificate());
    if (ou !== NODE_OU) {
      this.#refuse(socket, undefined, `certificate CN=${clip(cn, 64)} OU=${clip(ou, 32)} is not a node certificate`);
      return;
    }
    const link = this.#links.get(cn);
    if (!link) {
      this.#refuse(socket, undefined, `unknown peer ${clip(cn, 64)}`);
      return;
    }
    if (link.role !== 'acceptor') {
      this.#refuse(socket, undefined, `peer ${cn} must not dial ${this.self}: the lower name dials`);
      return;
    }
    socket.setKeepAlive(true, 10_000);
    const timer = setTimeout(() => this.#refuse(socket, cn, 'no hello before handshake timeout'), this.#o.handshakeTimeoutMs ?? 5000);
    this.#pending.set(socket, { cn, timer });
    this.#log.debug('inbound TLS connection authenticated', { self: this.self, peer: cn, remote: remote(socket) });
  }

  #onHello(data: unknown, socket: Socket): void {
    if (socket.destroyed) return;
    const p = this.#pending.get(socket);
    if (!p) {
      const name = this.#inbound.get(socket);
      const link = name === undefined ? undefined : this.#links.get(name);
      if (link && link.socket === socket) this.#reject(link, socket, 'duplicate hello');
      else this.#refuse(socket, undefined, 'hello on an unauthenticated connection');
      return;
    }
    const h = helloSchema.safeParse(data);
    if (!h.success) {
      this.#refuse(socket, p.cn, `malformed hello: ${clip(h.error.issues[0]?.message ?? 'invalid')}`);
      return;
    }
    if (h.data.from !== p.cn) {
      this.#refuse(socket, p.cn, `peer claims to be ${h.data.from} but its certificate says ${p.cn}`);
      return;
    }
    if (h.data.to !== this.self) {
      this.#refuse(socket, p.cn, `hello addressed to ${h.data.to}, this node is ${this.self}`);
      return;
    }
    const link = this.#links.get(p.cn);
    if (!link) {
      this.#refuse(socket, p.cn, `peer ${p.cn} was removed`);
      return;
    }
    clearTimeout(p.timer);
    this.#pending.delete(socket);
    if (link.socket && link.socket !== socket) {
      const old = link.socket;
      this.#log.info('peer reconnected; replacing its previous connection', { self: this.self, peer: link.name });
      this.#linkDown(link, 'replaced by a newer connection');
      old.destroy();
    }
    this.#inbound.set(socket, link.name);
    link.socket = socket;
    this.#server!.emit(socket, 'welcome', { v: PROTOCOL_VERSION, from: this.self, to: link.name });
    this.#linkUp(link);
  }

  #refuse(socket: Socket, peer: string | undefined, reason: string): void {
    const p = this.#pending.get(socket);
    if (p) {
      clearTimeout(p.timer);
      this.#pending.delete(socket);
    }
    this.#refused++;
    this.#log.warn('refused inbound connection', { self: this.self, certificate: peer, remote: remote(socket), reason });
    socket.destroy();
  }

  // ---------------------------------------------------------------- dialer

  #dial(link: Link): void {
    if (this.#stopped || this.#links.get(link.name) !== link || link.role !== 'dialer') return;
    link.retryTimer = null;
    this.#teardownClient(link);
    const gen = ++link.gen;
    link.stats.dials++;
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
    client.on('connect', () => {
      if (!current()) return;
      const s = sock();
      s?.setKeepAlive(true, 10_000);
      this.#log.debug('TLS connected to peer; sending hello', { self: this.self, peer: link.name });
      client.emit('hello', { v: PROTOCOL_VERSION, from: this.self, to: link.name });
      link.hsTimer = setTimeout(() => {
        link.hsTimer = null;
        if (current() && !link.connected) {
          link.penalty = true;
          link.stats.lastError = 'no welcome before handshake timeout';
          this.#log.warn('peer did not answer hello; closing', { self: this.self, peer: link.name });
          sock()?.destroy();
        }
      }, this.#o.handshakeTimeoutMs ?? 5000);
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
      this.#linkUp(link);
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
      const quiet = e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EPIPE';
      this.#log[quiet ? 'debug' : 'warn']('connection to peer failed', {
        self: this.self,
        peer: link.name,
        error: clip(e.message),
        code: e.code,
      });
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
    if (link.connectedAt && !link.penalty && Date.now() - link.connectedAt >= (this.#o.stableMs ?? 5000)) link.attempt = 0;
    link.connectedAt = 0;
    link.penalty = false;
    const delay = backoffDelay(link.attempt, this.#backoff, this.#rng.next());
    link.attempt++;
    this.#log.debug('reconnecting to peer', { self: this.self, peer: link.name, attempt: link.attempt, delayMs: delay });
    link.retryTimer = setTimeout(() => this.#dial(link), delay);
  }

  // ---------------------------------------------------------------- common

  #linkUp(link: Link): void {
    link.connected = true;
    link.connectedAt = Date.now();
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
    this.#log.warn('closing connection to peer', { self: this.self, peer: link.name, reason: clip(reason, 300) });
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
      this.#refused++;
    }
    this.#log.warn('protocol error; closing connection', { self: this.self, peer, certificate, remote: remote(socket), reason: clip(reason) });
  }
}

function configure(ipc: IPCModule, o: { maxFrameBytes?: number; maxPendingBytes?: number; frameTimeoutMs?: number }): void {
  const c = ipc.config;
  c.silent = true;
  c.logPayloads = false;
  c.parser = 'assured';
  c.allowedEvents = EVENTS;
  c.maxMessageSize = o.maxFrameBytes ?? 1024 * 1024;
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

function remote(s: Socket): string {
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}
