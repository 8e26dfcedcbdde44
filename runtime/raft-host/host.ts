// The Raft host actor: owns one RawNode and does its I/O, following the etcd
// host loop (see runtime/raft/rawnode.ts):
//
//   ready() → persist (wait until durable) → send messages → apply committed
//   entries / restore snapshot → serve ReadIndex reads → advance()
//
// Messages and acknowledgements leave only after what they acknowledge is
// durable: that is what lets a crashed node restart from its disk without
// breaking Raft's promises. Only one Ready is in flight at a time; ticks,
// peer messages and client requests keep arriving meanwhile and are folded
// into the next Ready.
//
// Written against the actor API only (timers, self-messages, replies), so the
// same behaviour runs in a real node with a real disk and a TLS transport.
import { receive, setup } from '../actor/behavior.ts';
import type { ActorContext, Behavior, ReplyTo } from '../actor/types.ts';
import { RawNode } from '../raft/rawnode.ts';
import { parseRaftMessage } from '../raft/schema.ts';
import { MemoryStorage, applyReadyToStorage, bootstrapState, memoryStorageFrom, persistBatchOf } from '../raft/storage.ts';
import type { PersistBatch } from '../raft/storage.ts';
import { decodeConfChange } from '../raft/confchange.ts';
import type { Entry, Ready, RaftError } from '../raft/types.ts';
import { KvStateMachine, decodeCommand, encodeCommand } from './kv.ts';
import type { AdminRequest, AdminResponse, ClientRequest, ClientResponse, LogView, RaftHostMsg, RaftHostOptions } from './protocol.ts';

interface PendingProposal {
  id: string;
  replyTo: ReplyTo<ClientResponse>;
}

interface PendingRead {
  key: string;
  replyTo: ReplyTo<ClientResponse>;
  at: number;
}

interface InFlight {
  gen: number;
  batch: PersistBatch;
  then: () => void;
}

export function raftHost(opts: RaftHostOptions): Behavior<RaftHostMsg> {
  return setup<RaftHostMsg>((ctx) => {
    const host = new RaftHostCore(ctx, opts);
    return receive<RaftHostMsg>((_ctx, msg) => {
      host.handle(msg);
    });
  });
}

/** Stats a host keeps about itself (diagnostics; read by the simulator). */
export interface RaftHostStats {
  invalidMessages: number;
  persistErrors: number;
  snapshotsTaken: number;
  snapshotsRestored: number;
}

export class RaftHostCore {
  readonly #ctx: ActorContext<RaftHostMsg>;
  readonly #o: RaftHostOptions;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  readonly sm = new KvStateMachine();
  readonly logView: LogView;
  #applied = 0;
  #lastSnapshot = 0;
  #gen = 0;
  #inflight: InFlight | undefined;
  #proposals = new Map<number, PendingProposal>();
  #admin = new Map<number, ReplyTo<AdminResponse>>();
  #reads = new Map<string, PendingRead>();
  #readSeq = 0;
  #ticks = 0;
  #wasLeader = false;
  readonly stats: RaftHostStats = { invalidMessages: 0, persistErrors: 0, snapshotsTaken: 0, snapshotsRestored: 0 };

  constructor(ctx: ActorContext<RaftHostMsg>, o: RaftHostOptions) {
    this.#ctx = ctx;
    this.#o = o;
    const loaded = o.durableLog.load();
    const empty =
      loaded.hardState.term === 0 && loaded.snapshot === undefined && loaded.entries.length === 0 && loaded.conf.voters.length === 0 && loaded.conf.learners.length === 0;
    const founding = empty && (o.bootstrap.voters.length > 0 || o.bootstrap.learners.length > 0);
    const boot = founding ? bootstrapState(o.bootstrap) : undefined;
    if (boot) {
      this.storage = memoryStorageFrom(boot);
    } else if (empty) {
      this.storage = new MemoryStorage();
    } else {
      this.storage = memoryStorageFrom(loaded);
      if (loaded.snapshot) {
        this.sm.restore(loaded.snapshot.data);
        this.#applied = loaded.snapshot.meta.index;
        this.#lastSnapshot = this.#applied;
      }
    }
    this.logView = storageView(this.storage);
    this.node = new RawNode({
      id: o.id,
      storage: this.storage,
      rng: ctx.rng,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      applied: this.#applied,
    });
    o.probe?.started?.(o.id, {
      log: this.logView,
      applied: () => this.#applied,
      status: () => {
        const st = this.node.status();
        return { role: st.role, term: st.term, lead: st.lead, commit: st.commit, voters: st.conf.voters, learners: st.conf.learners };
      },
      stateDigest: () => this.sm.snapshot(),
    });
    // First boot of a founding member: the bootstrap entries must be durable
    // before the node says anything (nothing is sent while a persist is in flight).
    if (boot) this.#persist({ hardState: boot.hardState, entries: boot.entries }, () => {});
    ctx.timers.startPeriodic('tick', { type: 'tick' }, o.tickMs);
  }

