// The link states a simulated node's peer port reports: what NodeTransport's
// would say (runtime/ports/peers.ts, LinkState), derived from the simulator's
// ground truth rather than from heartbeat traffic — heartbeats sent over the
// simulated network would draw on the seed's randomness and change every run.
//
// Every BEAT_MS (on the node's own timers: a paused node does not beat, a
// crashed one is gone) the node hears each peer whose process runs (up, not
// paused) over links that are neither cut nor clogged in either direction, as
// the transport's pings would. A link that has heard nothing for IDLE_MS goes
// down 'silent' (the transport's idle timeout) and comes back up at the first
// beat that hears the peer again. A peer whose process dies has its
// connections closed by its kernel at once: the cluster tells every node its
// FIN can reach (closed(): 'closed').
import { LinkTracker, type LinkState, type PeerLinkStats } from '../../../runtime/ports/peers.ts';

/** The transport's heartbeat period and idle timeout (NodeTransport defaults). */
export const BEAT_MS = 200;
export const IDLE_MS = 1000;

export class SimLinks {
  readonly #peers: readonly string[];
  readonly #now: () => number;
  readonly #hears: (peer: string) => boolean;
  readonly #tracker: LinkTracker;
  readonly #lastHeard = new Map<string, number>();

  /**
   * `now`: virtual time (monotonic: a stepped node clock does not move it);
   * `hears(peer)`: the peer's heartbeat would reach this node and its reply get back.
   */
  constructor(peers: readonly string[], now: () => number, hears: (peer: string) => boolean) {
    this.#peers = peers;
    this.#now = now;
    this.#hears = hears;
    this.#tracker = new LinkTracker(peers, now);
    this.beat();
  }

  beat(): void {
    const now = this.#now();
    for (const p of this.#peers) {
      if (this.#hears(p)) {
        this.#lastHeard.set(p, now);
        this.#tracker.up(p);
        continue;
      }
      const last = this.#lastHeard.get(p);
      if (this.#tracker.isUp(p) && last !== undefined && now - last > IDLE_MS) this.#tracker.down(p, 'silent');
    }
  }

  /** The peer's process died and its connections' close reached this node. */
  closed(peer: string): void {
    this.#tracker.down(peer, 'closed');
  }

  isConnected(peer: string): boolean {
    return this.#tracker.isUp(peer);
  }

  links(): Record<string, LinkState> {
    return this.#tracker.all();
  }

  stats(): Record<string, PeerLinkStats> {
    const out: Record<string, PeerLinkStats> = {};
    for (const p of this.#peers) {
      const l = this.#tracker.state(p);
      out[p] = { connected: l.up, reconnects: 0, framesIn: 0, framesOut: 0, rejected: 0, ...(l.up ? {} : { down: { cause: l.cause, forMs: Math.round(l.forMs) } }) };
    }
    return out;
  }
}
