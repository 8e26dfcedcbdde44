// Several Raft groups on one node sharing one transport. Each group is an
// independent RawNode (own log, storage, term, membership); MultiRaft only
// multiplexes: messages travel as { group, msg }, one tick() ticks every
// group, and ready()/advance() aggregate the groups that have work. This lets
// e.g. the cluster DB and the Monitor election each run a group over one
// connection per peer pair. Still pure: no I/O, no clocks.
import type { Message, NodeId, Ready } from './types.ts';
import type { RawNodeConfig } from './rawnode.ts';
import { RawNode } from './rawnode.ts';
import type { Result } from './types.ts';

export type GroupId = string;

export interface GroupMessage {
  group: GroupId;
  msg: Message;
}

export interface GroupReady {
  group: GroupId;
  ready: Ready;
}

export interface MultiReady {
  /** Per-group work, in group-id order. Persist each group's state before sending its messages. */
  groups: GroupReady[];
}

export class MultiRaft {
  readonly id: NodeId;
  #groups = new Map<GroupId, RawNode>();

  constructor(id: NodeId) {
    this.id = id;
  }

  /** Host a group on this node. The config's id must be this node's id. */
  addGroup(group: GroupId, config: RawNodeConfig): RawNode {
    if (config.id !== this.id) throw new Error(`group ${group}: config id ${config.id} is not node ${this.id}`);
    if (this.#groups.has(group)) throw new Error(`group ${group} already exists`);
    const rn = new RawNode(config);
    this.#groups.set(group, rn);
    return rn;
  }

  removeGroup(group: GroupId): void {
    this.#groups.delete(group);
  }

  group(group: GroupId): RawNode | undefined {
    return this.#groups.get(group);
  }

  groupIds(): GroupId[] {
    return [...this.#groups.keys()].sort();
  }

  tick(): void {
    for (const g of this.groupIds()) this.#groups.get(g)!.tick();
  }

  /** Route an incoming envelope to its group. Unknown groups are an error value, not an exception. */
  step(env: GroupMessage): Result {
    const rn = this.#groups.get(env.group);
    if (!rn) return { ok: false, error: { code: 'invalid', message: `unknown raft group ${env.group}` } };
    return rn.step(env.msg);
  }

  hasReady(): boolean {
    for (const rn of this.#groups.values()) if (rn.hasReady()) return true;
    return false;
  }

  ready(): MultiReady {
    const groups: GroupReady[] = [];
    for (const g of this.groupIds()) {
      const rn = this.#groups.get(g)!;
      if (rn.hasReady()) groups.push({ group: g, ready: rn.ready() });
    }
    return { groups };
  }

  /** All outgoing messages of a MultiReady, wrapped for the shared transport. */
  static messages(mr: MultiReady): GroupMessage[] {
    const out: GroupMessage[] = [];
    for (const { group, ready } of mr.groups) for (const msg of ready.messages) out.push({ group, msg });
    return out;
  }

  advance(mr: MultiReady): void {
    for (const { group, ready } of mr.groups) this.#groups.get(group)?.advance(ready);
  }
}