  handle(msg: RaftHostMsg): void {
    switch (msg.type) {
      case 'tick':
        this.node.tick();
        if (++this.#ticks % 50 === 0) this.#expireReads();
        break;
      case 'raft': {
        // Frames come off the wire: never step something we have not validated.
        const parsed = parseRaftMessage(msg.msg);
        if (!parsed.ok) {
          this.stats.invalidMessages++;
          this.#ctx.log.warn('dropping invalid raft message', { error: parsed.error });
          return;
        }
        this.node.step(parsed.msg);
        break;
      }
      case 'client':
        this.#client(msg.req, msg.replyTo);
        break;
      case 'admin':
        this.#adminRequest(msg.req, msg.replyTo);
        break;
      case 'persisted':
        this.#persisted(msg.gen, msg.error);
        return;
      case 'persist-retry':
        if (this.#inflight && this.#inflight.gen === msg.gen) this.#writeInflight();
        return;
    }
    this.#process();
  }

  // ---- the Ready loop ------------------------------------------------------

  #process(): void {
    while (this.#inflight === undefined && this.node.hasReady()) {
      const rd = this.node.ready();
      if (rd.softState) this.#roleChanged();
      const batch = persistBatchOf(rd);
      if (batch) {
        this.#o.probe?.persisting?.(this.#o.id, {
          isLeader: this.node.raft.role === 'leader',
          term: this.node.raft.term,
          entries: rd.entries,
          lastBefore: this.storage.lastIndex(),
          snapshotFromLeader: rd.snapshot !== undefined,
        });
        this.#persist(batch, () => this.#afterPersist(rd));
        return;
      }
      this.#afterPersist(rd);
    }
    if (this.#inflight === undefined) this.#maybeSnapshot();
  }

