// Local control socket: how the CLI talks to the node on the same machine.
//
// A UNIX domain socket served through node-ipc 14.0.0 in its `assured`
// profile: the socket lives directly inside `dir`, which node-ipc's
// secureSocketRoot creates (or checks) as a real directory owned by us with
// mode 0700; the socket itself is chmod 0600 right after bind. node-ipc leaves
// it to clients to verify the endpoint before connecting, so the client checks
// that the directory and socket are ours and not accessible to others.
//
// On top of the file permissions every request carries the API key, checked
// in constant time. A connection counts as authenticated from its first
// request with the right key; until then it is held by the listener gate
// (listener-gate.ts): it must send that request within handshakeTimeoutMs
// (default 2 s), a wrong key or a malformed first request closes it, and at
// most maxConnections − reservedConnections connections are unauthenticated
// at once (the oldest is closed to admit a newer one), so idle connections
// cannot lock authenticated clients out. Connection-level refusals reach the
// client as `res {id: null, ok: false, error}` just before the close.
// Repeated warnings go through RepeatLog (one line per burst, rate-limited).
//
// Requests are validated with zod before dispatch; replies are `{id, ok:
// true, result}` or `{id, ok: false, error: {code, message}}` (never a stack
// trace). Keys are never logged: log lines carry the request id and method
// only.
//
// Wire events (node-ipc allowedEvents):
//   client -> server  req    {id, key, method, params?, stream?}
//                     cancel {id, key}
//   server -> client  res    {id, ok, result | error}
//                     ev     {id, data}          (stream events)
//                     end    {id, error?}        (stream finished server-side)
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { Socket } from 'node:net';
import path from 'node:path';
import { IPCModule } from 'node-ipc';
import type { IPCClient, IPCServer } from 'node-ipc';
import { z } from 'zod';
import { ListenerGate, resolveLimits } from './listener-gate.ts';
import type { ListenerStats, RefuseReason } from './listener-gate.ts';
import { RepeatLog, clip, nullLogger } from './log.ts';
import type { NetLogger, RepeatLogOptions } from './log.ts';

export const LOCAL_SOCKET_NAME = 'acp.sock';
const EVENTS = ['req', 'cancel', 'res', 'ev', 'end'];
/** Longest path a UNIX socket can bind on Linux (sun_path minus the NUL); macOS allows 103. */
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

export type LocalErrorCode =
  | 'ENOTRUNNING'
  | 'EAUTH'
  | 'ETIMEDOUT'
  | 'EDISCONNECTED'
  | 'EBADREQUEST'
  | 'ENOMETHOD'
  | 'EINTERNAL'
  | 'EUNSAFE'
  | 'ECLOSED'
  | 'EBUSY'
  | (string & {});

export interface ApiErrorBody {
  code: string;
  message: string;
}

/** Error thrown by the client, and throwable by handlers to choose the code sent back. */
export class LocalApiError extends Error {
  readonly code: LocalErrorCode;
  constructor(code: LocalErrorCode, message: string) {
    super(message);
    this.name = 'LocalApiError';
    this.code = code;
  }
}

export interface RequestContext {
  /** Request id, for logs. */
  id: number;
  method: string;
  /** Aborted when the client disconnects (or the server stops). */
  signal: AbortSignal;
}

export type Handler = (params: unknown, ctx: RequestContext) => unknown | Promise<unknown>;

/** A method with its params schema: params are parsed before the handler runs. */
export interface MethodSpec<S extends z.ZodType = z.ZodType> {
  params: S;
  run: (params: z.output<S>, ctx: RequestContext) => unknown | Promise<unknown>;
}

export interface StreamSink {
  /** Send one event to the subscriber. Returns false if the subscriber is gone. */
  next(data: unknown): boolean;
  /** Finish the stream (optionally with an error shown to the client). */
  end(error?: ApiErrorBody): void;
  readonly closed: boolean;
}

/** A streaming method: set up a subscription and return its teardown. */
export type StreamHandler = (params: unknown, sink: StreamSink, ctx: RequestContext) => void | (() => void) | Promise<void | (() => void)>;

export interface StreamSpec<S extends z.ZodType = z.ZodType> {
  params: S;
  run: (params: z.output<S>, sink: StreamSink, ctx: RequestContext) => void | (() => void) | Promise<void | (() => void)>;
}

/** Define a request/response method with a params schema (keeps the param type). */
export function method<S extends z.ZodType>(params: S, run: MethodSpec<S>['run']): MethodSpec<S> {
  return { params, run };
}

/** Define a streaming method with a params schema. */
export function streamMethod<S extends z.ZodType>(params: S, run: StreamSpec<S>['run']): StreamSpec<S> {
  return { params, run };
}

