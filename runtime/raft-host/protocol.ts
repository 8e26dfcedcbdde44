// What the Raft host actor speaks: its mailbox protocol, the client
// request/response shapes, and the two seams it is given — a transport for
// Raft messages and (in simulation only) a probe that reports what it does.
import type { ReplyTo } from '../actor/types.ts';
import type { ConfChange, Entry, Role } from '../raft/types.ts';
import type { DurableLog } from '../raft/storage.ts';
import type { ConfState } from '../raft/types.ts';

export type KvValue = string | null;

/** Read access to one node's stored log (for diagnostics and the simulator's invariant checks). */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  /** Term at i, or undefined when i is compacted away or beyond the end. */
  term(i: number): number | undefined;
  entry(i: number): Entry | undefined;
}

/** A client operation on the replicated key-value store. `id` is unique per attempt. */
export type ClientRequest =
  | { id: string; op: 'read'; key: string }
  | { id: string; op: 'write'; key: string; value: KvValue }
  | { id: string; op: 'cas'; key: string; expected: KvValue; value: KvValue };

/**
 * The answer. Success shapes match the linearizability checker's KV model
 * (`{value}` for read, `{ok}` for write/cas). Errors:
 * - `not-leader`: definitely not executed; retry at `leader` (may be '' if unknown);
 * - `unavailable`: definitely not executed (e.g. a membership change in progress);
 * - `indeterminate`: may or may not have taken effect.
 */
export type ClientResponse =
  | { value: KvValue }
  | { ok: boolean }
  | { error: 'not-leader'; leader: string }
  | { error: 'unavailable'; message: string }
  | { error: 'indeterminate'; message: string };

export type AdminRequest =
  | { kind: 'conf-change'; change: ConfChange }
  | { kind: 'transfer-leader'; to: string }
  | { kind: 'campaign' };

export type AdminResponse = { ok: true } | { ok: false; error: string; leader?: string };

export type RaftHostMsg =
  | { type: 'tick' }
  /** A Raft message from a peer, unvalidated (it came off the wire). */
  | { type: 'raft'; msg: unknown }
  | { type: 'client'; req: ClientRequest; replyTo: ReplyTo<ClientResponse> }
  | { type: 'admin'; req: AdminRequest; replyTo: ReplyTo<AdminResponse> }
  /** Internal: the durable log finished a persist. */
  | { type: 'persisted'; gen: number; error?: string }
  | { type: 'persist-retry'; gen: number };

/** Sends Raft messages to peers. The simulator's network implements it; so will the TLS transport. */
export interface RaftTransport {
  send(to: string, msg: unknown): void;
}

/** A read-only window on a running host (diagnostics; the simulator's convergence checks). */
export interface HostView {
  readonly log: LogView;
  applied(): number;
  status(): { role: Role; term: number; lead: string; commit: number; voters: string[]; learners: string[] };
  /** Deterministic serialization of the state machine. */
  stateDigest(): string;
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

export interface RaftHostOptions {
  id: string;
  /** Members when the disk is empty (first boot). Spares start with an empty configuration. */
  bootstrap: ConfState;
  durableLog: DurableLog;
  transport: RaftTransport;
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  /** Take a snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in memory after compaction, so slightly lagging followers need no snapshot. */
  compactionMargin: number;
  probe?: RaftHostProbe;
  /**
   * TEST ONLY — deliberately unsafe: serve reads from the local state machine
   * on any node without ReadIndex. Exists so tests can show the
   * linearizability checker catches stale reads.
   */
  unsafeLocalReads?: boolean;
  /** How long a pending ReadIndex may wait before it is forgotten (the client has timed out by then). */
  readTimeoutMs?: number;
}
