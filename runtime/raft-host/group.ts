// One generic home for every Raft group on a node: a group actor owns the
// group's host (runtime/raft-host/host.ts), opens the group's channels on the
// node's PeerPort (Raft messages, snapshots in pieces, forwarded proposals), and forwards a
// proposal made on a follower to the leader — once, here, so neither the
// services nor their clients redirect. A service brings only its state
// machine; the CDB and the Monitor each run one group this way, in a real
// node and in the simulator alike.
//
//   propose  → ProposeResponse: applied on the leader, or forwarded to it
//   read     → ReadResponse (ReadIndex barrier; the host answers directly)
//   status / watch-leader / admin → passed to the host, which answers directly
import { receive, setup } from '../actor/behavior.ts';
import type { ActorContext, ActorRef, Behavior, ReplyTo } from '../actor/types.ts';
import type { LargeBody, PeerChannel, PeerPort } from '../ports/peers.ts';
import type { Validation } from '../ports/validation.ts';
import type { DurableLog } from '../raft/storage.ts';
import { parseRaftMessage } from '../raft/schema.ts';
import type { Message, MsgSnapshot } from '../raft/types.ts';
import { raftHost } from './host.ts';
import { raftSizeLimits } from './limits.ts';
import type { AdminRequest, AdminResponse, HostStatus, LeaderEvent, ProposeResponse, RaftHostMsg, RaftHostProbe, ReadResponse, StateMachine } from './protocol.ts';

export interface RaftGroupSettings {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEvery: number;
  compactionMargin?: number;
  readTimeoutMs?: number;
  /** TEST ONLY: answer reads without ReadIndex (the simulator shows its checker catches it). */
  unsafeLocalReads?: boolean;
}

export interface RaftGroupOptions<Res> {
  group: string;
  /** This node. */
  id: string;
  /** Founding voters (first boot only); [] for a node that joins later. */
  voters: readonly string[];
  peers: PeerPort;
  log: DurableLog;
  stateMachine: StateMachine<Res>;
  settings: RaftGroupSettings;
  probe?: RaftHostProbe;
  /** How long a forwarded proposal may wait for the leader's answer. Default 5000 ms. */
  forwardTimeoutMs?: number;
}

export type RaftGroupMsg<Res = unknown> =
  | { type: 'propose'; data: string; replyTo: ReplyTo<ProposeResponse<Res>> }
  | { type: 'read'; replyTo: ReplyTo<ReadResponse> }
  | { type: 'status'; replyTo: ReplyTo<HostStatus> }
  | { type: 'watch-leader'; ref: ActorRef<LeaderEvent> }
  | { type: 'admin'; req: AdminRequest; replyTo: ReplyTo<AdminResponse> }
  // internal
  | LeaderEvent
  | { type: 'proposed'; local: number; r: ProposeResponse<Res> | { error: 'indeterminate'; message: string } }
  | { type: 'fwd-in'; from: string; id: number; data: string }
  | { type: 'fwd-served'; to: string; id: number; r: ProposeResponse<Res> | { error: 'indeterminate'; message: string } }
  | { type: 'fwd-reply'; id: number; r: ProposeResponse<Res> }
  | { type: 'fwd-timeout'; id: number };

/** A forwarded proposal or its answer, as it travels between the group's members. */
export type ForwardFrame = { id: number; d: string } | { id: number; r: { ok?: unknown; error?: unknown; [k: string]: unknown } };

/** A forwarded proposal or its answer; `maxData` bounds the proposal's length (it came in one frame). */
export function validateForward(x: unknown, maxData: number): Validation<ForwardFrame> {
  if (typeof x !== 'object' || x === null) return { ok: false, error: 'not an object' };
  const f = x as { id?: unknown; d?: unknown; r?: unknown };
  if (!Number.isSafeInteger(f.id) || (f.id as number) < 0) return { ok: false, error: 'bad id' };
  if (f.d !== undefined) {
    if (typeof f.d !== 'string' || f.d.length === 0 || f.d.length > maxData) return { ok: false, error: 'bad data' };
    return { ok: true, value: { id: f.id as number, d: f.d } };
  }
  if (typeof f.r !== 'object' || f.r === null) return { ok: false, error: 'bad result' };
  const r = f.r as { ok?: unknown; error?: unknown };
  if (r.ok !== true && typeof r.error !== 'string') return { ok: false, error: 'bad result' };
  return { ok: true, value: { id: f.id as number, r: f.r as { [k: string]: unknown } } };
}

function validateRaft(x: unknown): Validation<Message> {
  const r = parseRaftMessage(x);
  return r.ok ? { ok: true, value: r.msg } : { ok: false, error: r.error };
}

