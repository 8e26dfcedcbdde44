// Plain data types shared by every part of the Raft core. Everything here is
// JSON-serializable on purpose: messages cross TLS sockets and are
// structured-cloned between worker threads, so no classes, Maps or bigints.

export type NodeId = string;

/** "No node": used for an absent vote or an unknown leader. */
export const NONE: NodeId = '';

export type EntryType = 'normal' | 'conf';

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to Raft. For 'conf' entries it is a JSON-encoded ConfChange. */
  data: string;
}

/** What must be durable before a node answers anyone (Raft paper Fig. 2 "persistent state"). */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/**
 * One single-server membership change. Promoting a learner is 'addVoter' of a
 * node that is currently a learner; demoting is 'addLearner' of a voter.
 */
export interface ConfChange {
  type: 'addVoter' | 'addLearner' | 'remove';
  node: NodeId;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** Membership as of `index` (the configuration in effect after applying entries 1..index). */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  lead: NodeId;
  role: Role;
}

export interface ReadState {
  /** The commit index at the time the read was requested; serve the read once applied >= index. */
  index: number;
  requestCtx: string;
}

// ---------------------------------------------------------------------------
// Messages. A discriminated union on `type`. Every message has from/to/term.
// term 0 marks a "termless" forwarded request (propose, readIndex,
// transferLeader sent by a follower to its leader): these carry no claim about
// the sender's term so they never cause a term change.

interface MsgBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** Leader -> follower: entries following (index, logTerm). */
export interface MsgAppend extends MsgBase {
  type: 'append';
  /** Index of the entry immediately preceding `entries` ("prevLogIndex"). */
  index: number;
  /** Term of that entry ("prevLogTerm"). */
  logTerm: number;
  entries: Entry[];
  commit: number;
}

export interface MsgAppendResp extends MsgBase {
  type: 'appendResp';
  /** On success: the last index now known to match. On reject: the rejected prevLogIndex. */
  index: number;
  reject: boolean;
  /** On reject: a hint (index, logTerm) from the follower's log for fast backtracking. */
  rejectHint: number;
  logTerm: number;
}

export interface MsgVote extends MsgBase {
  type: 'vote' | 'preVote';
  /** Candidate's last log index and term (the "up-to-date" check). */
  index: number;
  logTerm: number;
  /** Set when campaigning because of a leadership transfer: bypasses the leader lease. */
  transfer: boolean;
}

export interface MsgVoteResp extends MsgBase {
  type: 'voteResp' | 'preVoteResp';
  reject: boolean;
}

export interface MsgHeartbeat extends MsgBase {
  type: 'heartbeat';
  commit: number;
  /** ReadIndex request context being confirmed by this round, or ''. */
  context: string;
}

export interface MsgHeartbeatResp extends MsgBase {
  type: 'heartbeatResp';
  context: string;
}

export interface MsgSnapshot extends MsgBase {
  type: 'snapshot';
  snapshot: Snapshot;
}

export interface MsgTimeoutNow extends MsgBase {
  type: 'timeoutNow';
}

/** Follower -> leader forward of a client read; term is 0. */
export interface MsgReadIndex extends MsgBase {
  type: 'readIndex';
  context: string;
}

export interface MsgReadIndexResp extends MsgBase {
  type: 'readIndexResp';
  context: string;
  index: number;
}

/** Follower -> leader forward of a transfer request; term is 0. */
export interface MsgTransferLeader extends MsgBase {
  type: 'transferLeader';
  target: NodeId;
}

/** Follower -> leader forward of proposals (only when forwarding is enabled); term is 0. */
export interface MsgPropose extends MsgBase {
  type: 'propose';
  entries: Entry[];
}

export type Message =
  | MsgAppend
  | MsgAppendResp
  | MsgVote
  | MsgVoteResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnapshot
  | MsgTimeoutNow
  | MsgReadIndex
  | MsgReadIndexResp
  | MsgTransferLeader
  | MsgPropose;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------
// Results for the host API. Expected conditions are values, never exceptions.