export interface LocalApiServerOptions {
  /** Socket directory: created 0700 if missing, must be owned by us. */
  dir: string;
  apiKey: string;
  handlers: Record<string, Handler | MethodSpec<any>>;
  streams?: Record<string, StreamHandler | StreamSpec<any>>;
  log?: NetLogger;
  /** Server-side cap on a handler's run time; the client gets ETIMEDOUT. Default 60000 ms. */
  handlerTimeoutMs?: number;
  /** Largest request frame in bytes. Default 1 MiB. */
  maxRequestBytes?: number;
  /** Bytes queued to a slow client before its connection is closed. Default 8 MiB. */
  maxPendingBytes?: number;
  /** Max simultaneous client connections, authenticated or not. Default 64. */
  maxConnections?: number;
  /** Connections only authenticated clients may hold (at most maxConnections − this are unauthenticated). Default maxConnections / 4. */
  reservedConnections?: number;
  /** Time from connect to the first request with the right API key before the connection is closed. Default 2000 ms. */
  handshakeTimeoutMs?: number;
  /** Aggregation of repeated warnings (windows, rate limit); see RepeatLog. */
  repeatLog?: Partial<RepeatLogOptions>;
}

/** Where repeated control-socket warnings say they come from (a UNIX socket has no address). */
const LOCAL_SOURCE = 'local client';
const REFUSED_HANDSHAKE = 'control socket: refused handshake';
const REFUSED_CONNECTION = 'control socket: refused connection';

const reqId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const requestSchema = z.strictObject({
  id: reqId,
  key: z.string().max(512),
  method: z.string().min(1).max(128).regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, 'method names are letters, digits and _.:-'),
  params: z.unknown().optional(),
  stream: z.boolean().optional(),
});
const cancelSchema = z.strictObject({ id: reqId, key: z.string().max(512) });
const errorBody = z.strictObject({ code: z.string().max(64), message: z.string().max(4096) });
const resSchema = z.union([
  z.strictObject({ id: reqId.nullable(), ok: z.literal(true), result: z.unknown().optional() }),
  z.strictObject({ id: reqId.nullable(), ok: z.literal(false), error: errorBody }),
]);
const evSchema = z.strictObject({ id: reqId, data: z.unknown().optional() });
const endSchema = z.strictObject({ id: reqId, error: errorBody.optional() });

export function localSocketPath(dir: string): string {
  return path.join(path.resolve(dir), LOCAL_SOCKET_NAME);
}

interface Conn {
  socket: Socket;
  inflight: Map<number, AbortController>;
  streams: Map<number, { teardown: (() => void) | null; sink: StreamSink; abort: AbortController }>;
}

export class LocalApiServer {
  readonly dir: string;
  readonly socketPath: string;
  #o: LocalApiServerOptions;
  #log: NetLogger;
  #keyDigest: Buffer;
  #ipc: IPCModule | null = null;
  #server: IPCServer | null = null;
  #conns = new Map<Socket, Conn>();
  #gate: ListenerGate<Socket>;
  #repeat: RepeatLog;
  #started = false;
  #stopped = false;

