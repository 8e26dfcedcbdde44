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
  /** Largest frame the wire carries (UTF-8 bytes of its JSON); a larger one is not sent. */
  readonly maxFrameBytes: number;
  isConnected(to: string): boolean;
  /** Every peer's link: up, or down (why, and for how long). */
  links(): Record<string, LinkState>;
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
  /** Bodies travel as pieces of their JSON text (openLarge). */
  large: boolean;
}

/**
 * What a large channel carries: a small `head` (any JSON) and a long `text`
 * (a Raft snapshot: the message, and its state machine's data).
 */
export interface LargeBody {
  head: unknown;
  text: string;
}

/** One piece of a large body: piece 0 carries the head, pieces 1..n-1 the text, in order. */
interface Piece {
  id: string;
  i: number;
  n: number;
  s: string;
  h?: unknown;
}

/** A large body being put back together (one per sender and channel). */
interface Assembly {
  id: string;
  head: unknown;
  got: (string | undefined)[];
  count: number;
}

/** Bytes of a frame around a piece's text: the transport's frame, the channel, the piece's fields (ids up to 64 characters). */
const PIECE_ENVELOPE_BYTES = 512;
/** Most pieces of one body: with 1 MiB frames, texts up to about 178 million characters. */
export const MAX_PIECES = 1024;
const MAX_PIECE_ID = 64;
/** Most bytes one UTF-16 unit of a string takes in a frame (a control character or lone surrogate escaped as \uXXXX). */
const MAX_UNIT_BYTES = 6;