/** A snapshot message travels as a large body: the message without its data, and the data. */
function snapshotBody(m: MsgSnapshot): LargeBody {
  return { head: { ...m, snapshot: { meta: m.snapshot.meta, data: '' } }, text: m.snapshot.data };
}

function validateSnapshot(x: LargeBody): Validation<Message> {
  const h = x.head as { type?: unknown; snapshot?: unknown } | null;
  if (typeof h !== 'object' || h === null || h.type !== 'snapshot' || typeof h.snapshot !== 'object' || h.snapshot === null) return { ok: false, error: 'not a snapshot message' };
  return validateRaft({ ...h, snapshot: { ...(h.snapshot as object), data: x.text } });
}

interface Waiting<Res> {
  replyTo: ReplyTo<ProposeResponse<Res>>;
  data: string;
}

interface Forwarded<Res> {
  replyTo: ReplyTo<ProposeResponse<Res>>;
  to: string;
}

export function raftGroup<Res = unknown>(o: RaftGroupOptions<Res>): Behavior<RaftGroupMsg<Res>> {
  return setup<RaftGroupMsg<Res>>((ctx) => new RaftGroup<Res>(ctx, o).behavior());
}

class RaftGroup<Res> {
  readonly #ctx: ActorContext<RaftGroupMsg<Res>>;
  readonly #o: RaftGroupOptions<Res>;
  readonly #host: ActorRef<RaftHostMsg<Res>>;
  readonly #raftCh: PeerChannel<Message>;
  readonly #fwdCh: PeerChannel<ForwardFrame>;
  readonly #snapCh: PeerChannel<LargeBody>;
  readonly #unsubscribe: () => void;
  #lead = '';
  #seq = 0;
  /** Local proposals waiting for the host (to forward them if it is not the leader). */
  readonly #local = new Map<number, Waiting<Res>>();
  /** Proposals forwarded to the leader, waiting for its answer. */
  readonly #forwarded = new Map<number, Forwarded<Res>>();

