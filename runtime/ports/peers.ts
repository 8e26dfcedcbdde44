// The node's one connection to its peers, shared by every service: frames are
// `{c: channel, b: body}`; each channel (a Raft group's messages, meta/stats
// publications, forwarded proposals…) is opened by the service that owns it,
// with the validator that checks its bodies. Validation happens here, once,
// at the edge where frames come off the wire; what a channel's handler gets is
// trusted from then on.
//
// The wire underneath is a PeerWire: mutual-TLS NodeTransport in a real node,
// the simulated network in `acp sim`. The same PeerPort runs over both.
//
// The wire also says how each link is (links()): up, or down since when and
// why. It is the fastest word a node has that a peer is gone: a process that
// dies has its sockets closed by the kernel at once ('closed'), long before
// anything it published goes stale; a peer that hangs or is cut off is found
// by the transport's heartbeats ('silent': nothing for its idle timeout).
import type { Validation } from './validation.ts';
import type { ListenerStats } from '../net/listener-gate.ts';

export interface PeerFrame {
  c: string;
  b: unknown;
}

export interface PeerLinkStats {
  connected: boolean;
  reconnects: number;
  framesIn: number;
  framesOut: number;
  rejected: number;
  /** While the link is down: why, and for how long (see LinkState). */
  down?: { cause: LinkDownCause; forMs: number };
}

/**
 * Why a link to a peer is down:
 *  - 'closed': the connection was ended from the other side (a process that
 *    exits or is killed has its sockets closed by its kernel at once) — strong
 *    evidence that the peer's process is gone;
 *  - 'silent': this side gave up on it after hearing nothing (no frame, no
 *    heartbeat) for the transport's idle timeout, or it never came up — the
 *    peer may be hung, cut off, or only slow.
 */
export type LinkDownCause = 'closed' | 'silent';

/** A link as the wire sees it; `forMs` is measured on a monotonic clock (clock steps do not move it). */
export type LinkState = { up: true } | { up: false; cause: LinkDownCause; forMs: number };

/**
 * The up/down bookkeeping of a node's links, on a monotonic clock `now`
 * (performance.now() in a real node, virtual time in the simulator). Every
 * peer starts down ('silent': not connected yet). A link going down again
 * while down keeps its start; 'closed' replaces 'silent' (stronger word of the
 * same outage), never the reverse.
 */
export class LinkTracker {
  readonly #now: () => number;
  readonly #down = new Map<string, { cause: LinkDownCause; since: number }>();
  readonly #peers: readonly string[];

  constructor(peers: readonly string[], now: () => number) {
    this.#now = now;
    this.#peers = peers;
    const t = now();
    for (const p of peers) this.#down.set(p, { cause: 'silent', since: t });
  }

  up(peer: string): void {
    this.#down.delete(peer);
  }

  down(peer: string, cause: LinkDownCause): void {
    const d = this.#down.get(peer);
    if (d === undefined) this.#down.set(peer, { cause, since: this.#now() });
    else if (cause === 'closed') d.cause = 'closed';
  }

  isUp(peer: string): boolean {
    return this.#peers.includes(peer) && !this.#down.has(peer);
  }

  state(peer: string): LinkState {
    const d = this.#down.get(peer);
    return d === undefined ? { up: true } : { up: false, cause: d.cause, forMs: Math.max(0, this.#now() - d.since) };
  }

  all(): Record<string, LinkState> {
    const out: Record<string, LinkState> = {};
    for (const p of this.#peers) out[p] = this.state(p);
    return out;
  }
}

/** What a node's wire to its peers offers (NodeTransport, or the simulator's network). */
export interface PeerWire {
  send(to: string, frame: PeerFrame): boolean;
  isConnected(to: string): boolean;
  /** Every peer's link: up, or down (why, and for how long). */
  links(): Record<string, LinkState>;
  stats(): Record<string, PeerLinkStats>;
  /** The inbound listener's limit, counts and refusals (a real transport; the simulator has none). */
  listener?(): ListenerStats;
}

export interface PeerChannel<T> {
  /** Send a body to a peer; false when it could not even be queued (no link, too large). */
  send(to: string, body: T): boolean;
  close(): void;
}

interface Opened {
  validate: (x: unknown) => Validation<unknown>;
  deliver: (from: string, body: unknown) => void;
}

export class PeerPort {
  readonly self: string;
  /** Every node of the cluster this node may talk to (excluding itself). */
  readonly peers: readonly string[];
  #wire: PeerWire | null = null;
  readonly #channels = new Map<string, Opened>();
  /** Frames for a channel nobody opened (yet), or that failed their channel's validator. */
  dropped = 0;

  constructor(self: string, peers: readonly string[]) {
    this.self = self;
    this.peers = peers.filter((p) => p !== self);
  }

  attach(wire: PeerWire): void {
    this.#wire = wire;
  }

  /** Open a channel; `deliver` gets only bodies that passed `validate`. */
  open<T>(channel: string, validate: (x: unknown) => Validation<T>, deliver: (from: string, body: T) => void): PeerChannel<T> {
    if (this.#channels.has(channel)) throw new Error(`peer channel ${channel} is already open`);
    const entry: Opened = { validate, deliver: deliver as (from: string, body: unknown) => void };
    this.#channels.set(channel, entry);
    return {
      send: (to, body) => this.#wire !== null && this.#wire.send(to, { c: channel, b: body }),
      close: () => {
        if (this.#channels.get(channel) === entry) this.#channels.delete(channel);
      },
    };
  }

  isConnected(to: string): boolean {
    return this.#wire !== null && this.#wire.isConnected(to);
  }

  /** Every peer's link, up or down (why, for how long); a peer the wire does not know is down. */
  links(): Record<string, LinkState> {
    const w = this.#wire?.links() ?? {};
    const out: Record<string, LinkState> = {};
    for (const p of this.peers) out[p] = w[p] ?? { up: false, cause: 'silent', forMs: 0 };
    return out;
  }

  stats(): Record<string, PeerLinkStats> {
    return this.#wire?.stats() ?? {};
  }

  listener(): ListenerStats | undefined {
    return this.#wire?.listener?.();
  }

  /**
   * The wire's validator: a frame is accepted when its channel is open and its
   * body passes the channel's validator. (A real transport closes the
   * connection of a peer that sends a malformed frame.)
   */
  validate(x: unknown): Validation<PeerFrame> {
    if (typeof x !== 'object' || x === null) return { ok: false, error: 'frame is not an object' };
    const c = (x as { c?: unknown }).c;
    if (typeof c !== 'string') return { ok: false, error: 'frame has no channel' };
    const ch = this.#channels.get(c);
    // A channel not open here yet (a service still starting) is not the sender's fault.
    if (ch === undefined) return { ok: true, value: { c, b: undefined } };
    const r = ch.validate((x as { b?: unknown }).b);
    if (!r.ok) return { ok: false, error: `${c}: ${r.error}` };
    return { ok: true, value: { c, b: r.value } };
  }

  /** A validated frame from `from`. */
  deliver(from: string, f: PeerFrame): void {
    const ch = this.#channels.get(f.c);
    if (ch === undefined || f.b === undefined) {
      this.dropped++;
      return;
    }
    ch.deliver(from, f.b);
  }

  /** Validate and deliver in one step (a wire without its own validation hook). */
  receive(from: string, x: unknown): void {
    const r = this.validate(x);
    if (r.ok) this.deliver(from, r.value);
    else this.dropped++;
  }
}