export type RaftErrorCode =
  | 'not-leader' // this node is not the leader; `leader` is a hint (may be NONE)
  | 'no-leader' // forwarding enabled but no leader known
  | 'transferring' // leader is handing over leadership; retry shortly
  | 'conf-change-pending' // a previous membership change is not committed yet
  | 'not-ready' // a new leader has not committed an entry of its term yet
  | 'removed' // this node is not a member any more
  | 'invalid'; // malformed request (e.g. removing a non-member)

export interface RaftError {
  code: RaftErrorCode;
  message: string;
  /** Best known leader, for 'not-leader' (NONE when unknown). */
  leader?: NodeId;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: true; forwarded: true; to: NodeId }
  | { ok: false; error: RaftError };

export type Result = { ok: true } | { ok: false; error: RaftError };

/** Everything the host must do after a step. See rawnode.ts for the contract. */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** Persist BEFORE sending `messages`. May overwrite a suffix of the stored log. */
  entries: Entry[];
  /** Persist and apply (replace state machine) before applying committedEntries. */
  snapshot?: Snapshot;
  /** Apply in order, after persisting this Ready. */
  committedEntries: Entry[];
  /**
   * Send after persisting — except the first `earlyCount`, which may be sent
   * before or while this Ready is being persisted (Raft thesis §10.2.1: the
   * leader writes its log in parallel with replicating it). Early messages
   * never acknowledge local log entries, votes or terms that are not yet
   * durable; the leader counts its own copy toward the commit quorum only in
   * advance(), i.e. once the host reports the entries durable.
   */
  messages: Message[];
  /** How many leading `messages` may be sent without waiting for this Ready's persistence. */
  earlyCount: number;
  /** Reads that are now safe to serve (applied index already covers them). */
  readStates: ReadState[];
  /** True when hardState term/vote or entries changed: the write must be fsynced. */
  mustSync: boolean;
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.meta.index === 0;
}

/**
 * Bytes one entry can take in a JSON-encoded message besides its data's string
 * literal: field names and punctuation, a 16-digit term and index (the largest
 * safe integers), the longer type ("normal") and the comma that separates it
 * from the next entry (75 bytes; rounded up).
 */
export const ENTRY_WIRE_OVERHEAD = 80;

/**
 * Most bytes one UTF-16 unit of a string takes once JSON-encoded as UTF-8: a
 * control character or a lone surrogate becomes a six-character \uXXXX escape.
 */
export const MAX_JSON_EXPANSION = 6;

/** Below this many UTF-16 units the size of an entry's data is bounded without reading it. */
const EXACT_FROM = 4096;
/** Exact sizes of large entries, computed once per entry object. */
const exactSizes = new WeakMap<Entry, number>();

/** UTF-8 bytes of `s` as a JSON string literal, quotes included. */
export function jsonStringBytes(s: string): number {
  let n = s.length + 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c < 0x20) n += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 1 : 5; // \n or \u00XX
      else if (c === 34 || c === 92) n += 1; // \" or \\
    } else if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 units
      i++;
    } else if (c >= 0xd800 && c < 0xe000) n += 5; // a lone surrogate: \uXXXX
    else n += 2;
  }
  return n;
}

/**
 * Size of an entry for Raft's flow control and message size limit
 * (maxSizePerMsg): an upper bound of the bytes it takes in a message encoded
 * as JSON (UTF-8), which is how messages cross the network. Small entries are
 * bounded by their length (MAX_JSON_EXPANSION bytes per unit: no scan, on the
 * hot path); large ones are measured exactly, once, so a batch of large
 * entries is not cut to a sixth of what fits.
 */
export function entrySize(e: Entry): number {
  const n = e.data.length;
  if (n < EXACT_FROM) return ENTRY_WIRE_OVERHEAD + 2 + MAX_JSON_EXPANSION * n;
  let s = exactSizes.get(e);
  if (s === undefined) {
    s = ENTRY_WIRE_OVERHEAD + jsonStringBytes(e.data);
    exactSizes.set(e, s);
  }
  return s;
}

export function entriesSize(es: readonly Entry[]): number {
  let n = 0;
  for (const e of es) n += entrySize(e);
  return n;
}
