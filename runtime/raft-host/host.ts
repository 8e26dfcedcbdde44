// The Raft host actor: owns one RawNode of one Raft group and does its I/O,
// following the etcd host loop (see runtime/raft/rawnode.ts):
//
//   ready() → send early messages → persist (wait until durable) → send the
//   other messages → apply committed entries / restore snapshot → serve
//   ReadIndex reads → advance()
//
// Acknowledgements (append and vote responses) leave only after what they
// acknowledge is durable: that is what lets a crashed node restart from its
// disk without breaking Raft's promises. A leader's appends and heartbeats do
// not wait for its own write (Raft thesis §10.2.1): they go out before and
// while it persists, and the leader counts its own copy toward the commit
// quorum only once the write is durable (RawNode.advance). Nothing leaves
// early while a term or vote change is not durable yet.
//
// Only one Ready is in flight at a time; ticks, peer messages and client
// requests keep arriving meanwhile and are folded into the next Ready.
// Inputs are batched: a tick, a peer message or a proposal is stepped into
// Raft at once, but the Ready is taken only when the host gets to its 'flush'
// self-message, queued behind everything already in the mailbox. What arrived
// together — proposals, the appends a follower received while it was writing,
// the acknowledgements a leader received — leaves as one Ready: one write
// (one fsync), one append per follower, one batch of answers.
//
// A Ready whose only durable change is the commit index is not written at
// all: its hard state goes with the next write (entries, a vote, a
// snapshot). Losing it in a crash only makes the node relearn the commit
// index from its leader; etcd writes it without an fsync (!mustSync), but
// even that write held up a leader's answers when the disk was busy.
//
// The replicated application is a StateMachine (protocol.ts); the host knows
// nothing about what the entries mean.
//
// Written against the actor API only (timers, self-messages, replies), so the
// same behaviour runs in a real node with a real disk and a TLS transport.
import { receive, setup } from '../actor/behavior.ts';
import type { ActorContext, ActorRef, Behavior, ReplyTo } from '../actor/types.ts';
import { RawNode } from '../raft/rawnode.ts';
import { MemoryStorage, applyReadyToStorage, bootstrapState, memoryStorageFrom, persistBatchOf } from '../raft/storage.ts';
import type { PersistBatch } from '../raft/storage.ts';
import { decodeConfChange } from '../raft/confchange.ts';
import { fitsOneAppend, raftSizeLimits } from './limits.ts';
import type { ConfState, Entry, HardState, Message, Ready, RaftError } from '../raft/types.ts';
import type {
  AdminRequest,
  AdminResponse,
  HostError,
  HostStatus,
  LeaderEvent,
  LogView,
  ProposeResponse,
  RaftHostMsg,
  RaftHostOptions,
  ReadResponse,
  StateMachine,
} from './protocol.ts';

interface PendingProposal<Res> {
  /** Term the entry was appended in: the entry applied at its index is ours iff it has this term. */
  term: number;
  replyTo: ReplyTo<ProposeResponse<Res>>;
}

interface PendingAdmin {
  term: number;
  replyTo: ReplyTo<AdminResponse>;
}

interface PendingRead {
  replyTo: ReplyTo<ReadResponse>;
  at: number;
}

interface InFlight {
  gen: number;
  batch: PersistBatch;
  then: () => void;
  /** The bootstrap write: nothing at all leaves before it is durable. */
  bootstrap: boolean;
}

interface QueuedProposal<Res> {
  data: string;
  replyTo: ReplyTo<ProposeResponse<Res>>;
}

/** The host's settings with defaults filled in. */
interface Settings {
  tickMs: number;
  maxAppendBytes: number;
  electionTick: number;
  heartbeatTick: number;
  snapshotEvery: number;
  compactionMargin: number;
  readTimeoutMs: number;
}