function validatePiece(x: unknown): Validation<Piece> {
  if (typeof x !== 'object' || x === null) return { ok: false, error: 'piece is not an object' };
  const p = x as { id?: unknown; i?: unknown; n?: unknown; s?: unknown; h?: unknown };
  if (typeof p.id !== 'string' || p.id.length === 0 || p.id.length > MAX_PIECE_ID) return { ok: false, error: 'bad piece id' };
  if (!Number.isSafeInteger(p.n) || (p.n as number) < 1 || (p.n as number) > MAX_PIECES) return { ok: false, error: 'bad piece count' };
  if (!Number.isSafeInteger(p.i) || (p.i as number) < 0 || (p.i as number) >= (p.n as number)) return { ok: false, error: 'bad piece index' };
  if (typeof p.s !== 'string') return { ok: false, error: 'bad piece text' };
  if ((p.i === 0) !== (p.h !== undefined)) return { ok: false, error: 'the head goes with the first piece, and only there' };
  return { ok: true, value: p.i === 0 ? { id: p.id, i: 0, n: p.n as number, s: p.s, h: p.h } : { id: p.id, i: p.i as number, n: p.n as number, s: p.s } };
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
  /** Distinguishes this incarnation's large bodies from an earlier one's (the node's boot count). */
  readonly #instance: number;
  #pieceSeq = 0;
  /** Large bodies being received, by sender and channel. */
  readonly #assemblies = new Map<string, Assembly>();

  /** `instance`: a number that grows with every start of this node (its boot count), for large bodies' ids. */
  constructor(self: string, peers: readonly string[], o: { instance?: number } = {}) {
    this.self = self;
    this.peers = peers.filter((p) => p !== self);
    this.#instance = o.instance ?? 0;
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
    const entry = this.#register(channel, validate, deliver, false);
    const drop = o.dropWhileDown === true;
    return {
      send: (to, body) => this.#wire !== null && (!drop || this.#wire.isConnected(to)) && this.#wire.send(to, { c: channel, b: body }),
      close: () => this.#unregister(channel, entry),
    };
  }

  /**
   * Open a channel whose bodies may be larger than a frame (a Raft snapshot of
   * a big state). A body is a small head and a long text: the head goes in
   * the first piece, the text is cut into pieces that each fit a frame; the
   * receiver puts them back together and only then validates and delivers the
   * whole `{head, text}`. The pieces of a body go out in order on one link; a
   * body not all of whose pieces arrive (the link dropped) is forgotten when
   * the same sender's next body begins. Pieces are sent only while the link is
   * up (as dropWhileDown), so a body is never half buffered.
   */
  openLarge<T>(channel: string, validate: (x: LargeBody) => Validation<T>, deliver: (from: string, body: T) => void): PeerChannel<LargeBody> {
    const entry = this.#register(channel, validate as (x: unknown) => Validation<unknown>, deliver, true);
    return {
      send: (to, body) => this.#sendLarge(channel, to, body),
      close: () => this.#unregister(channel, entry),
    };
  }

  #register(channel: string, validate: (x: unknown) => Validation<unknown>, deliver: (from: string, body: never) => void, large: boolean): Opened {
    if (this.#channels.has(channel)) throw new Error(`peer channel ${channel} is already open`);
    const entry: Opened = { validate, deliver: deliver as (from: string, body: unknown) => void, large };
    this.#channels.set(channel, entry);
    return entry;
  }

  #unregister(channel: string, entry: Opened): void {
    if (this.#channels.get(channel) !== entry) return;
    this.#channels.delete(channel);
    for (const k of [...this.#assemblies.keys()]) if (k.endsWith(`\n${channel}`)) this.#assemblies.delete(k);
  }

  #sendLarge(channel: string, to: string, body: LargeBody): boolean {
    const wire = this.#wire;
    if (wire === null || !wire.isConnected(to)) return false;
    const text = body.text;
    // Whatever the text holds, a piece of `per` units fits a frame once escaped.
    const per = Math.floor((wire.maxFrameBytes - PIECE_ENVELOPE_BYTES) / MAX_UNIT_BYTES);
    const n = 1 + Math.ceil(text.length / per);
    if (n > MAX_PIECES) return false;
    const id = `${this.#instance}.${++this.#pieceSeq}`;
    if (!wire.send(to, { c: channel, b: { id, i: 0, n, s: '', h: body.head } satisfies Piece })) return false;
    for (let i = 1; i < n; i++) {
      const piece: Piece = { id, i, n, s: text.slice((i - 1) * per, i * per) };
      if (!wire.send(to, { c: channel, b: piece })) return false;
    }
    return true;
  }

  /** A piece of a large body from `from`; the whole body is validated and delivered once every piece is in. */
  #piece(from: string, channel: string, ch: Opened, p: Piece): void {
    const key = `${from}\n${channel}`;
    let a = this.#assemblies.get(key);
    if (a === undefined || a.id !== p.id || a.got.length !== p.n) {
      a = { id: p.id, head: undefined, got: new Array<string | undefined>(p.n), count: 0 };
      this.#assemblies.set(key, a);
    }
    if (a.got[p.i] === undefined) {
      a.got[p.i] = p.s;
      if (p.i === 0) a.head = p.h;
      a.count++;
    }
    if (a.count < a.got.length) return;
    this.#assemblies.delete(key);
    const r = ch.validate({ head: a.head, text: a.got.join('') } satisfies LargeBody);
    if (!r.ok) {
      this.dropped++;
      return;
    }
    ch.deliver(from, r.value);
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

  /** Every peer's link, up or down (why, for how long); a peer the wire does not know is down. */
  links(): Record<string, LinkState> {
    const w = this.#wire?.links() ?? {};
    const out: Record<string, LinkState> = {};
    for (const p of this.peers) out[p] = w[p] ?? { up: false, cause: 'silent', forMs: 0 };
    return out;
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
    // A piece of a large body: its body is validated once whole (deliver).
    const r = ch.large ? validatePiece((x as { b?: unknown }).b) : ch.validate((x as { b?: unknown }).b);
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
    if (ch.large) this.#piece(from, f.c, ch, f.b as Piece);
    else ch.deliver(from, f.b);
  }

  /** Validate and deliver in one step (a wire without its own validation hook). */
  receive(from: string, x: unknown): void {
    const r = this.validate(x);
    if (r.ok) this.deliver(from, r.value);
    else this.dropped++;
  }
}
