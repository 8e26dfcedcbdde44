// ACP's Raft: a pure state machine modelled on etcd's raft.
//
// Inputs: tick(), step(msg), and client calls; outputs: a Ready with entries
// and hard state to persist, messages to send, committed entries to apply and
// read states to serve. No I/O, clocks or globals; randomness is an injected Rng.
//
// Host API (rawnode.ts):
//   new RawNode({ id, storage, rng, electionTick?, heartbeatTick?, applied?, maxSizePerMsg?,
//                 maxInflightMsgs?, maxInflightBytes?, maxCommittedSizePerReady?,
//                 preVote? = true, checkQuorum? = true, forwardProposals? = false })
//   tick(): void                        step(m: Message): Result
//   campaign(): Result                  propose(data: string): ProposeResult
//   proposeConfChange(cc: ConfChange): ProposeResult
//   applyConfChange(cc: ConfChange): ConfState      confState(index?): ConfState
//   readIndex(ctx: string): Result      transferLeader(to: NodeId): Result
//   forgetLeader(): void                reportUnreachable(id): void   reportSnapshot(id, ok): void
//   hasReady(): boolean                 ready(): Ready                advance(rd: Ready): void
//   status(): Status
// Host loop contract: persist (snapshot, entries, hardState; fsync if mustSync), then send
// messages, then apply snapshot + committedEntries, then serve readStates, then advance.
//
// Membership: single-server changes effective ON APPEND (confchange.ts explains why);
// a new cluster's founding members start from MemoryStorage.bootstrap(conf) /
// DurableLog.persist({ conf }); a joining node starts from an empty storage.
//
// Storage (storage.ts): Storage (read side), MemoryStorage, DurableLog + MemoryDurableLog,
// SqliteDurableLog (sqlite-storage.ts), CorruptStateError.
// Wire validation: parseRaftMessage (schema.ts). Multi-group: MultiRaft (multi.ts).
// Replicated KV with at-most-once sessions: KvStore (kv.ts).
export type * from './types.ts';
export { NONE, isEmptySnapshot, entrySize } from './types.ts';
export { RawNode } from './rawnode.ts';
export type { RawNodeConfig, Status, PeerStatus } from './rawnode.ts';
export type { RaftConfig } from './raft.ts';
export {
  MemoryStorage,
  MemoryDurableLog,
  CorruptStateError,
  CompactedError,
  UnavailableError,
  bootstrapState,
  memoryStorageFrom,
  persistBatchOf,
  applyReadyToStorage,
} from './storage.ts';
export type { Storage, DurableLog, PersistBatch, LoadedState } from './storage.ts';
export { SqliteDurableLog } from './sqlite-storage.ts';
export { parseRaftMessage } from './schema.ts';
export type { ParseResult } from './schema.ts';
export { MultiRaft } from './multi.ts';
export type { GroupId, GroupMessage, GroupReady, MultiReady } from './multi.ts';
export { KvStore, encodeKvCommand, decodeKvCommand } from './kv.ts';
export type { KvCommand, KvOp, KvResult, KvValue } from './kv.ts';
export { encodeConfChange, decodeConfChange, applyChange, checkConfChange, bootstrapEntries } from './confchange.ts';