export function raftHost<Res = unknown>(opts: RaftHostOptions<Res>): Behavior<RaftHostMsg<Res>> {
  return setup<RaftHostMsg<Res>>((ctx) => {
    const host = new RaftHostCore<Res>(ctx, opts);
    return receive<RaftHostMsg<Res>>(
      (_ctx, msg) => {
        host.handle(msg);
      },
      (_ctx, sig) => {
        if (sig.signal === 'Terminated') host.unwatchLeader(sig.ref as ActorRef<LeaderEvent>);
      },
    );
  });
}

/** Stats a host keeps about itself (diagnostics; read by the simulator). */
export interface RaftHostStats {
  persistErrors: number;
  snapshotsTaken: number;
  snapshotsRestored: number;
}

export class RaftHostCore<Res = unknown> {
  readonly #ctx: ActorContext<RaftHostMsg<Res>>;
  readonly #o: RaftHostOptions<Res>;
  readonly #s: Settings;
  readonly group: string;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  readonly sm: StateMachine<Res>;
  readonly logView: LogView;
  #applied = 0;
  #lastSnapshot = 0;
  #gen = 0;
  #inflight: InFlight | undefined;
  /** The hard state of Readys that changed only the commit index: written with the next batch. */
  #unsavedHard: HardState | undefined;
  /** Proposals received since the last flush (appended together as one batch). */
  #queued: QueuedProposal<Res>[] = [];
  #flushQueued = false;
  #proposals = new Map<number, PendingProposal<Res>>();
  #admin = new Map<number, PendingAdmin>();
  /** Reads waiting for the leader to confirm their read index. */
  #reads = new Map<string, PendingRead>();
  /** Confirmed reads waiting for the state machine to reach their index (ascending index). */
  #readyReads: { index: number; replyTo: ReplyTo<ReadResponse> }[] = [];
  #readSeq = 0;
  #ticks = 0;
  /** When the next tick is due on an ideal schedule (0: before the first). */
  #tickDue = 0;
  #wasLeader = false;
  #watchers = new Set<ActorRef<LeaderEvent>>();
  #lastLead = '';
  #lastTerm = -1;
  readonly stats: RaftHostStats = { persistErrors: 0, snapshotsTaken: 0, snapshotsRestored: 0 };

  constructor(ctx: ActorContext<RaftHostMsg<Res>>, o: RaftHostOptions<Res>) {
    this.#ctx = ctx;
    this.#o = o;
    this.group = o.group;
    this.sm = o.stateMachine;
    this.#s = {
      tickMs: o.tickMs ?? 100,
      maxAppendBytes: o.maxAppendBytes ?? raftSizeLimits().maxAppendBytes,
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      snapshotEvery: o.snapshotEvery ?? 10_000,
      compactionMargin: o.compactionMargin ?? 1000,
      readTimeoutMs: o.readTimeoutMs ?? 5000,
    };
    const bootstrap: ConfState = { voters: [...o.peers], learners: [...(o.learners ?? [])] };
    const loaded = o.storage.load();
    const empty =
      loaded.hardState.term === 0 && loaded.snapshot === undefined && loaded.entries.length === 0 && loaded.conf.voters.length === 0 && loaded.conf.learners.length === 0;
    const founding = empty && (bootstrap.voters.length > 0 || bootstrap.learners.length > 0);
    const boot = founding ? bootstrapState(bootstrap) : undefined;
    if (boot) {
      this.storage = memoryStorageFrom(boot);
      this.sm.restore('', 0);
    } else if (empty) {
      this.storage = new MemoryStorage();
      this.sm.restore('', 0);
    } else {
      this.storage = memoryStorageFrom(loaded);
      if (loaded.snapshot) {
        this.sm.restore(loaded.snapshot.data, loaded.snapshot.meta.index);
        this.#applied = loaded.snapshot.meta.index;
        this.#lastSnapshot = this.#applied;
      } else {
        this.sm.restore('', 0);
      }
    }
    this.logView = storageView(this.storage);
    this.node = new RawNode({
      id: o.id,
      storage: this.storage,
      rng: ctx.rng,
      electionTick: this.#s.electionTick,
      heartbeatTick: this.#s.heartbeatTick,
      applied: this.#applied,
      // Appends sized to the wire's frames (limits.ts): one that did not fit would never arrive.
      maxSizePerMsg: this.#s.maxAppendBytes,
      // A new commit index rides on the next append or heartbeat: per write,
      // one message, one write and one answer per follower instead of two.
      broadcastCommit: false,
    });
    o.probe?.started?.(o.id, {
      group: o.group,
      log: this.logView,
      applied: () => this.#applied,
      status: () => this.status(),
      stateDigest: () => (this.sm.digest ? this.sm.digest() : this.sm.snapshot()),
      ref: ctx.self as ActorRef<RaftHostMsg<unknown>>,
    });
    // First boot of a founding member: the bootstrap entries must be durable
    // before the node says anything (nothing is sent while a persist is in flight).
    if (boot) this.#persist({ hardState: boot.hardState, entries: boot.entries }, () => {}, true);
    ctx.timers.startPeriodic('tick', { type: 'tick' }, this.#s.tickMs);
  }

