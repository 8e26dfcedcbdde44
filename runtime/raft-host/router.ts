// Routes incoming Raft frames to the host of their group. One per node: every
// group on the node shares the node's transport, and each frame carries its
// group name (RaftTransport.send(to, group, msg) on the sending side).
import type { ActorRef } from '../actor/types.ts';

/** The part of a host's protocol the router uses (any RaftHostMsg<Res> ref is one). */
export type RaftFrameMsg = { type: 'raft'; msg: unknown };

export class RaftRouter {
  readonly #hosts = new Map<string, ActorRef<RaftFrameMsg>>();
  /** Frames for a group with no host here (not created yet, or removed), or malformed envelopes. */
  dropped = 0;

  register(group: string, host: ActorRef<RaftFrameMsg>): void {
    this.#hosts.set(group, host);
  }

  unregister(group: string, host?: ActorRef<RaftFrameMsg>): void {
    if (host === undefined || this.#hosts.get(group) === host) this.#hosts.delete(group);
  }

  host(group: string): ActorRef<RaftFrameMsg> | undefined {
    return this.#hosts.get(group);
  }

  groups(): string[] {
    return [...this.#hosts.keys()];
  }

  /** Deliver one frame off the wire. `msg` is unvalidated: the host validates it. Returns false when dropped. */
  deliver(group: unknown, msg: unknown): boolean {
    const h = typeof group === 'string' ? this.#hosts.get(group) : undefined;
    if (h === undefined) {
      this.dropped++;
      return false;
    }
    h.tell({ type: 'raft', msg });
    return true;
  }

  /** Deliver a `{ group, msg }` envelope (for transports that frame that way). */
  deliverFrame(frame: unknown): boolean {
    if (typeof frame !== 'object' || frame === null) {
      this.dropped++;
      return false;
    }
    const f = frame as { group?: unknown; msg?: unknown };
    return this.deliver(f.group, f.msg);
  }
}
