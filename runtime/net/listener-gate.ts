// Admission rule shared by every listener of a node (the local control
// socket, the TLS peer port, later the Agent): idle or hostile connections
// must not lock the listener out.
//
//  - A connection is *unauthenticated* from accept until the listener's own
//    handshake proves who it is (a request carrying the API key; TLS with a
//    node certificate plus the peer hello). It must get there within
//    `handshakeTimeoutMs` of the accept, or it is closed.
//  - At most `limit` connections are open; at most `limit − reserve` of them
//    unauthenticated. The `reserve` slots can only be held by authenticated
//    connections, so idle strangers never take the whole listener.
//  - A new connection is always let in while unauthenticated slots remain.
//    When they are all taken, the *oldest* unauthenticated connection is
//    closed to make room (an idle one has had the most time to authenticate;
//    a genuine client authenticates within one round trip). Only when every
//    slot is held by authenticated connections is the new one refused.
//  - Every close the gate decides is counted by reason; stats() gives the
//    limit, the current counts and the refusals.
//  - A deadline is judged one event-loop turn after its timer fires: timers
//    run before I/O in a loop turn, so after a stall (GC, a long task) the
//    handshake that arrived meanwhile is read first instead of being cut off.
//
// The gate holds no sockets of its own type: S is whatever the listener uses
// as the connection's identity (the raw net.Socket). It does not destroy
// anything itself; it calls `close(s, reason, detail)` and the listener tells
// the client (if it can) and destroys the socket. Time comes from a NetClock,
// so the rule is unit-tested under virtual time.
import { realClock } from './clock.ts';
import type { NetClock } from './clock.ts';

export interface ListenerLimits {
  /** Max simultaneous connections, authenticated or not. */
  limit: number;
  /** Slots only authenticated connections may hold: at most limit − reserve are unauthenticated. */
  reserve: number;
  /** Time from accept to a completed handshake before the connection is closed. */
  handshakeTimeoutMs: number;
}

export type RefuseReason =
  /** Every slot is held by an authenticated connection. */
  | 'full'
  /** Oldest unauthenticated connection, closed to admit a newer one. */
  | 'evicted'
  /** Not authenticated within handshakeTimeoutMs. */
  | 'handshakeTimeout'
  /** Presented wrong credentials (API key, certificate, identity). */
  | 'auth'
  /** Broke the protocol before authenticating. */
  | 'protocol';

export const REFUSE_REASONS: readonly RefuseReason[] = ['full', 'evicted', 'handshakeTimeout', 'auth', 'protocol'];

export interface ListenerStats {
  limit: number;
  reserve: number;
  handshakeTimeoutMs: number;
  /** Connections open now (authenticated + unauthenticated). */
  open: number;
  authenticated: number;
  unauthenticated: number;
  /** Connections let in since start. */
  accepted: number;
  /** Connections the listener closed before they authenticated (or refused at accept), since start. */
  refusedTotal: number;
  refusedByReason: Record<RefuseReason, number>;
  /** Same as refusedByReason.handshakeTimeout. */
  handshakeTimeouts: number;
}

export type CloseFn<S> = (s: S, reason: RefuseReason, detail: string) => void;

/** Checks limits and fills in the default reserve (a quarter of the limit, at least 1). */
export function resolveLimits(name: string, limit: number, reserve: number | undefined, handshakeTimeoutMs: number): ListenerLimits {
  const r = reserve ?? Math.max(1, Math.floor(limit / 4));
  if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`${name}: connection limit must be an integer ≥ 2, got ${limit}`);
  if (!Number.isInteger(r) || r < 1 || r >= limit) throw new RangeError(`${name}: reserved connections must be an integer in [1, ${limit - 1}], got ${r}`);
  if (!(handshakeTimeoutMs > 0) || !Number.isFinite(handshakeTimeoutMs)) throw new RangeError(`${name}: handshake timeout must be a positive number of ms, got ${handshakeTimeoutMs}`);
  return { limit, reserve: r, handshakeTimeoutMs };
}

export class ListenerGate<S extends object> {
  readonly limits: ListenerLimits;
  #close: CloseFn<S>;
  #clock: NetClock;
  /** Unauthenticated connections in accept order (Map keeps insertion order), with their deadline timers. */
  #pending = new Map<S, { timer: unknown }>();
  #auth = new Set<S>();
  #accepted = 0;
  #refused: Record<RefuseReason, number> = { full: 0, evicted: 0, handshakeTimeout: 0, auth: 0, protocol: 0 };

