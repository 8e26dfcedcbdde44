// The node's one connection to its peers, shared by every service: frames are
// `{c: channel, b: body}`; each channel (a Raft group's messages, meta/stats
// publications, forwarded proposals…) is opened by the service that owns it,
// with the validator that checks its bodies. Validation happens here, once,
// at the edge where frames come off the wire; what a channel's handler gets is
// trusted from then on.
//
// The wire underneath is a PeerWire: mutual-TLS NodeTransport in a real node,
// the simulated network in `acp sim`. The same PeerPort runs over both.
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
}

/** What a node's wire to its peers offers (NodeTransport, or the simulator's network). */
export interface PeerWire {
  send(to: string, frame: PeerFrame): boolean;
  /** Largest frame the wire carries (UTF-8 bytes of its JSON); a larger one is not sent. */
  readonly maxFrameBytes: number;
  isConnected(to: string): boolean;
  stats(): Record<string, PeerLinkStats>;
  /** The inbound listener's limit, counts and refusals (a real transport; the simulator has none). */
  listener?(): ListenerStats;
}

export interface PeerChannel<T> {
  /** Send a body to a peer; false when it could not even be queued (no link, too large), or the link is down and the channel drops while down. */
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
  readonly #stateListeners = new Set<(peer: string, up: boolean) => void>();

  constructor(self: string, peers: readonly string[]) {
    this.self = self;
    this.peers = peers.filter((p) => p !== self);
  }

  attach(wire: PeerWire): void {
    this.#wire = wire;
  }

  /**
   * Open a channel; `deliver` gets only bodies that passed `validate`.
   * `dropWhileDown`: a body sent while the link to its peer is down is not
   * kept for when it comes back (the wire's buffer): send returns false. For
   * a protocol that retransmits by itself (Raft), frames held through a
   * partition are stale when they arrive — a Raft follower back from one got
   * every heartbeat of the cut at once, and its leader answered each with
   * another append.
   */
  open<T>(channel: string, validate: (x: unknown) => Validation<T>, deliver: (from: string, body: T) => void, o: { dropWhileDown?: boolean } = {}): PeerChannel<T> {
    if (this.#channels.has(channel)) throw new Error(`peer channel ${channel} is already open`);
    const entry: Opened = { validate, deliver: deliver as (from: string, body: unknown) => void };
    this.#channels.set(channel, entry);
    const drop = o.dropWhileDown === true;
    return {
      send: (to, body) => this.#wire !== null && (!drop || this.#wire.isConnected(to)) && this.#wire.send(to, { c: channel, b: body }),
      close: () => {
        if (this.#channels.get(channel) === entry) this.#channels.delete(channel);
      },
    };
  }

  /**
   * Be told when the link to a peer comes up or goes down (a hint: a link that
   * went down may be back in a moment, and the peer may be fine). Returns the
   * unsubscribe function.
   */
  onPeerState(f: (peer: string, up: boolean) => void): () => void {
    this.#stateListeners.add(f);
    return () => void this.#stateListeners.delete(f);
  }

  /** The wire's owner reports a link change (NodeTransport's onPeerState, the simulator's links). */
  peerState(peer: string, up: boolean): void {
    for (const f of [...this.#stateListeners]) f(peer, up);
  }

  isConnected(to: string): boolean {
    return this.#wire !== null && this.#wire.isConnected(to);
  }

  /** Largest frame the attached wire carries: what a channel's bodies are sized from. */
  get maxFrameBytes(): number {
    if (this.#wire === null) throw new Error(`peer port of ${this.self}: no wire attached yet`);
    return this.#wire.maxFrameBytes;
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
