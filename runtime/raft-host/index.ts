// The generic Raft host actor: one actor per Raft group per node, owning a
// RawNode, its durable log, and a StateMachine you supply.
//
// Usage (one node, two groups sharing one transport):
//
//   const router = new RaftRouter();
//   const transport: RaftTransport = { send: (to, group, msg) => net.send(to, { group, msg }) };
//   net.onFrame((frame) => router.deliverFrame(frame));        // { group, msg } off the wire
//   const meta = system.spawn(raftHost<MyRes>({
//     group: 'meta', id: 'n1', peers: ['n1', 'n2', 'n3'],      // founding voters; [] to join later
//     storage: new SqliteDurableLog('/var/acp/meta.db'), transport,
//     stateMachine: mySm,                                      // StateMachine<MyRes>
//     tickMs: 100, electionTick: 10, heartbeatTick: 1,          // defaults
//   }), 'raft-meta');
//   router.register('meta', meta);
//
// Requests (protocol.ts):
//   { type: 'propose', data, replyTo }  → { ok: true, index, result }  (result = stateMachine.apply(index, data))
//                                        | { error: 'not-leader', leader } | { error: 'unavailable', message }
//                                        | { error: 'indeterminate', message }
//   { type: 'read', replyTo }          → { ok: true, index } once the local state machine has applied
//                                        a confirmed ReadIndex: read your state machine now (linearizable)
//   { type: 'status', replyTo }        → HostStatus { group, id, role, term, lead, commit, applied, voters, learners }
//   { type: 'watch-leader', ref }      → ref gets LeaderEvent { type: 'leader', group, lead, term } now and on
//                                        every change of (lead, term), sent once the change is durable;
//                                        { type: 'unwatch-leader', ref } (or ref terminating) stops it.
//                                        The term is a fencing token: it only grows.
//   { type: 'admin', req: { kind: 'conf-change' | 'transfer-leader' | 'campaign', ... }, replyTo } → AdminResponse
//
// The state machine is touched only inside the host actor: apply() in log
// order, snapshot() every `snapshotEvery` entries, restore() on start and on
// a snapshot from the leader. Reading it from outside (after a `read` reply)
// must be done on the same thread; it never goes backwards within an incarnation.
export { raftHost, RaftHostCore } from './host.ts';
export type { RaftHostStats } from './host.ts';
export { RaftRouter } from './router.ts';
export type { RaftFrameMsg } from './router.ts';
export type * from './protocol.ts';
export { KvStateMachine, encodeCommand, decodeCommand } from './kv.ts';
export type { KvCommand, KvResult, KvValue, ClientRequest, ClientResponse } from './kv.ts';
