// What the Raft host actor speaks: its mailbox protocol, the generic client
// request/response shapes, the state-machine seam, and the two I/O seams it
// is given — a transport for Raft messages (shared by every group on a node)
// and (in simulation only) a probe that reports what it does.
import type { ActorRef, ReplyTo } from '../actor/types.ts';
import type { ConfChange, Entry, Message, Role } from '../raft/types.ts';
import type { DurableLog } from '../raft/storage.ts';

/** Read access to one node's stored log (for diagnostics and the simulator's invariant checks). */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  /** Term at i, or undefined when i is compacted away or beyond the end. */
  term(i: number): number | undefined;
  entry(i: number): Entry | undefined;
  /** Every stored entry, from firstIndex() on (a copy of the list; the entries themselves are shared). */
  entries(): Entry[];
}

/**
 * The replicated application. Called only from inside the host actor, in log
 * order, each committed normal entry exactly once per incarnation (after a
 * restart, from the last snapshot on). Must be deterministic: every replica
 * computes the same state and results from the same entries.
 * Raft's own no-op entries (empty data) and membership entries are not passed in.
 */
export interface StateMachine<Res = unknown> {
  /** Apply the committed entry at `index`; the result goes to the proposer (if it is waiting on this node). */
  apply(index: number, data: string): Res;
  /** Serialize the whole state (taken every `snapshotEvery` applied entries; shipped to lagging followers). */
  snapshot(): string;
  /** Replace the whole state by a snapshot taken at `index` ('' = the empty state). */
  restore(data: string, index: number): void;
  /** Deterministic digest for convergence checks (default: snapshot()). */
  digest?(): string;
}

/**
 * Definite and indefinite failures:
 * - `not-leader`: definitely not executed; retry at `leader` (may be '' if unknown);
 * - `unavailable`: definitely not executed (e.g. leadership transfer or membership change in progress);
 * - `indeterminate`: may or may not have taken effect;
 * - `invalid`: definitely not executed, and retrying will not help (a proposal too large for one Raft message).
 */
export type HostError =
  | { error: 'not-leader'; leader: string }
  | { error: 'unavailable'; message: string }
  | { error: 'invalid'; message: string }
  | { error: 'indeterminate'; message: string };

/** Answer to `propose`: the state machine's result for the entry, once committed and applied on this node. */
export type ProposeResponse<Res> = { ok: true; index: number; result: Res } | HostError;

/** Answer to `read`: the local state machine has applied at least `index` (a confirmed ReadIndex): read it now. */
export type ReadResponse = { ok: true; index: number } | HostError;

export interface HostStatus {
  group: string;
  id: string;
  role: Role;
  term: number;
  /** Current leader ('' when unknown). */
  lead: string;
  commit: number;
  applied: number;
  voters: string[];
  learners: string[];
}

/** Sent to every leadership watcher on every change of (lead, term), and once on subscription. */
export interface LeaderEvent {
  type: 'leader';
  group: string;
  /** '' when no leader is known (e.g. an election is running). */
  lead: string;
  term: number;
}

export type AdminRequest =
  | { kind: 'conf-change'; change: ConfChange }
  | { kind: 'transfer-leader'; to: string }
  | { kind: 'campaign' };

export type AdminResponse = { ok: true } | { ok: false; error: string; leader?: string };

