// The host-facing API (modelled on etcd's RawNode). The host drives it:
//
//   loop:
//     feed tick() on a timer and step(msg) for every message received;
//     if (node.hasReady()) {
//       const rd = node.ready();
//       0. send the first rd.earlyCount of rd.messages right away (they do not
//          depend on this Ready being durable: the leader replicates while it
//          writes, Raft thesis §10.2.1);
//       1. persist rd.snapshot, rd.entries, rd.hardState (fsync when rd.mustSync)
//          and wait until durable;
//       2. send the rest of rd.messages;
//       3. if rd.snapshot: restore the state machine from it;
//          apply rd.committedEntries in order (calling applyConfChange for 'conf' entries);
//       4. serve rd.readStates (safe once step 3 is done);
//       5. node.advance(rd).
//     }
//
// Only one Ready may be outstanding: call advance(rd) before the next ready().
// tick()/step() may be called while a Ready is being persisted, and
// takeEarlyMessages() hands out what they produced that may go out at once
// (a leader's appends and heartbeats), so a slow disk does not silence it.
//
// The leader's own log copy counts toward the commit quorum only from
// advance() on (its self-acknowledgement); followers acknowledge only after
// persisting (their responses are never early), and nothing is early while a
// term or vote change is not yet durable.
import type { ConfChange, ConfState, Entry, Message, NodeId, ProposeResult, ReadState, Ready, Result, Role, SoftState } from './types.ts';
import { NONE } from './types.ts';
import type { RaftConfig } from './raft.ts';
import { Raft } from './raft.ts';
import type { ProgressState } from './progress.ts';
import { cloneConf } from './storage.ts';

// Shared empties for Readys that carry no entries or reads: frozen, so a
// reader that tried to add to one would fail loudly rather than corrupt the next.
const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
const NO_MESSAGES: Message[] = Object.freeze([]) as unknown as Message[];
const NO_READS: ReadState[] = Object.freeze([]) as unknown as ReadState[];

export interface PeerStatus {
  match: number;
  next: number;
  state: ProgressState;
  paused: boolean;
  inflight: number;
  recentActive: boolean;
  learner: boolean;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  lead: NodeId;
  role: Role;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  conf: ConfState;
  leadTransferee: NodeId;
  /** Per-peer replication progress; only on the leader. */
  progress?: Record<NodeId, PeerStatus>;
}

export type RawNodeConfig = RaftConfig;

export class RawNode {
  /** The state machine itself; exposed for tests and diagnostics, not for hosts to mutate. */
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: { term: number; vote: NodeId; commit: number };
  /** Term and vote known durable (as of the last advance()). */
  #stableTerm: number;
  #stableVote: NodeId;
  /** Configurations for the conf entries handed out in the outstanding Ready, in order. */
  #confQueue: ConfState[] = [];

  constructor(config: RawNodeConfig) {
    this.raft = new Raft(config);
    this.#prevSoft = { lead: this.raft.lead, role: this.raft.role };
    this.#prevHard = { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
    this.#stableTerm = this.raft.term;
    this.#stableVote = this.raft.vote;
  }