  constructor(opts: LocalApiServerOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey.length < 16) throw new TypeError('LocalApiServer needs an apiKey of at least 16 characters');
    this.#o = opts;
    this.#log = opts.log ?? nullLogger;
    this.dir = path.resolve(opts.dir);
    this.socketPath = localSocketPath(opts.dir);
    this.#keyDigest = digest(opts.apiKey);
    this.#gate = new ListenerGate<Socket>(
      resolveLimits('LocalApiServer', opts.maxConnections ?? 64, opts.reservedConnections, opts.handshakeTimeoutMs ?? 2000),
      (socket, reason, detail) => this.#gateClose(socket, reason, detail),
    );
    this.#repeat = new RepeatLog(this.#log, opts.repeatLog);
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) {
      throw new LocalApiError('EINVAL', `socket path ${this.socketPath} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter directory`);
    }
  }

  async start(): Promise<void> {
    if (this.#stopped) throw new Error('LocalApiServer: cannot start after stop()');
    if (this.#started) throw new Error('LocalApiServer: already started');
    this.#started = true;
    // node-ipc unlinks a leftover socket before binding; make sure it is not
    // the socket of a node that is still running.
    if (await answers(this.socketPath)) {
      throw new LocalApiError('EADDRINUSE', `a node is already running in ${this.dir} (its control socket answers)`);
    }
    const ipc = new IPCModule();
    const c = ipc.config;
    c.silent = true;
    c.logPayloads = false;
    c.parser = 'assured';
    c.allowedEvents = EVENTS;
    c.socketRoot = this.dir + path.sep;
    c.secureSocketRoot = true;
    c.readableAll = false;
    c.writableAll = false;
    c.unlink = true;
    c.maxMessageSize = this.#o.maxRequestBytes ?? 1024 * 1024;
    c.maxPendingBytes = this.#o.maxPendingBytes ?? 8 * 1024 * 1024;
    // The gate enforces the limit (it closes the oldest unauthenticated
    // connection to admit a new one); net's own cap, which refuses the newest
    // instead, is only a backstop above it.
    c.maxConnections = this.#gate.limits.limit * 2 + 1;
    c.messageTimeout = 10_000;
    c.identifyPeer = false;
    ipc.serve(this.socketPath);
    const server = ipc.server as IPCServer;
    this.#ipc = ipc;
    this.#server = server;

    const original = server.protocolFailure.bind(server);
    server.protocolFailure = (socket: Socket, error: Error & { code?: string }) => {
      const reason = `protocol error ${error.code ?? 'ERR_IPC_PROTOCOL'}`;
      if (this.#gate.isPending(socket)) {
        this.#repeat.warn(REFUSED_HANDSHAKE, reason, LOCAL_SOURCE, { reason, source: LOCAL_SOURCE, detail: clip(error.message) });
        this.#gate.refuse(socket, 'protocol', reason);
      } else {
        this.#repeat.warn('control socket: protocol error; closing client connection', reason, LOCAL_SOURCE, { code: error.code, reason: clip(error.message) });
      }
      original(socket, error);
    };
    server.on('connect', (socket: Socket) => {
      if (this.#stopped) {
        socket.destroy();
        return;
      }
      this.#conns.set(socket, { socket, inflight: new Map(), streams: new Map() });
      this.#gate.admit(socket);
    });
    server.on('close', (socket: Socket) => {
      this.#gate.release(socket);
      this.#dropConn(socket);
    });
    server.on('req', (data: unknown, socket: Socket) => {
      void this.#onRequest(data, socket);
    });
    server.on('cancel', (data: unknown, socket: Socket) => this.#onCancel(data, socket));
    for (const ev of ['res', 'ev', 'end']) {
      server.on(ev, (_d: unknown, socket: Socket) => {
        if (this.#gate.refuse(socket, 'protocol', `sent the server-only event ${ev}`)) {
          this.#repeat.warn(REFUSED_HANDSHAKE, `server-only event ${ev}`, LOCAL_SOURCE, { reason: `server-only event ${ev}`, source: LOCAL_SOURCE });
          return;
        }
        this.#repeat.warn('control socket: client sent a server-only event; closing its connection', ev, LOCAL_SOURCE, { event: ev });
        socket.destroy();
      });
    }

    await new Promise<void>((resolve, reject) => {
      const onStart = () => {
        server.off('error', onError);
        resolve();
      };
      const onError = (e: Error) => {
        server.off('start', onStart);
        reject(new LocalApiError('ELISTEN', `cannot listen on ${this.socketPath}: ${e.message}`));
      };
      server.once('start', onStart);
      server.once('error', onError);
      try {
        server.start();
      } catch (e) {
        reject(new LocalApiError('ELISTEN', `cannot listen on ${this.socketPath}: ${(e as Error).message}`));
      }
    }).catch(async (e) => {
      await this.stop();
      throw e;
    });
    server.on('error', (e: Error) => this.#log.debug('control socket: connection error', { error: clip(e.message) }));
    if (server.server) {
      server.server.on('drop', () => {
        this.#gate.countRefusal('full');
        this.#repeat.warn(REFUSED_CONNECTION, 'over the backstop connection limit', LOCAL_SOURCE, { reason: 'over the backstop connection limit', source: LOCAL_SOURCE });
      });
    }
    // Directory is 0700 already (the real boundary); the socket too, so it
    // stays private even if someone loosens the directory later.
    fs.chmodSync(this.socketPath, 0o600);
    this.#log.info('control socket listening', { path: this.socketPath });
  }

  /** Close the listener and every client connection (pending requests are aborted). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#gate.clear();
    this.#repeat.close();
    for (const socket of [...this.#conns.keys()]) {
      this.#dropConn(socket);
      socket.destroy();
    }
    const server = this.#server;
    this.#server = null;
    this.#ipc = null;
    const ns = server && server.server;
    if (server && ns && ns.listening) {
      await new Promise<void>((resolve) => {
        ns.once('close', () => resolve());
        server.stop();
      });
    } else if (server) {
      server.stop();
    }
    // net removes the socket file on close; make sure a half-started server does not leave one.
    try {
      if (fs.lstatSync(this.socketPath).isSocket()) fs.unlinkSync(this.socketPath);
    } catch {
      /* gone */
    }
  }

  get connections(): number {
    return this.#conns.size;
  }

  /** Connection limit, current counts and refusals by reason (for `acp status`). */
  stats(): ListenerStats {
    return this.#gate.stats();
  }

  /** The gate closes a connection: tell the client why (if it is listening), then close. */
  #gateClose(socket: Socket, reason: RefuseReason, detail: string): void {
    const tell: Partial<Record<RefuseReason, ApiErrorBody>> = {
      full: { code: 'EBUSY', message: `the node's control socket is at its limit of ${this.#gate.limits.limit} connections` },
      evicted: { code: 'EBUSY', message: 'the node closed this connection to admit newer ones: too many connections without a request' },
      handshakeTimeout: { code: 'ETIMEDOUT', message: `no request with an API key within ${this.#gate.limits.handshakeTimeoutMs} ms of connecting` },
    };
    const body = tell[reason];
    if (body) {
      this.#repeat.warn(REFUSED_CONNECTION, detail, LOCAL_SOURCE, { reason: detail, source: LOCAL_SOURCE });
      this.#reply(socket, { id: null, ok: false, error: body });
    }
    this.#dropConn(socket);
    if (reason === 'full') {
      // Every slot is held by authenticated clients (strangers cannot cause
      // this): let the client read why before the close, whatever it writes
      // meanwhile. Bounded: destroyed when the client closes or after 1 s.
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      // Possibly a flood: close at once. The small reply is already written
      // to the socket and is read by a client that is not writing.
      socket.destroy();
    }
  }

  /**
   * First message on an unauthenticated connection: it authenticates with the
   * right key, or is closed. True if the connection may go on.
   */
  #authenticate(socket: Socket, data: unknown, what: string): boolean {
    if (!this.#gate.isPending(socket)) return true;
    const key = data && typeof data === 'object' && !Array.isArray(data) ? (data as { key?: unknown }).key : undefined;
    if (typeof key === 'string' && key.length <= 512 && this.#checkKey(key)) {
      this.#gate.authenticate(socket);
      return true;
    }
    const id = idOf(data);
    if (typeof key === 'string') {
      const reason = 'API key rejected';
      this.#repeat.warn(REFUSED_HANDSHAKE, reason, LOCAL_SOURCE, { reason, source: LOCAL_SOURCE, id, method: what === 'req' ? clip(methodOf(data), 64) : '(cancel)' });
      this.#reply(socket, { id, ok: false, error: { code: 'EAUTH', message: 'API key rejected' } });
      this.#gate.refuse(socket, 'auth', reason);
    } else {
      const reason = `malformed ${what === 'req' ? 'request' : 'cancel'} before authentication`;
      this.#repeat.warn(REFUSED_HANDSHAKE, reason, LOCAL_SOURCE, { reason, source: LOCAL_SOURCE, id });
      this.#reply(socket, { id, ok: false, error: { code: 'EBADREQUEST', message: `malformed ${what === 'req' ? 'request' : 'cancel'}: no API key` } });
      this.#gate.refuse(socket, 'protocol', reason);
    }
    return false;
  }

  #dropConn(socket: Socket): void {
    const conn = this.#conns.get(socket);
    if (!conn) return;
    this.#conns.delete(socket);
    for (const a of conn.inflight.values()) a.abort();
    for (const [id, s] of conn.streams) this.#endStream(conn, id, s, undefined, false);
  }

  #reply(socket: Socket, body: { id: number | null; ok: true; result: unknown } | { id: number | null; ok: false; error: ApiErrorBody }): void {
    if (socket.destroyed || !this.#server) return;
    try {
      this.#server.emit(socket, 'res', body);
    } catch (e) {
      // Result not encodable (too large, not JSON): tell the client instead.
      this.#log.warn('control socket: reply not sent', { id: body.id, reason: clip((e as Error).message) });
      if (body.ok) this.#server.emit(socket, 'res', { id: body.id, ok: false, error: { code: 'EINTERNAL', message: `result could not be sent: ${clip((e as Error).message, 200)}` } });
    }
  }

  #checkKey(key: string): boolean {
    return crypto.timingSafeEqual(digest(key), this.#keyDigest);
  }

  async #onRequest(data: unknown, socket: Socket): Promise<void> {
    const conn = this.#conns.get(socket);
    if (!conn || socket.destroyed) return;
    if (!this.#authenticate(socket, data, 'req')) return;
    const parsed = requestSchema.safeParse(data);
    if (!parsed.success) {
      const id = idOf(data);
      this.#repeat.warn('control socket: malformed request', describe(parsed.error), LOCAL_SOURCE, { id, issue: clip(describe(parsed.error)) });
      this.#reply(socket, { id, ok: false, error: { code: 'EBADREQUEST', message: `malformed request: ${describe(parsed.error)}` } });
      return;
    }
    const req = parsed.data;
    if (!this.#checkKey(req.key)) {
      this.#repeat.warn('control socket: API key rejected', 'API key rejected', LOCAL_SOURCE, { id: req.id, method: req.method });
      this.#reply(socket, { id: req.id, ok: false, error: { code: 'EAUTH', message: 'API key rejected' } });
      return;
    }
    if (conn.inflight.has(req.id) || conn.streams.has(req.id)) {
      this.#reply(socket, { id: req.id, ok: false, error: { code: 'EBADREQUEST', message: `request id ${req.id} is already in use` } });
      return;
    }
    this.#log.debug('control socket: request', { id: req.id, method: req.method, stream: req.stream === true });
    if (req.stream) await this.#startStream(conn, req.id, req.method, req.params);
    else await this.#runHandler(conn, req.id, req.method, req.params);
  }

  async #runHandler(conn: Conn, id: number, name: string, rawParams: unknown): Promise<void> {
    const spec = Object.hasOwn(this.#o.handlers, name) ? this.#o.handlers[name] : undefined;
    if (!spec) {
      const hint = this.#o.streams && Object.hasOwn(this.#o.streams, name) ? ' (it is a stream: subscribe to it)' : '';
      this.#reply(conn.socket, { id, ok: false, error: { code: 'ENOMETHOD', message: `unknown method ${name}${hint}` } });
      return;
    }
    const params = parseParams(spec, rawParams);
    if (!params.ok) {
      this.#reply(conn.socket, { id, ok: false, error: params.error });
      return;
    }
    const abort = new AbortController();
    conn.inflight.set(id, abort);
    const limit = this.#o.handlerTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = typeof spec === 'function' ? spec : spec.run;
      const result = await Promise.race([
        Promise.resolve().then(() => run(params.value, { id, method: name, signal: abort.signal })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LocalApiError('ETIMEDOUT', `${name} did not finish within ${limit} ms`)), limit);
        }),
      ]);
      this.#reply(conn.socket, { id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      const body = errorToBody(e);
      if (body.code === 'EINTERNAL') {
        this.#log.error('control socket: handler failed', { id, method: name, error: clip((e as Error)?.stack ?? String(e), 2000) });
      }
      this.#reply(conn.socket, { id, ok: false, error: body });
    } finally {
      clearTimeout(timer);
      abort.abort();
      conn.inflight.delete(id);
    }
  }

  async #startStream(conn: Conn, id: number, name: string, rawParams: unknown): Promise<void> {
    const streams = this.#o.streams ?? {};
    const spec = Object.hasOwn(streams, name) ? streams[name] : undefined;
    if (!spec) {
      this.#reply(conn.socket, { id, ok: false, error: { code: 'ENOMETHOD', message: `unknown stream ${name}` } });
      return;
    }
    const params = parseParams(spec, rawParams);
    if (!params.ok) {
      this.#reply(conn.socket, { id, ok: false, error: params.error });
      return;
    }
    const abort = new AbortController();
    const socket = conn.socket;
    const entry = { teardown: null as (() => void) | null, sink: null as unknown as StreamSink, abort };
    let closed = false;
    const sink: StreamSink = {
      next: (d: unknown) => {
        if (closed || socket.destroyed || !this.#server) return false;
        try {
          this.#server.emit(socket, 'ev', { id, data: d });
          return true;
        } catch (e) {
          this.#log.warn('control socket: stream event not sent', { id, method: name, reason: clip((e as Error).message) });
          return false;
        }
      },
      end: (error?: ApiErrorBody) => {
        if (closed) return;
        this.#endStream(conn, id, entry, error, true);
      },
      get closed() {
        return closed;
      },
    };
    entry.sink = sink;
    const markClosed = () => {
      closed = true;
    };
    abort.signal.addEventListener('abort', markClosed);
    conn.streams.set(id, entry);
    // Acknowledge first, so the client knows the subscription exists before events arrive.
    this.#reply(socket, { id, ok: true, result: { stream: true } });
    try {
      const run = typeof spec === 'function' ? spec : spec.run;
      const teardown = await run(params.value, sink, { id, method: name, signal: abort.signal });
      if (typeof teardown === 'function') {
        if (conn.streams.get(id) === entry) entry.teardown = teardown;
        else safeCall(teardown, this.#log);
      }
    } catch (e) {
      const body = errorToBody(e);
      if (body.code === 'EINTERNAL') this.#log.error('control socket: stream handler failed', { id, method: name, error: clip((e as Error)?.stack ?? String(e), 2000) });
      if (conn.streams.get(id) === entry) this.#endStream(conn, id, entry, body, true);
    }
  }

  #endStream(conn: Conn, id: number, entry: { teardown: (() => void) | null; abort: AbortController }, error: ApiErrorBody | undefined, notify: boolean): void {
    if (conn.streams.get(id) !== entry) return;
    conn.streams.delete(id);
    entry.abort.abort();
    if (entry.teardown) safeCall(entry.teardown, this.#log);
    entry.teardown = null;
    if (notify && !conn.socket.destroyed && this.#server) {
      this.#server.emit(conn.socket, 'end', error ? { id, error } : { id });
    }
  }

  #onCancel(data: unknown, socket: Socket): void {
    const conn = this.#conns.get(socket);
    if (!conn || socket.destroyed) return;
    if (!this.#authenticate(socket, data, 'cancel')) return;
    const parsed = cancelSchema.safeParse(data);
    if (!parsed.success) {
      this.#reply(socket, { id: idOf(data), ok: false, error: { code: 'EBADREQUEST', message: `malformed cancel: ${describe(parsed.error)}` } });
      return;
    }
    if (!this.#checkKey(parsed.data.key)) {
      this.#repeat.warn('control socket: API key rejected', 'API key rejected', LOCAL_SOURCE, { id: parsed.data.id, method: '(cancel)' });
      this.#reply(socket, { id: parsed.data.id, ok: false, error: { code: 'EAUTH', message: 'API key rejected' } });
      return;
    }
    const s = conn.streams.get(parsed.data.id);
    if (s) this.#endStream(conn, parsed.data.id, s, undefined, true);
    conn.inflight.get(parsed.data.id)?.abort();
  }
}

