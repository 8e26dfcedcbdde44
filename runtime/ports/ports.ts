// The I/O a node hands its services. Nothing under actors/ opens a socket, a
// database or a timer itself: clock, timers and randomness come through the
// actor context's Env, and everything else through these ports, which the node
// builds — from the real machine (actors/node/linux-ports.ts) or from the
// simulator (actors/node/sim/) — so that the same service code runs in both.
import type { DurableLog } from '../raft/storage.ts';
import type { RaftHostProbe } from '../raft-host/protocol.ts';
import type { PeerPort } from './peers.ts';

/** What the machine says about itself (the node object's stats). */
export interface HostMetrics {
  /** CPU used by this node's process since the previous call, in percent of one core. */
  cpuPct(): number;
  rssBytes(): number;
  heapUsedBytes(): number;
  memUsedPct(): number;
  load1(): number;
  /** What the machine offers workloads (the placement's capacity); absent: not known. */
  capacity?(): { vcpus: number; memoryMb: number };
}

export interface NodePorts {
  /** This node's name. */
  readonly node: string;
  /**
   * How many times this node has started (1, 2, …), kept on its disk: it only grows, whatever
   * the clock says. What the node publishes is stamped with it, so peers can tell a restarted
   * node's word from its previous life's.
   */
  readonly boot: number;
  /** The node's link to its peers, one channel per purpose. */
  readonly peers: PeerPort;
  /** The durable log of one Raft group (opened once per group per start). */
  openLog(group: string): DurableLog;
  readonly host: HostMetrics;
  /** Simulation only: observation hooks for a Raft group's invariant checks. */
  raftProbe?(group: string): RaftHostProbe | undefined;
  /** Simulation only: services report facts the simulator's invariants check (e.g. an alarm publication accepted). */
  observe?(kind: string, data: Record<string, unknown>): void;
}
