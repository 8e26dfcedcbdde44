// What a node answers to `status` on its control socket.

export interface RaftGroupStatus {
  role: string;
  term: number;
  lead: string;
  commit: number;
  applied: number;
  voters: string[];
}

export interface ActorRow {
  path: string;
  thread: string;
  status: string;
  /** Restarts so far (the actor's incarnation). */
  restarts: number;
  depth: number;
  processed: number;
}

import type { ListenerStats } from '../../runtime/net/listener-gate.ts';
import type { PeerLinkStats } from '../../runtime/ports/peers.ts';
import type { NodeDown } from '../monitor/client.ts';

export interface NodeStatus {
  node: string;
  pid: number;
  uptimeMs: number;
  address: { host: string; port: number };
  raft: { cdb: RaftGroupStatus; monitor: RaftGroupStatus };
  monitor: {
    /** The node whose Monitor is primary, as this node sees it (leader of the monitor group). */
    primary: string | undefined;
    term: number;
    score: number | undefined;
    activeAlarms: number;
    /** The nodes this node's Monitor counts down at its last evaluation, and why ('unreachable': its link closed or went silent). */
    nodesDown?: NodeDown[];
  };
  actors: ActorRow[];
  /** This node's link to each peer (`down`: why and for how long, while it is down). */
  transport: Record<string, PeerLinkStats>;
  /** Each listener's limit, current connections and refusals by reason (absent in a simulated node). */
  listeners?: { control?: ListenerStats; peer?: ListenerStats };
}
