// The Raft host actor and its protocol.
export { raftHost, RaftHostCore } from './host.ts';
export type { RaftHostStats } from './host.ts';
export type * from './protocol.ts';
export { KvStateMachine, encodeCommand, decodeCommand } from './kv.ts';
export type { KvCommand, KvResult } from './kv.ts';
