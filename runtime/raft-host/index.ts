// The generic Raft home of a node: one group actor per Raft group (group.ts),
// which owns the group's host (host.ts: one RawNode, its durable log, a
// StateMachine you supply) and its channels on the node's PeerPort.
//
//   ctx.spawn(raftGroup<MyRes>({ group: 'cdb', id: 'n1', voters: ['n1', 'n2', 'n3'],
//     peers: ports.peers, log: ports.openLog('cdb'), stateMachine: mySm,
//     settings: { tickMs: 5, electionTicks: 30, heartbeatTicks: 3, snapshotEvery: 5000 } }), 'raft-cdb');
//
// Requests (protocol.ts, group.ts):
//   { type: 'propose', data, replyTo }  → { ok: true, index, result }  (result = stateMachine.apply(index, data))
//                                        | { error: 'not-leader', leader } | { error: 'unavailable', message }
//                                        | { error: 'indeterminate', message }    (forwarded to the leader if need be)
//   { type: 'read', replyTo }          → { ok: true, index } once the local state machine has applied
//                                        a confirmed ReadIndex: read your state machine now (linearizable)
//   { type: 'status', replyTo }        → HostStatus { group, id, role, term, lead, commit, applied, voters, learners }
//   { type: 'watch-leader', ref }      → ref gets LeaderEvent { type: 'leader', group, lead, term } now and on
//                                        every change of (lead, term), sent once the change is durable.
//                                        The term is a fencing token: it only grows.
//   { type: 'admin', req: { kind: 'conf-change' | 'transfer-leader' | 'campaign', ... }, replyTo } → AdminResponse
//
// The state machine is touched only inside the host actor, in the group's
// thread: apply() in log order, snapshot() every `snapshotEvery` entries,
// restore() on start and on a snapshot from the leader. The owning service
// may read it synchronously from the same thread; after a `read` reply it is
// linearizable.
export { raftHost, RaftHostCore } from './host.ts';
export type { RaftHostStats } from './host.ts';
export { raftGroup, validateForward } from './group.ts';
export type { RaftGroupMsg, RaftGroupOptions, RaftGroupSettings, ForwardFrame } from './group.ts';
export { FRAME_ENVELOPE_BYTES, fitsOneAppend, raftSizeLimits } from './limits.ts';
export type { RaftSizeLimits } from './limits.ts';
export type * from './protocol.ts';