// ------------------------------------------------------------------ client

export interface LocalClientOptions {
  apiKey: string;
  /** Default timeout of calls (and of connecting). Default 5000 ms. */
  timeoutMs?: number;
  log?: NetLogger;
  /** Largest response frame in bytes. Default 16 MiB. */
  maxResponseBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface Subscription {
  /** Stop the stream (tells the server, ends `done`). */
  close(): void;
  /** Resolves when the stream ends (by close() or by the server); rejects on error or disconnect. */
  readonly done: Promise<void>;
}

interface PendingCall {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
}

interface ActiveStream {
  onEvent: (data: unknown) => void;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** A connection to a node's control socket, for several calls and subscriptions. */
export class LocalClient {
  readonly dir: string;
  #ipc: IPCModule;
  #client: IPCClient;
  #key: string;
  #timeoutMs: number;
  #log: NetLogger;
  #nextId = 1;
  #pending = new Map<number, PendingCall>();
  #streams = new Map<number, ActiveStream>();
  #closed = false;
  #closeError: LocalApiError | null = null;

  private constructor(dir: string, ipc: IPCModule, client: IPCClient, o: LocalClientOptions) {
    this.dir = dir;
    this.#ipc = ipc;
    this.#client = client;
    this.#key = o.apiKey;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#log = o.log ?? nullLogger;
  }