  constructor(ctx: ActorContext<RaftGroupMsg<Res>>, o: RaftGroupOptions<Res>) {
    this.#ctx = ctx;
    this.#o = o;
    const group = o.group;
    const s = o.settings;
    // Channels are opened before the host exists: frames that arrive meanwhile are dropped, as on a lossy link.
    let host: ActorRef<RaftHostMsg<Res>> | undefined;
    // Appends sized to fit the wire's frames (limits.ts).
    const limits = raftSizeLimits(o.peers.maxFrameBytes);
    // Raft retransmits by itself: nothing is held for a peer while its link is down (peers.ts).
    this.#raftCh = o.peers.open(`raft/${group}`, validateRaft, (_from, msg) => host?.tell({ type: 'raft', msg }), { dropWhileDown: true });
    // Snapshots are the whole state: they may be larger than a frame, so they travel in pieces.
    this.#snapCh = o.peers.openLarge(`snap/${group}`, validateSnapshot, (_from, msg) => host?.tell({ type: 'raft', msg }));
    this.#fwdCh = o.peers.open(`fwd/${group}`, (x) => validateForward(x, limits.maxFrameBytes), (from, f) => {
      if ('d' in f) ctx.self.tell({ type: 'fwd-in', from, id: f.id, data: f.d });
      else ctx.self.tell({ type: 'fwd-reply', id: f.id, r: f.r as unknown as ProposeResponse<Res> });
    });
    const raftCh = this.#raftCh;
    const snapCh = this.#snapCh;
    host = ctx.spawn(
      raftHost<Res>({
        group,
        id: o.id,
        peers: o.voters,
        storage: o.log,
        transport: { send: (to, _g, m) => (m.type === 'snapshot' ? snapCh.send(to, snapshotBody(m)) : raftCh.send(to, m)) },
        stateMachine: o.stateMachine,
        tickMs: s.tickMs,
        maxAppendBytes: limits.maxAppendBytes,
        electionTick: s.electionTicks,
        heartbeatTick: s.heartbeatTicks,
        snapshotEvery: s.snapshotEvery,
        ...(s.compactionMargin !== undefined ? { compactionMargin: s.compactionMargin } : {}),
        ...(s.readTimeoutMs !== undefined ? { readTimeoutMs: s.readTimeoutMs } : {}),
        ...(s.unsafeLocalReads ? { unsafeLocalReads: true } : {}),
        ...(o.probe ? { probe: o.probe } : {}),
      }),
      'host',
      { restart: 'permanent', mailbox: { capacity: 100_000 } },
    );
    this.#host = host;
    host.tell({ type: 'watch-leader', ref: ctx.self as unknown as ActorRef<LeaderEvent> });
    // Link changes go straight to the host: a follower that loses its leader's link campaigns early.
    this.#unsubscribe = o.peers.onPeerState((peer, up) => host.tell({ type: 'link', peer, up }));
  }

  behavior(): Behavior<RaftGroupMsg<Res>> {
    return receive<RaftGroupMsg<Res>>(
      (_ctx, msg) => this.#handle(msg),
      (_ctx, sig) => {
        if (sig.signal === 'PostStop' || sig.signal === 'PreRestart') this.#close();
      },
    );
  }

  #close(): void {
    this.#unsubscribe();
    this.#raftCh.close();
    this.#snapCh.close();
    this.#fwdCh.close();
    try {
      this.#o.log.close();
    } catch {
      /* already closed */
    }
  }

  #handle(msg: RaftGroupMsg<Res>): void {
    const ctx = this.#ctx;
    switch (msg.type) {
      case 'propose': {
        const id = ++this.#seq;
        this.#local.set(id, { replyTo: msg.replyTo, data: msg.data });
        this.#askHost(msg.data, (r) => ({ type: 'proposed', local: id, r }));
        return;
      }
      case 'proposed': {
        const w = this.#local.get(msg.local);
        if (!w) return;
        this.#local.delete(msg.local);
        const r = msg.r;
        if ('error' in r && r.error === 'not-leader') return this.#forward(w, r.leader, r);
        ctx.reply(w.replyTo, r as ProposeResponse<Res>);
        return;
      }
      case 'read':
      case 'status':
      case 'watch-leader':
      case 'admin':
        // The host answers the original asker directly.
        this.#host.tell(msg as RaftHostMsg<Res>);
        return;
      case 'leader':
        if (msg.group !== this.#o.group) return;
        if (msg.lead !== this.#lead) {
          // The node we forwarded to is no longer the leader: its answer may never come, and the
          // proposal may still commit under the new leader, so the outcome is unknown.
          for (const [id, f] of [...this.#forwarded]) {
            if (f.to !== msg.lead) this.#settleForward(id, { error: 'indeterminate', message: `leadership moved from ${f.to}; the write may or may not have happened` });
          }
        }
        this.#lead = msg.lead;
        return;
      case 'fwd-in':
        this.#askHost(msg.data, (r) => ({ type: 'fwd-served', to: msg.from, id: msg.id, r }));
        return;
      case 'fwd-served':
        this.#fwdCh.send(msg.to, { id: msg.id, r: msg.r as unknown as { [k: string]: unknown } });
        return;
      case 'fwd-reply':
        this.#settleForward(msg.id, msg.r);
        return;
      case 'fwd-timeout':
        this.#settleForward(msg.id, { error: 'indeterminate', message: 'the leader did not answer in time; the write may or may not have happened' });
        return;
    }
  }

  #askHost(data: string, map: (r: ProposeResponse<Res> | { error: 'indeterminate'; message: string }) => RaftGroupMsg<Res>): void {
    const timeoutMs = this.#o.forwardTimeoutMs ?? 5000;
    this.#ctx.ask<RaftHostMsg<Res>, ProposeResponse<Res>>(this.#host, (replyTo) => ({ type: 'propose', data, replyTo }), timeoutMs, (a) =>
      // No answer in time: the host may have appended the entry, which may still commit.
      map(a.ok ? a.value : { error: 'indeterminate', message: `no answer from the ${this.#o.group} Raft group within ${timeoutMs} ms; the write may or may not have happened (${a.error.message})` }),
    );
  }

  /** This node is not the leader: hand the proposal to the one that is (once). */
  #forward(w: Waiting<Res>, leader: string, notLeader: ProposeResponse<Res>): void {
    // No leader known, or no live link to it: fail now (definitely not executed) rather than
    // park the request in the transport's buffer until the client's timeout.
    if (leader === '' || leader === this.#o.id) return this.#ctx.reply(w.replyTo, notLeader);
    if (!this.#o.peers.isConnected(leader)) return this.#ctx.reply(w.replyTo, { error: 'unavailable', message: `the leader ${leader} is not reachable from ${this.#o.id}` });
    const id = ++this.#seq;
    this.#forwarded.set(id, { replyTo: w.replyTo, to: leader });
    this.#ctx.timers.startSingle(`fwd-${id}`, { type: 'fwd-timeout', id }, this.#o.forwardTimeoutMs ?? 5000);
    if (!this.#fwdCh.send(leader, { id, d: w.data })) this.#settleForward(id, notLeader);
  }

  #settleForward(id: number, r: ProposeResponse<Res>): void {
    const f = this.#forwarded.get(id);
    if (!f) return;
    this.#forwarded.delete(id);
    this.#ctx.timers.cancel(`fwd-${id}`);
    this.#ctx.reply(f.replyTo, r);
  }
}
