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
  };
  actors: ActorRow[];
  transport: Record<string, { connected: boolean; reconnects: number; framesIn: number; framesOut: number; rejected: number }>;
  /** Each listener's limit, current connections and refusals by reason (absent in a simulated node). */
  listeners?: { control?: ListenerStats; peer?: ListenerStats };
}