  /** Connect to the node whose control socket is in `dir`. */
  static async connect(dir: string, o: LocalClientOptions): Promise<LocalClient> {
    if (typeof o.apiKey !== 'string') throw new TypeError('LocalClient needs an apiKey');
    const abs = path.resolve(dir);
    const socketPath = localSocketPath(abs);
    verifyEndpoint(abs, socketPath);
    const ipc = new IPCModule();
    const c = ipc.config;
    c.silent = true;
    c.logPayloads = false;
    c.parser = 'assured';
    c.allowedEvents = EVENTS;
    c.maxMessageSize = o.maxResponseBytes ?? 16 * 1024 * 1024;
    c.maxPendingBytes = 8 * 1024 * 1024;
    c.messageTimeout = 10_000;
    c.maxRetries = 0;
    c.stopRetrying = true;
    c.socketRoot = abs + path.sep;
    const id = 'acp-node';
    ipc.connectTo(id, socketPath);
    const client = ipc.of[id];
    const timeoutMs = o.timeoutMs ?? 5000;
    const lc = new LocalClient(abs, ipc, client, o);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let lastError: (Error & { code?: string }) | null = null;
      const timer = setTimeout(() => done(new LocalApiError('ETIMEDOUT', `timed out after ${timeoutMs} ms connecting to the node in ${abs}`)), timeoutMs);
      const done = (e?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) {
          ipc.disconnect(id);
          reject(e);
        } else resolve();
      };
      client.on('connect', () => done());
      client.on('error', (e: Error & { code?: string }) => {
        lastError = e;
      });
      client.on('destroy', () => {
        const code = lastError?.code;
        if (code === 'ECONNREFUSED' || code === 'ENOENT') done(new LocalApiError('ENOTRUNNING', `no node running in ${abs} (stale control socket: ${code})`));
        else done(new LocalApiError('EDISCONNECTED', `cannot connect to the node in ${abs}: ${lastError?.message ?? 'connection closed'}`));
      });
    });
    lc.#wire();
    return lc;
  }

  #wire(): void {
    const client = this.#client;
    client.off('connect');
    client.off('error');
    client.off('destroy');
    client.protocolFailure = ((original) => (socket: Socket, error: Error & { code?: string }) => {
      this.#log.warn('control socket client: protocol error from node', { code: error.code, reason: clip(error.message) });
      original(socket, error);
    })(client.protocolFailure.bind(client));
    client.on('res', (d: unknown) => this.#onRes(d));
    client.on('ev', (d: unknown) => this.#onEv(d));
    client.on('end', (d: unknown) => this.#onEnd(d));
    client.on('error', (e: Error) => this.#log.debug('control socket client: socket error', { error: clip(e.message) }));
    client.on('destroy', () => this.#onGone(new LocalApiError('EDISCONNECTED', `the node in ${this.dir} closed the connection`)));
    for (const ev of ['req', 'cancel']) client.on(ev, () => this.#protocol(`node sent a client-only event ${ev}`));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Call `method` and wait for its result (rejects with LocalApiError). */
  call(method: string, params?: unknown, o: CallOptions = {}): Promise<unknown> {
    return this.#request(method, params, false, o.timeoutMs ?? this.#timeoutMs);
  }

  /**
   * Subscribe to a streaming method: resolves once the node accepted the
   * subscription; `onEvent` then gets every event until close() or the
   * server ends the stream.
   */
  async subscribe(method: string, params: unknown, onEvent: (data: unknown) => void, o: CallOptions = {}): Promise<Subscription> {
    let id = -1;
    let resolveDone!: () => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    done.catch(() => {}); // callers that never look at `done` must not get an unhandled rejection
    const stream: ActiveStream = { onEvent, resolve: resolveDone, reject: rejectDone };
    await this.#request(method, params, true, o.timeoutMs ?? this.#timeoutMs, (assigned) => {
      id = assigned;
      this.#streams.set(id, stream);
    }).catch((e) => {
      this.#streams.delete(id);
      throw e;
    });
    return {
      done,
      close: () => {
        if (!this.#streams.delete(id)) return;
        if (!this.#closed) {
          try {
            this.#client.emit('cancel', { id, key: this.#key });
          } catch {
            /* connection going away */
          }
        }
        resolveDone();
      },
    };
  }

  /** Close the connection; pending calls reject with ECLOSED, streams end. */
  close(): void {
    if (this.#closed) return;
    this.#onGone(new LocalApiError('ECLOSED', 'client closed'), true);
  }

  #request(method: string, params: unknown, stream: boolean, timeoutMs: number, register?: (id: number) => void): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closeError ?? new LocalApiError('ECLOSED', 'client closed'));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(id)) {
          this.#streams.delete(id);
          if (stream) {
            try {
              this.#client.emit('cancel', { id, key: this.#key });
            } catch {
              /* ignore */
            }
          }
          reject(new LocalApiError('ETIMEDOUT', `${method}: no answer from the node in ${this.dir} within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, method });
      register?.(id);
      const body: Record<string, unknown> = { id, key: this.#key, method };
      if (params !== undefined) body.params = params;
      if (stream) body.stream = true;
      try {
        this.#client.emit('req', body);
      } catch (e) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new LocalApiError('EBADREQUEST', `${method}: request could not be sent: ${(e as Error).message}`));
      }
    });
  }

  #onRes(d: unknown): void {
    const r = resSchema.safeParse(d);
    if (!r.success) return this.#protocol('malformed response');
    const id = r.data.id;
    if (id === null) {
      // Connection-level refusal (limit reached, too slow to authenticate…): the node closes next.
      if (!r.data.ok) this.#onGone(new LocalApiError(r.data.error.code, r.data.error.message));
      else this.#log.warn('control socket client: node sent a result for no request');
      return;
    }
    const p = this.#pending.get(id);
    if (!p) return; // timed out already
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (r.data.ok) p.resolve(r.data.result);
    else {
      this.#streams.delete(id);
      p.reject(new LocalApiError(r.data.error.code, r.data.error.message));
    }
  }

  #onEv(d: unknown): void {
    const r = evSchema.safeParse(d);
    if (!r.success) return this.#protocol('malformed stream event');
    const s = this.#streams.get(r.data.id);
    if (!s) return; // closed locally; the cancel is on its way
    try {
      s.onEvent(r.data.data);
    } catch (e) {
      this.#log.error('control socket client: onEvent threw', { error: clip((e as Error)?.message) });
    }
  }

  #onEnd(d: unknown): void {
    const r = endSchema.safeParse(d);
    if (!r.success) return this.#protocol('malformed stream end');
    const s = this.#streams.get(r.data.id);
    if (!s) return;
    this.#streams.delete(r.data.id);
    if (r.data.error) s.reject(new LocalApiError(r.data.error.code, r.data.error.message));
    else s.resolve();
  }

  #protocol(reason: string): void {
    this.#log.warn('control socket client: protocol violation by node; closing', { reason });
    this.#onGone(new LocalApiError('EDISCONNECTED', `protocol violation by the node in ${this.dir}: ${reason}`));
  }

  #onGone(err: LocalApiError, endStreamsCleanly = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new LocalApiError(err.code, `${p.method}: ${err.message}`));
    }
    this.#pending.clear();
    for (const s of this.#streams.values()) {
      if (endStreamsCleanly) s.resolve();
      else s.reject(err);
    }
    this.#streams.clear();
    this.#ipc.disconnect(this.#client.id);
  }
}

/**
 * One call to the node whose control socket is in `dir`: connect, call, close.
 * Errors (LocalApiError): ENOTRUNNING "no node running in DIR", EAUTH "API key
 * rejected", ETIMEDOUT, EDISCONNECTED (the node went away), or the handler's.
 */
export async function callLocal(dir: string, method: string, params: unknown, o: { apiKey: string; timeoutMs?: number; log?: NetLogger }): Promise<unknown> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const started = Date.now();
  const client = await LocalClient.connect(dir, { apiKey: o.apiKey, timeoutMs, ...(o.log ? { log: o.log } : {}) });
  try {
    return await client.call(method, params, { timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)) });
  } finally {
    client.close();
  }
}

/** Subscribe on a dedicated connection; close() also closes the connection. */
export async function subscribeLocal(
  dir: string,
  method: string,
  params: unknown,
  onEvent: (data: unknown) => void,
  o: { apiKey: string; timeoutMs?: number; log?: NetLogger },
): Promise<Subscription> {
  const client = await LocalClient.connect(dir, { apiKey: o.apiKey, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.log ? { log: o.log } : {}) });
  try {
    const sub = await client.subscribe(method, params, onEvent);
    const done = sub.done.finally(() => client.close());
    done.catch(() => {});
    return {
      done,
      close: () => {
        sub.close();
        client.close();
      },
    };
  } catch (e) {
    client.close();
    throw e;
  }
}

// ----------------------------------------------------------------- helpers

/**
 * node-ipc leaves endpoint verification to clients: the directory must be a
 * real directory owned by us and closed to others, the socket a socket owned
 * by us. Missing -> "no node running".
 */
function verifyEndpoint(dir: string, socketPath: string): void {
  let dst: fs.Stats;
  try {
    dst = fs.lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LocalApiError('ENOTRUNNING', `no node running in ${dir} (no such directory)`);
    throw new LocalApiError('EUNSAFE', `cannot check ${dir}: ${(e as Error).message}`);
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (!dst.isDirectory()) throw new LocalApiError('EUNSAFE', `${dir} is not a directory`);
  if (uid >= 0 && dst.uid !== uid) throw new LocalApiError('EUNSAFE', `refusing to use ${dir}: owned by uid ${dst.uid}, not by us (${uid})`);
  if ((dst.mode & 0o077) !== 0) throw new LocalApiError('EUNSAFE', `refusing to use ${dir}: mode 0${(dst.mode & 0o777).toString(8)} lets other users in (expected 0700)`);
  let sst: fs.Stats;
  try {
    sst = fs.lstatSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LocalApiError('ENOTRUNNING', `no node running in ${dir}`);
    throw new LocalApiError('EUNSAFE', `cannot check ${socketPath}: ${(e as Error).message}`);
  }
  if (!sst.isSocket()) throw new LocalApiError('EUNSAFE', `${socketPath} is not a socket`);
  if (uid >= 0 && sst.uid !== uid) throw new LocalApiError('EUNSAFE', `refusing to use ${socketPath}: owned by uid ${sst.uid}, not by us (${uid})`);
}

/** Does something accept connections on this socket path? */
async function answers(socketPath: string): Promise<boolean> {
  try {
    if (!fs.lstatSync(socketPath).isSocket()) return false;
  } catch {
    return false;
  }
  return await new Promise<boolean>((resolve) => {
    const s = net.connect({ path: socketPath });
    const t = setTimeout(() => finish(false), 1000);
    const finish = (v: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

function digest(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

function methodOf(data: unknown): string {
  const m = data && typeof data === 'object' && !Array.isArray(data) ? (data as { method?: unknown }).method : undefined;
  return typeof m === 'string' ? m : '';
}

function idOf(data: unknown): number | null {
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    const id = (data as { id?: unknown }).id;
    if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  }
  return null;
}

function describe(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  const where = i.path.length > 0 ? i.path.join('.') : '(root)';
  return `${where}: ${i.message}`;
}

function parseParams(spec: Handler | StreamHandler | MethodSpec<any> | StreamSpec<any>, raw: unknown): { ok: true; value: unknown } | { ok: false; error: ApiErrorBody } {
  if (typeof spec === 'function') return { ok: true, value: raw };
  const r = spec.params.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: { code: 'EBADREQUEST', message: `invalid params: ${describe(r.error)}` } };
}

/** Handler errors -> {code, message}; never a stack trace. */
function errorToBody(e: unknown): ApiErrorBody {
  if (e instanceof LocalApiError) return { code: e.code, message: clip(e.message, 1000) };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { code: typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : 'EINTERNAL', message: clip(e.message, 1000) };
  }
  return { code: 'EINTERNAL', message: clip(String(e), 1000) };
}

function safeCall(f: () => void, log: NetLogger): void {
  try {
    f();
  } catch (e) {
    log.error('control socket: stream teardown threw', { error: clip((e as Error)?.message) });
  }
}