  #persist(batch: PersistBatch, then: () => void): void {
    this.#inflight = { gen: ++this.#gen, batch, then };
    this.#writeInflight();
  }

  #writeInflight(): void {
    const f = this.#inflight!;
    const self = this.#ctx.self;
    this.#o.durableLog.persist(f.batch, (err) => self.tell({ type: 'persisted', gen: f.gen, ...(err ? { error: err.message } : {}) }));
  }

  #persisted(gen: number, error: string | undefined): void {
    const f = this.#inflight;
    if (f === undefined || f.gen !== gen) return;
    if (error !== undefined) {
      // Disk full or failing: nothing may be acknowledged until the write succeeds. Retry.
      this.stats.persistErrors++;
      this.#ctx.timers.startSingle('persist-retry', { type: 'persist-retry', gen }, 50);
      return;
    }
    this.#inflight = undefined;
    f.then();
    this.#process();
  }

  #afterPersist(rd: Ready): void {
    applyReadyToStorage(this.storage, rd);
    for (const m of rd.messages) {
      this.#o.transport.send(m.to, m);
      // The transport took the snapshot: let the leader go back to probing this
      // follower (etcd's ReportSnapshot); without it the follower stays paused.
      if (m.type === 'snapshot') this.node.reportSnapshot(m.to, true);
    }
    if (rd.snapshot && rd.snapshot.meta.index > this.#applied) {
      const { index, term } = rd.snapshot.meta;
      this.sm.restore(rd.snapshot.data);
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
    }
    if (rd.committedEntries.length > 0) this.#apply(rd.committedEntries);
    for (const rs of rd.readStates) {
      const r = this.#reads.get(rs.requestCtx);
      if (r === undefined) continue;
      this.#reads.delete(rs.requestCtx);
      this.#ctx.reply(r.replyTo, { value: this.sm.get(r.key) });
    }
    this.node.advance(rd);
  }

  #apply(entries: Entry[]): void {
    const applied: Entry[] = [];
    for (const e of entries) {
      if (e.index <= this.#applied) continue;
      this.#applied = e.index;
      applied.push(e);
      if (e.type === 'conf') {
        const cc = decodeConfChange(e.data);
        if (cc) this.node.applyConfChange(cc);
        const waiting = this.#admin.get(e.index);
        if (waiting) {
          this.#admin.delete(e.index);
          this.#ctx.reply(waiting, { ok: true });
        }
        continue;
      }
      const cmd = decodeCommand(e.data);
      const res = cmd ? this.sm.apply(cmd) : undefined;
      const p = this.#proposals.get(e.index);
      if (p === undefined) continue;
      this.#proposals.delete(e.index);
      if (cmd && cmd.id === p.id) {
        // res undefined: a stale copy of an older request of that client; nobody waits for it.
        if (res) this.#ctx.reply(p.replyTo, res);
        else this.#ctx.reply(p.replyTo, { error: 'indeterminate', message: 'stale duplicate' });
      }
      // Another entry won this index: ours can never commit (one index, one entry).
      else this.#ctx.reply(p.replyTo, { error: 'unavailable', message: 'proposal lost in a leader change' });
    }
    if (applied.length > 0) this.#o.probe?.applied?.(this.#o.id, applied);
  }

  #maybeSnapshot(): void {
    const idx = this.#applied;
    if (idx - this.#lastSnapshot < this.#o.snapshotEvery) return;
    const snap = this.storage.createSnapshot(idx, this.node.confState(idx), this.sm.snapshot());
    this.#lastSnapshot = idx;
    this.stats.snapshotsTaken++;
    this.#o.probe?.snapshotTaken?.(this.#o.id, idx);
    this.#persist({ snapshot: snap }, () => {
      // Durable: now the log before it may go (keeping a margin in memory for lagging followers).
      this.#o.durableLog.compact(idx);
      const keepFrom = idx - this.#o.compactionMargin;
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

  // ---- requests ------------------------------------------------------------

  #notLeader(err?: RaftError): ClientResponse {
    if (err && (err.code === 'not-leader' || err.code === 'no-leader')) return { error: 'not-leader', leader: err.leader ?? this.node.raft.lead };
    if (err) return { error: 'unavailable', message: err.message };
    return { error: 'not-leader', leader: this.node.raft.lead };
  }

  #client(req: ClientRequest, replyTo: ReplyTo<ClientResponse>): void {
    if (req.op === 'read') {
      if (this.#o.unsafeLocalReads) {
        this.#ctx.reply(replyTo, { value: this.sm.get(req.key) });
        return;
      }
      const ctxId = `${this.#o.id}:${this.#ctx.incarnation}:${++this.#readSeq}`;
      const r = this.node.readIndex(ctxId);
      if (!r.ok) {
        this.#ctx.reply(replyTo, this.#notLeader(r.error));
        return;
      }
      this.#reads.set(ctxId, { key: req.key, replyTo, at: this.#ctx.now() });
      return;
    }
    if (this.node.raft.role !== 'leader') {
      this.#ctx.reply(replyTo, this.#notLeader());
      return;
    }
    const r = this.node.propose(encodeCommand(req));
    if (!r.ok) {
      this.#ctx.reply(replyTo, this.#notLeader(r.error));
      return;
    }
    if ('index' in r) this.#proposals.set(r.index, { id: req.id, replyTo });
    else this.#ctx.reply(replyTo, { error: 'indeterminate', message: 'forwarded' });
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
    if ('index' in r) this.#admin.set(r.index, replyTo);
    else this.#ctx.reply(replyTo, { ok: false, error: 'forwarded' });
  }

  #expireReads(): void {
    const limit = this.#o.readTimeoutMs ?? 5000;
    const now = this.#ctx.now();
    for (const [c, r] of this.#reads) {
      if (now - r.at > limit) this.#reads.delete(c);
    }
  }

  get applied(): number {
    return this.#applied;
  }
}

function storageView(s: MemoryStorage): LogView {
  return {
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    term(i) {
      if (i < s.firstIndex() - 1 || i > s.lastIndex() || i < 1) return undefined;
      try {
        return s.term(i);
      } catch {
        return undefined;
      }
    },
    entry(i) {
      if (i < s.firstIndex() || i > s.lastIndex()) return undefined;
      return s.entries(i, i + 1, Infinity)[0];
    },
  };
}