  status(): HostStatus {
    const r = this.node.raft;
    const conf = r.trk.confState();
    return {
      group: this.group,
      id: this.#o.id,
      role: r.role,
      term: r.term,
      lead: r.lead,
      commit: r.log.committed,
      applied: this.#applied,
      voters: conf.voters,
      learners: conf.learners,
    };
  }

  handle(msg: RaftHostMsg<Res>): void {
    switch (msg.type) {
      case 'tick':
        for (let n = this.#ticksDue(); n > 0; n--) this.node.tick();
        if (++this.#ticks % 10 === 0) this.#expireReads();
        this.#later();
        return;
      case 'raft':
        // Validated once, at the edge where it came off the wire (runtime/ports/peers.ts).
        this.node.step(msg.msg);
        this.#later();
        return;
      case 'link':
        if (msg.up) this.node.linkUp(msg.peer);
        else this.node.linkDown(msg.peer);
        this.#later();
        return;
      case 'propose':
        this.#queuePropose(msg.data, msg.replyTo);
        return;
      case 'flush':
        this.#flushQueued = false;
        this.#flushProposals();
        break;
      case 'read':
        this.#read(msg.replyTo);
        break;
      case 'status':
        this.#ctx.reply(msg.replyTo, this.status());
        return;
      case 'watch-leader':
        this.#watchLeader(msg.ref);
        return;
      case 'unwatch-leader':
        this.unwatchLeader(msg.ref);
        return;
      case 'admin':
        this.#adminRequest(msg.req, msg.replyTo);
        break;
      case 'persisted':
        this.#persisted(msg.gen, msg.error);
        return;
      case 'persist-retry':
        if (this.#inflight === undefined || this.#inflight.gen !== msg.gen || !this.#writeInflight()) return;
        break;
    }
    this.#process();
  }

  /** How many Raft ticks this firing of the tick timer stands for (see ticksDue). */
  #ticksDue(): number {
    const r = ticksDue(this.#tickDue, this.#ctx.now(), this.#s.tickMs);
    this.#tickDue = r.due;
    return r.ticks;
  }

  // ---- the Ready loop ------------------------------------------------------

  #process(): void {
    const f = this.#inflight;
    if (f !== undefined) {
      // A write is in flight: what may leave now does (a leader's appends and heartbeats).
      if (!f.bootstrap) for (const m of this.node.takeEarlyMessages()) this.#send(m);
      return;
    }
    while (this.#inflight === undefined && this.node.hasReady()) {
      const rd = this.node.ready();
      if (rd.softState) this.#roleChanged();
      const batch = persistBatchOf(rd);
      if (batch !== undefined && !rd.mustSync) {
        // Only the commit index changed. Raft does not need it to survive a
        // crash (a restarted node relearns it from its leader), so it costs no
        // write of its own — a write that, on a busy disk, held up the answers
        // of a whole batch: it goes with the next write.
        this.#unsavedHard = batch.hardState;
        this.#afterPersist(rd, false);
        continue;
      }
      if (batch === undefined) {
        this.#afterPersist(rd, false);
        continue;
      }
      this.#withUnsavedHard(batch);
      // Replicate while we write (§10.2.1): the early messages go first.
      const msgs = rd.messages;
      for (let i = 0; i < rd.earlyCount; i++) this.#send(msgs[i]);
      // A leader's own copy need not hold up its thread: its followers' acknowledgements
      // can commit the entries, and its heartbeats and appends go on while the disk is slow.
      if (this.node.raft.role === 'leader') batch.background = true;
      this.#o.probe?.persisting?.(this.#o.id, {
        isLeader: this.node.raft.role === 'leader',
        term: this.node.raft.term,
        entries: rd.entries,
        lastBefore: this.storage.lastIndex(),
        snapshotFromLeader: rd.snapshot !== undefined,
      });
      if (!this.#persist(batch, () => this.#afterPersist(rd, true))) return;
    }
    if (this.#inflight === undefined) this.#maybeSnapshot();
  }

  /** A commit index not written yet goes with this batch (unless it carries a newer hard state). */
  #withUnsavedHard(batch: PersistBatch): void {
    if (this.#unsavedHard !== undefined && batch.hardState === undefined) batch.hardState = this.#unsavedHard;
    this.#unsavedHard = undefined;
  }

  /** Write `batch`; true when it is already durable (then `then` has run), else its completion comes later. */
  #persist(batch: PersistBatch, then: () => void, bootstrap = false): boolean {
    this.#inflight = { gen: ++this.#gen, batch, then, bootstrap };
    return this.#writeInflight();
  }

  #send(m: Message): void {
    if (this.#o.transport.send(m.to, this.group, m) === false) {
      // Not sent (no link to the peer now): a leader stops streaming appends to it
      // and probes it again once it answers (etcd's MsgUnreachable).
      this.node.reportUnreachable(m.to);
      if (m.type === 'snapshot') this.node.reportSnapshot(m.to, false);
    }
    // A snapshot that left is not reported done: the follower's answer, once it
    // has written it, moves the leader on (or, if none comes in the time allowed
    // for its size, the leader sends it again). Reported done at once, the
    // leader probed at the next heartbeat answer, before a large snapshot had
    // landed, and sent it again and again.
  }