export type RaftHostMsg<Res = unknown> =
  | { type: 'tick' }
  /** A Raft message from a peer of this group, validated where it came off the wire. */
  | { type: 'raft'; msg: Message }
  /** Replicate `data` (non-empty) through the log; reply with StateMachine.apply's result. */
  | { type: 'propose'; data: string; replyTo: ReplyTo<ProposeResponse<Res>> }
  /** Linearizable read barrier (ReadIndex). Works on followers too (the leader confirms). */
  | { type: 'read'; replyTo: ReplyTo<ReadResponse> }
  | { type: 'status'; replyTo: ReplyTo<HostStatus> }
  /** Subscribe `ref` to LeaderEvents (the current one is sent at once). Dropped when `ref` terminates. */
  | { type: 'watch-leader'; ref: ActorRef<LeaderEvent> }
  | { type: 'unwatch-leader'; ref: ActorRef<LeaderEvent> }
  | { type: 'admin'; req: AdminRequest; replyTo: ReplyTo<AdminResponse> }
  /** The node's link to `peer` came up or went down (a hint; see Raft.linkDown). */
  | { type: 'link'; peer: string; up: boolean }
  /** Internal: append the proposals queued so far as one batch. */
  | { type: 'flush' }
  /** Internal: the durable log finished a persist. */
  | { type: 'persisted'; gen: number; error?: string }
  | { type: 'persist-retry'; gen: number };

/**
 * Sends Raft messages to the peer `to`, tagged with the group, over one
 * connection per peer shared by all groups of the node. The receiving node
 * hands `(group, msg)` to its RaftRouter, which routes it to that group's host.
 * The simulator's network implements it; so will the TLS transport.
 */
export interface RaftTransport {
  /** False when the message certainly did not leave (no link to `to` right now): the host tells Raft the peer is unreachable. */
  send(to: string, group: string, msg: Message): boolean | void;
}

/** A read-only window on a running host (diagnostics; the simulator's convergence checks). */
export interface HostView {
  readonly group: string;
  readonly log: LogView;
  applied(): number;
  status(): HostStatus;
  /** Deterministic serialization of the state machine. */
  stateDigest(): string;
  /** The host itself (the simulator sends it admin requests). */
  readonly ref: ActorRef<RaftHostMsg<unknown>>;
}

/** Observation hooks for the simulator's invariant checks. Real nodes pass none. */
export interface RaftHostProbe {
  role?(node: string, role: Role, term: number, lead: string, log: LogView): void;
  persisting?(node: string, info: { isLeader: boolean; term: number; entries: readonly Entry[]; lastBefore: number; snapshotFromLeader: boolean }): void;
  applied?(node: string, entries: readonly Entry[]): void;
  snapshotRestored?(node: string, index: number, term: number): void;
  started?(node: string, view: HostView): void;
  /** Snapshot taken by the node itself (for "did compaction happen" checks). */
  snapshotTaken?(node: string, index: number): void;
}

export interface RaftHostOptions<Res = unknown> {
  /** Raft group name: tags outgoing frames; must match on every member. */
  group: string;
  /** This node's id (its transport address). */
  id: string;
  /**
   * Founding voters (including `id`) used only when the disk is empty (first
   * boot of a new group). A node that will join an existing group passes [].
   */
  peers: readonly string[];
  /** Founding learners (first boot only). */
  learners?: readonly string[];
  storage: DurableLog;
  transport: RaftTransport;
  stateMachine: StateMachine<Res>;
  /** Default 100. */
  tickMs?: number;
  /** Default 10. */
  electionTick?: number;
  /** Default 1. */
  heartbeatTick?: number;
  /**
   * Raft's cap on the entries of one append, in bytes of their encoding: the
   * wire's frame limit less the envelope (raftSizeLimits in limits.ts). A
   * proposal that would not fit one append alone is refused ('invalid').
   * Default: derived from the default frame limit.
   */
  maxAppendBytes?: number;
  /** Take a snapshot every this many applied entries. Default 10000. */
  snapshotEvery?: number;
  /** Entries kept in memory after compaction, so slightly lagging followers need no snapshot. Default 1000. */
  compactionMargin?: number;
  probe?: RaftHostProbe;
  /**
   * TEST ONLY — deliberately unsafe: answer `read` at once on any node
   * without ReadIndex. Exists so tests can show the linearizability checker
   * catches stale reads.
   */
  unsafeLocalReads?: boolean;
  /** How long a `read` may wait for its ReadIndex confirmation before it fails `unavailable`. Default 5000. */
  readTimeoutMs?: number;
}