  constructor(limits: ListenerLimits, close: CloseFn<S>, clock: NetClock = realClock) {
    this.limits = { ...limits };
    this.#close = close;
    this.#clock = clock;
  }

  /**
   * A connection was accepted. Returns true if it may stay (as
   * unauthenticated, with its deadline running); false if it was refused
   * (close() has been called for it). May close the oldest unauthenticated
   * connection to make room.
   */
  admit(s: S): boolean {
    if (this.#pending.has(s) || this.#auth.has(s)) return true;
    const { limit, reserve } = this.limits;
    while (this.#pending.size > 0 && (this.#pending.size >= limit - reserve || this.open >= limit)) {
      const oldest = this.#pending.keys().next().value as S;
      this.refuse(oldest, 'evicted', `all ${limit - reserve} unauthenticated slots taken; closed the oldest to admit a newer connection`);
    }
    if (this.open >= limit) {
      this.#count('full');
      this.#callClose(s, 'full', `all ${limit} connections are authenticated and busy`);
      return false;
    }
    this.#accepted++;
    const deadline = { timer: null as unknown };
    deadline.timer = this.#clock.setTimer(this.limits.handshakeTimeoutMs, () => {
      if (this.#pending.get(s) !== deadline) return;
      // One more turn, so that I/O that arrived during a stall is read first.
      deadline.timer = this.#clock.setTimer(0, () => {
        if (this.#pending.get(s) === deadline) this.refuse(s, 'handshakeTimeout', `no handshake within ${this.limits.handshakeTimeoutMs} ms`);
      });
    });
    this.#pending.set(s, deadline);
    return true;
  }

  /** The connection completed its handshake. False if the gate does not hold it as unauthenticated. */
  authenticate(s: S): boolean {
    const d = this.#pending.get(s);
    if (d === undefined) return this.#auth.has(s);
    this.#clock.clearTimer(d.timer);
    this.#pending.delete(s);
    this.#auth.add(s);
    return true;
  }

  /**
   * Close an unauthenticated connection for `reason` (counted once). Does
   * nothing for connections the gate does not hold as unauthenticated.
   */
  refuse(s: S, reason: RefuseReason, detail: string): boolean {
    const d = this.#pending.get(s);
    if (d === undefined) return false;
    this.#clock.clearTimer(d.timer);
    this.#pending.delete(s);
    this.#count(reason);
    this.#callClose(s, reason, detail);
    return true;
  }

  /** The connection is gone (any cause): free its slot. Not counted as a refusal. */
  release(s: S): void {
    const d = this.#pending.get(s);
    if (d !== undefined) {
      this.#clock.clearTimer(d.timer);
      this.#pending.delete(s);
    }
    this.#auth.delete(s);
  }

  /**
   * Count a refusal the listener learned of after the connection was gone
   * (the OS-level backstop dropped it before the gate saw it: `full`; a TLS
   * failure reported after the socket closed).
   */
  countRefusal(reason: RefuseReason): void {
    this.#count(reason);
  }

  isPending(s: S): boolean {
    return this.#pending.has(s);
  }

  isAuthenticated(s: S): boolean {
    return this.#auth.has(s);
  }

  get open(): number {
    return this.#pending.size + this.#auth.size;
  }

  stats(): ListenerStats {
    const refusedTotal = REFUSE_REASONS.reduce((n, r) => n + this.#refused[r], 0);
    return {
      limit: this.limits.limit,
      reserve: this.limits.reserve,
      handshakeTimeoutMs: this.limits.handshakeTimeoutMs,
      open: this.open,
      authenticated: this.#auth.size,
      unauthenticated: this.#pending.size,
      accepted: this.#accepted,
      refusedTotal,
      refusedByReason: { ...this.#refused },
      handshakeTimeouts: this.#refused.handshakeTimeout,
    };
  }

  /** Forget every connection and cancel the deadlines (the listener is stopping and destroys the sockets itself). */
  clear(): void {
    for (const d of this.#pending.values()) this.#clock.clearTimer(d.timer);
    this.#pending.clear();
    this.#auth.clear();
  }

  #count(reason: RefuseReason): void {
    this.#refused[reason]++;
  }

  #callClose(s: S, reason: RefuseReason, detail: string): void {
    try {
      this.#close(s, reason, detail);
    } catch {
      /* the listener's close must not break admission */
    }
  }
}