  /**
   * Hand the in-flight batch to the durable log. A log that completes it
   * within persist() (SQLite; an unsynced commit-index write on the simulated
   * disk) is finished right here, saving a trip through the mailbox: true
   * when it succeeded. Otherwise the completion comes back as a 'persisted'
   * self-message.
   */
  #writeInflight(): boolean {
    const f = this.#inflight!;
    let inline = true;
    let completed = false;
    let error: string | undefined;
    this.#o.storage.persist(f.batch, (err) => {
      if (inline) {
        completed = true;
        error = err?.message;
      } else this.#ctx.self.tell({ type: 'persisted', gen: f.gen, ...(err ? { error: err.message } : {}) });
    });
    inline = false;
    return completed && this.#finishWrite(f, error);
  }

  /** A completion that came back as a message. */
  #persisted(gen: number, error: string | undefined): void {
    const f = this.#inflight;
    if (f === undefined || f.gen !== gen) return;
    if (this.#finishWrite(f, error)) this.#process();
  }

  /** The in-flight write completed; true when it succeeded (and its `then` ran). */
  #finishWrite(f: InFlight, error: string | undefined): boolean {
    if (error !== undefined) {
      // Disk full or failing: nothing may be acknowledged until the write succeeds. Retry.
      this.stats.persistErrors++;
      this.#ctx.timers.startSingle('persist-retry', { type: 'persist-retry', gen: f.gen }, 50);
      return false;
    }
    this.#inflight = undefined;
    f.then();
    return true;
  }

  #afterPersist(rd: Ready, earlySent: boolean): void {
    applyReadyToStorage(this.storage, rd);
    // Early messages already left if this Ready was persisted; else they go now with the rest.
    const msgs = rd.messages;
    for (let i = earlySent ? rd.earlyCount : 0; i < msgs.length; i++) this.#send(msgs[i]);
    if (rd.snapshot && rd.snapshot.meta.index > this.#applied) {
      const { index, term } = rd.snapshot.meta;
      this.sm.restore(rd.snapshot.data, index);
      this.#applied = index;
      this.#lastSnapshot = index;
      this.stats.snapshotsRestored++;
      this.#o.probe?.snapshotRestored?.(this.#o.id, index, term);
      // Proposals covered by the snapshot: we cannot tell whether ours made it.
      for (const [i, p] of this.#proposals) {
        if (i <= index) {
          this.#ctx.reply(p.replyTo, { error: 'indeterminate', message: 'replaced by a snapshot' });
          this.#proposals.delete(i);
        }
      }
      for (const [i, a] of this.#admin) {
        if (i <= index) {
          this.#ctx.reply(a.replyTo, { ok: false, error: 'indeterminate: replaced by a snapshot' });
          this.#admin.delete(i);
        }
      }
    }
    if (rd.committedEntries.length > 0) this.#apply(rd.committedEntries);
    for (const rs of rd.readStates) {
      const r = this.#reads.get(rs.requestCtx);
      if (r === undefined) continue;
      this.#reads.delete(rs.requestCtx);
      this.#readyReads.push({ index: rs.index, replyTo: r.replyTo });
    }
    this.#serveReads();
    this.node.advance(rd);
    this.#notifyLeader();
  }

  #apply(entries: Entry[]): void {
    const applied: Entry[] = [];
    for (const e of entries) {
      if (e.index <= this.#applied) continue;
      this.#applied = e.index;
      applied.push(e);
      let res: Res | undefined;
      if (e.type === 'conf') {
        const cc = decodeConfChange(e.data);
        if (cc) this.node.applyConfChange(cc);
      } else if (e.data !== '') {
        res = this.sm.apply(e.index, e.data);
      }
      // Waiters on this index: whatever entry landed here is ours only if it
      // has the term we appended ours in (one index, one entry per term). If
      // another entry won the index — of any type — ours can never commit.
      if (this.#proposals.size > 0) {
        const p = this.#proposals.get(e.index);
        if (p !== undefined) {
          this.#proposals.delete(e.index);
          if (p.term !== e.term || e.type !== 'normal' || e.data === '') this.#ctx.reply(p.replyTo, { error: 'unavailable', message: 'proposal lost in a leader change' });
          else this.#ctx.reply(p.replyTo, { ok: true, index: e.index, result: res as Res });
        }
      }
      if (this.#admin.size > 0) {
        const a = this.#admin.get(e.index);
        if (a !== undefined) {
          this.#admin.delete(e.index);
          this.#ctx.reply(a.replyTo, a.term === e.term && e.type === 'conf' ? { ok: true } : { ok: false, error: 'unavailable: conf change lost in a leader change' });
        }
      }
    }
    if (applied.length > 0) this.#o.probe?.applied?.(this.#o.id, applied);
  }

  #serveReads(): void {
    const q = this.#readyReads;
    if (q.length === 0) return;
    const applied = this.#applied;
    let kept = 0;
    for (const r of q) {
      if (r.index <= applied) this.#ctx.reply(r.replyTo, { ok: true, index: applied });
      else q[kept++] = r;
    }
    q.length = kept;
  }

  #maybeSnapshot(): void {
    const idx = this.#applied;
    if (idx - this.#lastSnapshot < this.#s.snapshotEvery) return;
    const snap = this.storage.createSnapshot(idx, this.node.confState(idx), this.sm.snapshot());
    this.#lastSnapshot = idx;
    this.stats.snapshotsTaken++;
    this.#o.probe?.snapshotTaken?.(this.#o.id, idx);
    // With the snapshot goes the commit index it is covered by (a stored commit below the snapshot would not load).
    const batch: PersistBatch = { snapshot: snap };
    this.#withUnsavedHard(batch);
    this.#persist(batch, () => {
      // Durable: now the log before it may go (keeping a margin in memory for lagging followers).
      this.#o.storage.compact(idx);
      const keepFrom = idx - this.#s.compactionMargin;
      if (keepFrom > this.storage.firstIndex()) this.storage.compact(keepFrom);
    });
  }

  #roleChanged(): void {
    const r = this.node.raft;
    const isLeader = r.role === 'leader';
    this.#o.probe?.role?.(this.#o.id, r.role, r.term, r.lead, this.logView);
    if (this.#wasLeader && !isLeader) {
      // Reads waiting for this leader's confirmation will never be confirmed here.
      for (const [c, rd] of this.#reads) {
        this.#ctx.reply(rd.replyTo, { error: 'not-leader', leader: r.lead });
        this.#reads.delete(c);
      }
    }
    this.#wasLeader = isLeader;
  }

  // ---- leadership watchers -------------------------------------------------

  #watchLeader(ref: ActorRef<LeaderEvent>): void {
    if (this.#watchers.has(ref)) return;
    this.#watchers.add(ref);
    try {
      this.#ctx.watch(ref as ActorRef<never>);
    } catch {
      // Not watchable (e.g. not an actor of this system): it stays until unwatch-leader.
    }
    const r = this.node.raft;
    ref.tell({ type: 'leader', group: this.group, lead: r.lead, term: r.term });
  }

  unwatchLeader(ref: ActorRef<LeaderEvent>): void {
    this.#watchers.delete(ref);
  }

  /** After a Ready is durable: tell watchers about a new (lead, term). */
  #notifyLeader(): void {
    const r = this.node.raft;
    // A pre-candidate only asks whether it could win (PreVote): its term is
    // unchanged and, if the others still hear from the leader, it follows it
    // again a round trip later. Telling watchers "no leader" for that would
    // make them give up on requests the leader is still serving.
    if (r.role === 'preCandidate') return;
    if (r.lead === this.#lastLead && r.term === this.#lastTerm) return;
    this.#lastLead = r.lead;
    this.#lastTerm = r.term;
    if (this.#watchers.size === 0) return;
    const ev: LeaderEvent = { type: 'leader', group: this.group, lead: r.lead, term: r.term };
    for (const w of this.#watchers) w.tell(ev);
  }

  // ---- requests ------------------------------------------------------------

  #notLeader(err?: RaftError): HostError {
    if (err && (err.code === 'not-leader' || err.code === 'no-leader')) return { error: 'not-leader', leader: err.leader ?? this.node.raft.lead };
    if (err) return { error: 'unavailable', message: err.message };
    return { error: 'not-leader', leader: this.node.raft.lead };
  }

  #queuePropose(data: string, replyTo: ReplyTo<ProposeResponse<Res>>): void {
    if (data === '') {
      this.#ctx.reply(replyTo, { error: 'unavailable', message: 'empty proposals are not allowed' });
      return;
    }
    // Raft sends an entry larger than an append alone, but one larger than a
    // frame can never be sent: in the log it would stop replication for good.
    if (!fitsOneAppend(data, this.#s.maxAppendBytes)) {
      this.#ctx.reply(replyTo, { error: 'invalid', message: `the proposal does not fit one Raft message between nodes (at most ${this.#s.maxAppendBytes} bytes encoded)` });
      return;
    }
    if (this.node.raft.role !== 'leader') {
      this.#ctx.reply(replyTo, this.#notLeader());
      return;
    }
    this.#queued.push({ data, replyTo });
    this.#later();
  }

  /**
   * Handle the Ready after everything already in the mailbox: the 'flush'
   * self-message queues behind it, so the peer messages, ticks and proposals
   * that arrived together are stepped first and leave as one Ready — one
   * write (one fsync), one append per follower — instead of one each.
   */
  #later(): void {
    if (this.#flushQueued || (this.#queued.length === 0 && !this.node.hasReady())) return;
    this.#flushQueued = true;
    this.#ctx.self.tell({ type: 'flush' });
  }

  /** Append every queued proposal as one batch. */
  #flushProposals(): void {
    const q = this.#queued;
    if (q.length === 0) return;
    this.#queued = [];
    if (this.node.raft.role !== 'leader') {
      const err = this.#notLeader();
      for (const p of q) this.#ctx.reply(p.replyTo, err);
      return;
    }
    const datas = new Array<string>(q.length);
    for (let i = 0; i < q.length; i++) datas[i] = q[i].data;
    const r = this.node.proposeBatch(datas);
    if (!r.ok) {
      const err = this.#notLeader(r.error);
      for (const p of q) this.#ctx.reply(p.replyTo, err);
      return;
    }
    if (!('index' in r)) {
      for (const p of q) this.#ctx.reply(p.replyTo, { error: 'indeterminate', message: 'forwarded' });
      return;
    }
    const first = r.index - q.length + 1;
    for (let i = 0; i < q.length; i++) this.#proposals.set(first + i, { term: r.term, replyTo: q[i].replyTo });
  }

  #read(replyTo: ReplyTo<ReadResponse>): void {
    if (this.#o.unsafeLocalReads) {
      this.#ctx.reply(replyTo, { ok: true, index: this.#applied });
      return;
    }
    const ctxId = `${this.#o.id}:${this.#ctx.incarnation}:${++this.#readSeq}`;
    const r = this.node.readIndex(ctxId);
    if (!r.ok) {
      this.#ctx.reply(replyTo, this.#notLeader(r.error));
      return;
    }
    this.#reads.set(ctxId, { replyTo, at: this.#ctx.now() });
  }

  #adminRequest(req: AdminRequest, replyTo: ReplyTo<AdminResponse>): void {
    if (req.kind === 'campaign') {
      const r = this.node.campaign();
      this.#ctx.reply(replyTo, r.ok ? { ok: true } : { ok: false, error: r.error.message });
      return;
    }
    if (req.kind === 'transfer-leader') {
      const r = this.node.transferLeader(req.to);
      this.#ctx.reply(replyTo, r.ok ? { ok: true } : { ok: false, error: r.error.message, leader: this.node.raft.lead });
      return;
    }
    const r = this.node.proposeConfChange(req.change);
    if (!r.ok) {
      this.#ctx.reply(replyTo, { ok: false, error: `${r.error.code}: ${r.error.message}`, leader: r.error.leader ?? this.node.raft.lead });
      return;
    }
    if ('index' in r) this.#admin.set(r.index, { term: r.term, replyTo });
    else this.#ctx.reply(replyTo, { ok: false, error: 'forwarded' });
  }

  #expireReads(): void {
    const limit = this.#s.readTimeoutMs;
    const now = this.#ctx.now();
    for (const [c, r] of this.#reads) {
      if (now - r.at > limit) {
        this.#reads.delete(c);
        this.#ctx.reply(r.replyTo, { error: 'unavailable', message: 'read index not confirmed in time' });
      }
    }
  }

  get applied(): number {
    return this.#applied;
  }
}