  /** Whether messages may leave before the outstanding/next Ready is durable: term and vote are. */
  #earlyAllowed(): boolean {
    const r = this.raft;
    return r.term === this.#stableTerm && r.vote === this.#stableVote && r.log.unstable.snapshot === undefined;
  }

  /**
   * While a Ready is being persisted: take the messages produced since that
   * may be sent now (see isEarly). The rest stay for the next Ready.
   */
  takeEarlyMessages(): Message[] {
    const r = this.raft;
    const msgs = r.msgs;
    if (msgs.length === 0 || !this.#earlyAllowed()) return [];
    let allEarly = true;
    for (const m of msgs) {
      if (!isEarly(m)) {
        allEarly = false;
        break;
      }
    }
    if (allEarly) {
      r.msgs = [];
      return msgs;
    }
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of msgs) (isEarly(m) ? early : late).push(m);
    r.msgs = late;
    return early;
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (PreVote first if enabled). */
  campaign(): Result {
    if (this.raft.role === 'leader') return { ok: true };
    if (!this.raft.hup('election')) return { ok: false, error: { code: 'removed', message: `${this.id} is not a voter` } };
    return { ok: true };
  }

  /** Feed a message from the network (validate untrusted frames with parseRaftMessage first). */
  step(m: Message): Result {
    if (m.to !== this.id) return { ok: false, error: { code: 'invalid', message: `message for ${m.to} delivered to ${this.id}` } };
    if (m.from === this.id) return { ok: false, error: { code: 'invalid', message: 'message from self' } };
    this.raft.step(m);
    return { ok: true };
  }

  propose(data: string): ProposeResult {
    return this.raft.proposeEntries([{ type: 'normal', data }]);
  }

  /** Propose several entries at once (one append per follower); the result's index is the last one's. */
  proposeBatch(datas: readonly string[]): ProposeResult {
    const ents = new Array<{ type: 'normal'; data: string }>(datas.length);
    for (let i = 0; i < datas.length; i++) ents[i] = { type: 'normal', data: datas[i] };
    return this.raft.proposeEntries(ents);
  }

  /** Propose a single-server membership change; it takes effect when appended (see confchange.ts). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(cc);
  }

  /**
   * Acknowledge a committed 'conf' entry while applying a Ready. Membership
   * already took effect when the entry was appended (append-time semantics),
   * so this only returns the configuration as of that entry, which is what the
   * application should record next to its state (e.g. in a snapshot).
   * Call it once per conf entry, in order; outside that it returns the current configuration.
   */
  applyConfChange(_cc: ConfChange): ConfState {
    return this.#confQueue.shift() ?? this.raft.trk.confState();
  }

  /** Configuration as of log index `index` (default: latest, possibly uncommitted). */
  confState(index?: number): ConfState {
    return cloneConf(index === undefined ? this.raft.conf.current() : this.raft.conf.at(index));
  }

  /**
   * Request a linearizable read. `ctx` must be unique per request (e.g.
   * `${nodeId}:${counter}`). The answer arrives as a ReadState in a later
   * Ready; if none arrives (lost message, leader change) retry with a new ctx.
   */
  readIndex(ctx: string): Result {
    const r = this.raft;
    if (r.role !== 'leader' && r.lead === NONE) return { ok: false, error: { code: 'no-leader', message: 'no known leader to confirm the read', leader: NONE } };
    if (ctx === '') return { ok: false, error: { code: 'invalid', message: 'read context must not be empty' } };
    r.step({ type: 'readIndex', from: this.id, to: this.id, term: 0, context: ctx });
    return { ok: true };
  }

  /** Ask the leader to hand leadership to `to` (forwarded when called on a follower). */
  transferLeader(to: NodeId): Result {
    const r = this.raft;
    if (r.role !== 'leader' && r.lead === NONE) return { ok: false, error: { code: 'no-leader', message: 'no known leader', leader: NONE } };
    r.step({ type: 'transferLeader', from: this.id, to: this.id, term: 0, target: to });
    return { ok: true };
  }

  /** Forget the current leader (follower only), ending its lease early. */
  forgetLeader(): void {
    this.raft.forgetLeader();
  }

  /** The transport's link to `id` closed: a hint (see Raft.linkDown) that makes a follower of `id` campaign early. */
  linkDown(id: NodeId): void {
    this.raft.linkDown(id);
  }

  /** The transport's link to `id` is up: a leader sends it a heartbeat at once. */
  linkUp(id: NodeId): void {
    this.raft.linkUp(id);
  }

  /** The transport could not reach `id`: stop streaming optimistically to it. */
  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** The snapshot sent to `id` was delivered (ok) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  #softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  #readyReads(upTo: number): boolean {
    const rs = this.raft.readStates;
    for (let i = 0; i < rs.length; i++) if (rs[i].index <= upTo) return true;
    return false;
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.lead !== this.#prevSoft.lead || r.role !== this.#prevSoft.role) return true;
    if (r.term !== this.#prevHard.term || r.vote !== this.#prevHard.vote || r.log.committed !== this.#prevHard.commit) return true;
    if (r.log.unstable.snapshot) return true;
    if (r.log.unstable.entries.length > 0) return true;
    if (r.msgs.length > 0) return true;
    if (r.log.hasNextEnts()) return true;
    return this.#readyReads(Math.max(r.log.applied, r.log.committed));
  }

  ready(): Ready {
    // Called for nearly every message a busy node handles: allocate only what
    // this Ready carries (a fresh [] plus a push costs a 17-slot backing store).
    const r = this.raft;
    const log = r.log;
    const committedEntries: Entry[] = log.hasNextEnts() ? log.nextEnts() : NO_ENTRIES;
    // The Ready takes the outbox (raft starts a new one); an empty outbox stays
    // raft's, so the Ready gets the shared empty instead.
    let messages = r.msgs.length > 0 ? r.msgs : NO_MESSAGES;
    let earlyCount = 0;
    if (messages.length > 0 && this.#earlyAllowed()) {
      // Early messages first (stable order within each class).
      let late = 0;
      for (let i = 0; i < messages.length; i++) if (!isEarly(messages[i])) late++;
      earlyCount = messages.length - late;
      if (late > 0 && earlyCount > 0) {
        const ordered: Message[] = [];
        for (const m of messages) if (isEarly(m)) ordered.push(m);
        for (const m of messages) if (!isEarly(m)) ordered.push(m);
        messages = ordered;
      }
    }
    // One shape for every Ready (fields set or not), so its readers stay monomorphic.
    const rd: Ready = {
      softState: undefined,
      hardState: undefined,
      entries: log.unstable.entries.length > 0 ? log.unstableEntries() : NO_ENTRIES,
      snapshot: undefined,
      committedEntries,
      messages,
      earlyCount,
      readStates: NO_READS,
      mustSync: false,
    };
    if (r.msgs.length > 0) r.msgs = [];
    const prevSoft = this.#prevSoft;
    if (r.lead !== prevSoft.lead || r.role !== prevSoft.role) {
      rd.softState = this.#softState();
      this.#prevSoft = rd.softState;
    }
    const prev = this.#prevHard;
    const termOrVote = r.term !== prev.term || r.vote !== prev.vote;
    if (termOrVote || log.committed !== prev.commit) {
      rd.hardState = { term: r.term, vote: r.vote, commit: log.committed };
      this.#prevHard = rd.hardState;
    }
    if (log.unstable.snapshot) rd.snapshot = log.unstable.snapshot;
    rd.mustSync = termOrVote || rd.entries.length > 0 || rd.snapshot !== undefined;

    // Reads whose index is covered once this Ready's committed entries are
    // applied can be served right after step 3 of the host loop.
    if (r.readStates.length > 0) {
      let appliedAfter = log.applied;
      if (rd.snapshot) appliedAfter = Math.max(appliedAfter, rd.snapshot.meta.index);
      if (committedEntries.length > 0) appliedAfter = committedEntries[committedEntries.length - 1].index;
      const now: ReadState[] = [];
      const keep: ReadState[] = [];
      for (const rs of r.readStates) (rs.index <= appliedAfter ? now : keep).push(rs);
      r.readStates = keep;
      if (now.length > 0) rd.readStates = now;
    }

    if (this.#confQueue.length > 0) this.#confQueue = [];
    for (const e of committedEntries) if (e.type === 'conf') this.#confQueue.push(cloneConf(r.conf.at(e.index)));
    return rd;
  }

  /** The host finished handling `rd` (persisted, sent, applied). */
  advance(rd: Ready): void {
    const log = this.raft.log;
    if (rd.snapshot) {
      log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > log.applied) log.applied = rd.snapshot.meta.index;
    }
    if (rd.hardState) {
      this.#stableTerm = rd.hardState.term;
      this.#stableVote = rd.hardState.vote;
    }
    if (rd.committedEntries.length > 0) log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      log.stableTo(last.index, last.term);
      // The leader's own copy is durable now: count it toward the quorum.
      this.raft.selfAck(last.index, last.term);
    }
    if (this.#confQueue.length > 0) this.#confQueue = [];
  }

  status(): Status {
    const r = this.raft;
    const s: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      conf: r.trk.confState(),
      leadTransferee: r.leadTransferee,
    };
    if (r.role === 'leader') {
      s.progress = {};
      for (const id of r.trk.members()) {
        const pr = r.trk.progress.get(id)!;
        s.progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          paused: pr.isPaused(),
          inflight: pr.inflights.count,
          recentActive: pr.recentActive,
          learner: pr.isLearner,
        };
      }
    }
    return s;
  }
}

/**
 * Messages that may leave before the sender's pending writes are durable
 * (given its term and vote are): they acknowledge nothing about the local log
 * or votes. Responses to appends and votes must wait (the acknowledged state
 * must survive a crash); heartbeat responses only confirm the term.
 */
function isEarly(m: Message): boolean {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
    case 'timeoutNow':
    case 'heartbeatResp':
    case 'readIndex':
    case 'readIndexResp':
    case 'transferLeader':
    case 'propose':
      return true;
    default:
      return false;
  }
}
