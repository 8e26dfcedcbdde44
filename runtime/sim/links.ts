// The simulated network's links as a node's transport sees them: up or down,
// with the real transport's timing (runtime/net/node-transport.ts), so the
// services get the same peer-state hints in `acp sim` as in a real node.
//
//  - A node that crashes closes its connections: its peers see their links
//    go down one network latency later (the kernel's FIN or RST).
//  - A pair of nodes that cannot hear each other (either direction cut or
//    clogged, or either node paused) for the idle timeout (1 s) has its link
//    closed by the silence detector.
//  - A link that is down comes back once both nodes run and nothing blocks
//    it: after the reconnect delay (backoff with jitter, up to 250 ms), checked
//    every 100 ms.
//  - A restarted node starts with every link down.
//  - Buggify ("links.flap"): a link that is fine goes down and comes back
//    after the reconnect delay. Hints are hints: a peer reported down may be
//    alive, and nothing may depend on them for safety.
//
// While a link is down, a channel that drops while down (Raft's) sends
// nothing (PeerPort.isConnected); the network itself still decides what is
// delivered. Everything is scheduled on the simulator, with its own Rng.
import type { Rng } from '../env/random.ts';
import type { Buggify } from './buggify.ts';
import type { SimNetwork } from './network.ts';
import type { Scheduler } from './scheduler.ts';

export interface LinkNodes {
  isUp(id: string): boolean;
  isPaused(id: string): boolean;
  /** Tell `id` (running code on it, held while it is paused) that its link to `peer` is up or down. */
  /** `cause` (down only): the peer's connections closed (a crash, a reset), or silence outlasted the idle timeout. */
  notify(id: string, peer: string, up: boolean, cause?: 'closed' | 'silent'): void;
}

interface Pair {
  a: string;
  b: string;
  up: boolean;
  /** Since when neither side could hear the other (while up). */
  silentSince: number | undefined;
  /** A reconnect is scheduled. */
  connecting: boolean;
}

export const LINK_TIMING = { idleMs: 1000, pollMs: 100, reconnectMinMs: 5, reconnectMaxMs: 250, flapChance: 0.05 };

export class SimLinks {
  readonly #sched: Scheduler;
  readonly #net: SimNetwork;
  readonly #rng: Rng;
  readonly #buggify: Buggify;
  readonly #nodes: LinkNodes;
  readonly #pairs = new Map<string, Pair>();
  /** Link changes notified, for the run report. */
  readonly stats = { down: 0, up: 0, flaps: 0 };

  constructor(sched: Scheduler, net: SimNetwork, rng: Rng, buggify: Buggify, ids: readonly string[], nodes: LinkNodes) {
    this.#sched = sched;
    this.#net = net;
    this.#rng = rng;
    this.#buggify = buggify;
    this.#nodes = nodes;
    // The cluster starts connected.
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const [a, b] = ids[i]! < ids[j]! ? [ids[i]!, ids[j]!] : [ids[j]!, ids[i]!];
        this.#pairs.set(`${a}|${b}`, { a, b, up: true, silentSince: undefined, connecting: false });
      }
    }
    this.#sched.after(LINK_TIMING.pollMs, () => this.#poll());
  }

  #pair(x: string, y: string): Pair | undefined {
    return this.#pairs.get(x < y ? `${x}|${y}` : `${y}|${x}`);
  }

  isConnected(from: string, to: string): boolean {
    return this.#pair(from, to)?.up ?? false;
  }

  /** `id` lost power: its peers' links to it close one latency later; its own links are gone. */
  crashed(id: string): void {
    for (const p of this.#pairs.values()) {
      if (p.a !== id && p.b !== id) continue;
      const other = p.a === id ? p.b : p.a;
      if (!p.up) continue;
      p.up = false;
      p.silentSince = undefined;
      this.stats.down++;
      this.#sched.after(0.5 + this.#rng.next() * 1.5, () => this.#nodes.notify(other, id, false, 'closed'));
    }
  }

  #down(p: Pair, cause: 'closed' | 'silent'): void {
    if (!p.up) return;
    p.up = false;
    p.silentSince = undefined;
    this.stats.down++;
    this.#nodes.notify(p.a, p.b, false, cause);
    this.#nodes.notify(p.b, p.a, false, cause);
  }

  #blocked(p: Pair): boolean {
    const n = this.#nodes;
    return this.#net.isBlocked(p.a, p.b) || this.#net.isBlocked(p.b, p.a) || n.isPaused(p.a) || n.isPaused(p.b);
  }

  #poll(): void {
    const now = this.#sched.now;
    const n = this.#nodes;
    for (const p of this.#pairs.values()) {
      if (!n.isUp(p.a) || !n.isUp(p.b)) continue; // a crash took it down already; a restart brings it up below
      const blocked = this.#blocked(p);
      if (p.up) {
        if (!blocked) {
          p.silentSince = undefined;
          // A link that is fine may still drop (a reset, a silence misjudged): a hint that lies.
          if (this.#rng.chance(LINK_TIMING.flapChance) && this.#buggify.ask('links.flap', p.a)) {
            this.stats.flaps++;
            this.#down(p, 'closed');
            this.#reconnect(p);
          }
          continue;
        }
        p.silentSince ??= now;
        if (now - p.silentSince >= LINK_TIMING.idleMs) this.#down(p, 'silent');
      } else if (!blocked) {
        this.#reconnect(p);
      }
    }
    this.#sched.after(LINK_TIMING.pollMs, () => this.#poll());
  }

  #reconnect(p: Pair): void {
    if (p.connecting) return;
    p.connecting = true;
    this.#sched.after(this.#rng.int(LINK_TIMING.reconnectMinMs, LINK_TIMING.reconnectMaxMs), () => {
      p.connecting = false;
      const n = this.#nodes;
      if (p.up || !n.isUp(p.a) || !n.isUp(p.b) || this.#blocked(p)) return;
      p.up = true;
      this.stats.up++;
      n.notify(p.a, p.b, true);
      n.notify(p.b, p.a, true);
    });
  }
}