/**
 * Ticks owed to Raft when the tick timer fires at `now`, given when the next
 * tick was due on an ideal schedule (`due`, 0 before the first). The periodic
 * timer is re-armed when it fires, so each period runs a little long (5 ms
 * ticks took 5.7–5.8 ms on an idle node: every timeout 15% late). Lateness is
 * owed back one tick at a time, at most one extra per firing, and only up to
 * 2 × tickMs: a stalled thread — its tick handled before the socket reads that
 * would show the leader alive — never sees more than one phantom tick, and a
 * starved one counts time slower than the clock (the safe direction). Timers
 * that fire on time (the simulator's) always get one.
 */
export function ticksDue(due: number, now: number, tickMs: number): { ticks: number; due: number } {
  const late = now - due;
  if (due === 0 || late > 2 * tickMs) return { ticks: 1, due: now + tickMs };
  if (late >= tickMs) return { ticks: 2, due: due + 2 * tickMs };
  return { ticks: 1, due: Math.min(due + tickMs, now + tickMs) };
}

function storageView(s: MemoryStorage): LogView {
  return {
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    term(i) {
      // The snapshot index (firstIndex - 1) is answerable too.
      if (i < s.firstIndex() - 1 || i > s.lastIndex() || i < 1) return undefined;
      return s.term(i);
    },
    entry: (i) => s.entry(i),
    entries: () => s.allEntries(),
  };
}
