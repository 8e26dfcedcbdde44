// The Raft state machine. Pure: inputs are tick() and step(msg); outputs are
// accumulated in `msgs`, the log's unstable part, `readStates`, and the hard
// state fields, which RawNode packages into a Ready. No I/O, no clocks: time is
// only the count of tick() calls, and randomness comes from the injected Rng.
//
// Structure follows etcd's raft: a common step() that deals with terms and
// votes, then a role-specific step (leader / candidate / follower).
import type { Rng } from '../env/random.ts';
import type { ConfChange, Entry, EntryType, Message, MsgAppend, MsgHeartbeat, MsgSnapshot, NodeId, ProposeResult, RaftError, ReadState, Role, Snapshot } from './types.ts';
import { NONE, entriesSize } from './types.ts';
import type { Storage } from './storage.ts';
import { RaftLog } from './log.ts';
import { ProgressTracker, quorum } from './progress.ts';
import { ConfHistory, checkConfChange, decodeConfChange, encodeConfChange } from './confchange.ts';

export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  /** Source of the randomized election timeout. Never Math.random: runs must replay from a seed. */
  rng: Rng;
  /** Ticks without hearing from a leader before campaigning (randomized to [e, 2e)). Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats. Must be < electionTick. Default 1. */
  heartbeatTick?: number;
  /** Last index the application has already applied (on restart). Default: the snapshot index. */
  applied?: number;
  /**
   * Cap on the entries of one append message, in bytes of their JSON encoding
   * (entrySize, an upper bound). An entry larger than this is still sent, alone:
   * a message always carries at least one entry (etcd). A host whose transport
   * limits frames derives this from that limit (runtime/raft-host/limits.ts).
   * Default 1 MiB.
   */
  maxSizePerMsg?: number;
  /** Max append messages in flight per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max bytes of entries in flight per follower (0 = unlimited). Default 0. */
  maxInflightBytes?: number;
  /** Cap on the committed entries handed out in one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** PreVote (dissertation §9.6). Default true. */
  preVote?: boolean;
  /** CheckQuorum: a leader steps down after an election timeout without hearing from a majority. Default true. */
  checkQuorum?: boolean;
  /** Followers forward proposals to the leader instead of rejecting them. Default false. */
  forwardProposals?: boolean;
  /**
   * When the commit index advances, send every follower an append at once,
   * even an empty one that only carries the new commit index (etcd does).
   * Default true. With false, the commit index travels with the next append
   * or heartbeat (at most heartbeatTick later): a write at low concurrency
   * then costs each follower one message, one write and one answer instead
   * of two. Only followers learn later; nothing the leader answers waits on it.
   */
  broadcastCommit?: boolean;
}

type CampaignType = 'preElection' | 'election' | 'transfer';

interface ReadRequest {
  index: number;
  from: NodeId;
  ctx: string;
  acks: Set<NodeId>;
}

/** Pending ReadIndex requests waiting for a heartbeat quorum, in arrival order. */
class ReadOnly {
  pending = new Map<string, ReadRequest>();
  queue: string[] = [];

  add(index: number, from: NodeId, ctx: string): void {
    if (this.pending.has(ctx)) return;
    this.pending.set(ctx, { index, from, ctx, acks: new Set() });
    this.queue.push(ctx);
  }
  ack(id: NodeId, ctx: string): Set<NodeId> | undefined {
    const r = this.pending.get(ctx);
    if (!r) return undefined;
    r.acks.add(id);
    return r.acks;
  }
  /** Confirming ctx confirms everything queued before it (the heartbeat round was later). */
  advance(ctx: string): ReadRequest[] {
    const i = this.queue.indexOf(ctx);
    if (i < 0) return [];
    const done = this.queue.splice(0, i + 1);
    return done.map((c) => {
      const r = this.pending.get(c)!;
      this.pending.delete(c);
      return r;
    });
  }
  lastCtx(): string {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1] : '';
  }
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  log: RaftLog;
  trk: ProgressTracker;
  conf: ConfHistory;
  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** ReadIndex results not yet handed to the application. */
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  randomizedElectionTimeout = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly forwardProposals: boolean;
  readonly broadcastCommit: boolean;
  readonly maxMsgSize: number;
  leadTransferee: NodeId = NONE;

  #rng: Rng;
  /**
   * This node is campaigning early (or about to) because the host said its
   * link to the leader closed (linkDown); cleared by hearing from a leader and
   * by any term or role reset. Only orders who campaigns first.
   */
  #hinted = false;
  /** Ticks since start: only used to age in-flight snapshots. */
  #now = 0;
  #readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  #pendingReads: { from: NodeId; ctx: string }[] = [];

  constructor(c: RaftConfig) {
    this.id = c.id;
    if (c.id === NONE) throw new Error('raft: id must not be empty');
    this.electionTimeout = c.electionTick ?? 10;
    this.heartbeatTimeout = c.heartbeatTick ?? 1;
    if (this.heartbeatTimeout <= 0 || this.electionTimeout <= this.heartbeatTimeout) {
      throw new Error('raft: need 0 < heartbeatTick < electionTick');
    }
    this.checkQuorum = c.checkQuorum ?? true;
    this.preVote = c.preVote ?? true;
    this.forwardProposals = c.forwardProposals ?? false;
    this.broadcastCommit = c.broadcastCommit ?? true;
    this.maxMsgSize = c.maxSizePerMsg ?? 1 << 20;
    this.#rng = c.rng;
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReady);
    this.trk = new ProgressTracker(c.maxInflightMsgs ?? 256, c.maxInflightBytes ?? 0);

    const { hardState, conf } = c.storage.initialState();
    // Membership = snapshot conf + every conf entry in the stored log (on-append semantics).
    this.conf = new ConfHistory(conf, c.storage.firstIndex() - 1);
    this.conf.onWrite(this.log.allEntries());
    this.trk.setConf(this.conf.current(), this.log.lastIndex() + 1);

    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new Error(`raft: hard state commit ${hardState.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
      }
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (c.applied !== undefined && c.applied > this.log.applied) this.log.appliedTo(c.applied);
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------------------
  // Sending

  #send(m: Message): void {
    this.msgs.push(m);
  }

  /** Send an append (or a snapshot if the follower needs compacted entries). Returns whether a message was sent. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = prevTerm === undefined ? undefined : this.log.entries(pr.next, this.maxMsgSize);
    if (prevTerm === undefined || ents === undefined) return this.#maybeSendSnapshot(to);
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m: MsgAppend = { type: 'append', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed };
    this.#send(m);
    pr.sentEntries(ents.length, entriesSize(ents));
    return true;
  }

  #maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    // Only ship a (possibly large) snapshot to a peer we recently heard from.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) return false;
    pr.becomeSnapshot(snap.meta.index);
    pr.snapshotSentAt = this.#now;
    // An election timeout to land, and one more per MiB of data: a big one takes a while to
    // cross, be read and be written, and sending it again only makes that longer.
    pr.snapshotWait = this.electionTimeout * (1 + Math.floor(snap.data.length / (1 << 20)));
    const m: MsgSnapshot = { type: 'snapshot', from: this.id, to, term: this.term, snapshot: snap };
    this.#send(m);
    return true;
  }

  bcastAppend(): void {
    if (this.role !== 'leader') return;
    for (const id of this.trk.members()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  /** The commit index advanced: tell followers now (broadcastCommit), or only send what has entries to carry it. */
  #commitAdvanced(): void {
    if (this.broadcastCommit) {
      this.bcastAppend();
      return;
    }
    for (const id of this.trk.members()) if (id !== this.id) this.maybeSendAppend(id, false);
  }

  #bcastHeartbeat(ctx: string): void {
    for (const id of this.trk.members()) if (id !== this.id) this.#sendHeartbeat(id, ctx);
  }

  #sendHeartbeat(to: NodeId, ctx: string): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit beyond what we know it has.
    const m: MsgHeartbeat = { type: 'heartbeat', from: this.id, to, term: this.term, commit: Math.min(pr.match, this.log.committed), context: ctx };
    this.#send(m);
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  // ---------------------------------------------------------------------------
  // Role transitions

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.#hinted = false;
    this.randomizedElectionTimeout = this.electionTimeout + this.#rng.int(0, this.electionTimeout - 1);
    this.leadTransferee = NONE;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    this.trk.progress.clear();
    this.trk.setConf(this.trk.confState(), last + 1);
    // Only what is durable on our own disk counts toward a commit quorum: entries
    // still being persisted are acknowledged by selfAck() when the host advances.
    const self = this.trk.progress.get(this.id);
    if (self) self.match = this.durableLastIndex();
    this.#readOnly = new ReadOnly();
    this.#pendingReads = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  #becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error('raft: leader cannot become pre-candidate');
    // No term change and no vote: a failed pre-election leaves no trace, which
    // is the point of PreVote (a partitioned node does not inflate its term).
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  #becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('raft: leader cannot become candidate');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  #becomeLeader(): void {
    if (this.role === 'follower') throw new Error('raft: follower cannot become leader');
    this.#reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // An empty entry of the new term: entries of earlier terms can only be
    // committed indirectly, by committing this one (paper §5.4.2), and until
    // it commits the leader cannot know its commit index is current (ReadIndex).
    this.#appendEntries([{ type: 'normal', data: '' }]);
  }

  #promotable(): boolean {
    return this.trk.isVoter(this.id) && this.log.unstable.snapshot === undefined;
  }

  // ---------------------------------------------------------------------------
  // Time

  tick(): void {
    this.#now++;
    if (this.role === 'leader') this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.#promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup('election');
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.trk.quorumActive(this.id)) {
          // We may be partitioned away: stop claiming leadership so clients
          // go elsewhere, instead of serving stale reads as a zombie leader.
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      // Re-send the latest pending read context so reads progress even if the
      // first heartbeat round was lost.
      this.#bcastHeartbeat(this.#readOnly.lastCtx());
    }
  }

  // ---------------------------------------------------------------------------
  // Elections

  hup(t: CampaignType): boolean {
    if (this.role === 'leader' || !this.#promotable()) return false;
    if (this.preVote && t === 'election') this.#campaign('preElection');
    else this.#campaign(t);
    return true;
  }

  #campaign(t: CampaignType): void {
    let term: number;
    let type: 'vote' | 'preVote';
    if (t === 'preElection') {
      this.#becomePreCandidate();
      type = 'preVote';
      term = this.term + 1; // the term we would campaign in; ours is unchanged
    } else {
      this.#becomeCandidate();
      type = 'vote';
      term = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.trk.tallyVotes().result === 'won') {
      // Single-voter cluster.
      if (t === 'preElection') this.#campaign('election');
      else this.#becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of [...this.trk.voters].sort()) {
      if (id === this.id) continue;
      this.#send({ type, from: this.id, to: id, term, index, logTerm, transfer: t === 'transfer' });
    }
  }

  // ---------------------------------------------------------------------------
  // Step

  step(m: Message): void {
    if (m.term === 0) {
      // Termless forwarded request (propose / readIndex / transferLeader).
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease: if we heard from a leader within the minimum election
        // timeout, ignore the request (unless it is a sanctioned transfer).
        // This is what keeps a rejoining partitioned node from disrupting a
        // healthy leader. (etcd gates this on CheckQuorum only; refusing a
        // vote never endangers safety, so we apply it with PreVote too.)
        const inLease = (this.checkQuorum || this.preVote) && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) return;
      }
      if (m.type === 'preVote') {
        // Never change term on a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term in a granted pre-vote response is the term we will campaign in.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A stale leader (e.g. after a partition heals). Our higher term in the
        // response makes it step down; otherwise, with PreVote/CheckQuorum, a
        // node that bumped its term could stay cut off forever.
        this.#send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
      } else if (m.type === 'preVote') {
        this.#send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return; // everything else from an old term is ignored
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.#handleVote(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.#stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.#stepCandidate(m);
        break;
      case 'follower':
        this.#stepFollower(m);
        break;
    }
  }

  #handleVote(m: Message & { type: 'vote' | 'preVote' }): void {
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    // One vote per term; a pre-vote for a future term commits us to nothing.
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (m.type === 'preVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // Reply in the candidate's term so it counts our answer.
      this.#send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      } else if (this.#hinted) {
        // Someone else campaigns for the leader we lost, and we would vote for
        // it: let it (see linkDown). A follower drops its early campaign (its
        // normal election timeout still stands); a pre-candidate gives way to a
        // lower id. Two pre-candidates that ask each other both grant, and the
        // requests arrive before the grants (one link, in order): the higher
        // id gives way before it can count the grant, so only one of them
        // becomes a candidate and the vote does not split.
        if (this.role === 'follower') {
          this.electionElapsed = 0;
          this.#hinted = false;
        } else if (this.role === 'preCandidate' && m.from < this.id) {
          this.becomeFollower(this.term, NONE);
        }
      }
    } else {
      this.#send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case 'propose':
        this.proposeEntries(m.entries.map((e) => ({ type: e.type, data: e.data })));
        return;
      case 'readIndex':
        this.#leaderReadIndex(m.from, m.context);
        return;
      case 'transferLeader':
        this.#leaderTransfer(m.target);
        return;
      case 'appendResp':
        this.#handleAppendResp(m);
        return;
      case 'heartbeatResp':
        this.#handleHeartbeatResp(m);
        return;
      default:
        return; // append/heartbeat/snapshot in our own term cannot come from another leader
    }
  }

  #handleAppendResp(m: Message & { type: 'appendResp' }): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: jump over the whole run of entries the follower
      // cannot have, instead of decrementing one index per round trip.
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower applied the snapshot (or caught up otherwise): resume normal replication.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (this.#maybeCommit()) {
      this.#afterCommit();
      if (this.role !== 'leader') return;
      this.#commitAdvanced();
      if (oldPaused && !this.broadcastCommit) this.maybeSendAppend(m.from, true);
    } else if (oldPaused) {
      this.maybeSendAppend(m.from, true);
    }
    // Fill the window.
    while (this.maybeSendAppend(m.from, false)) {
      // keep sending
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.#sendTimeoutNow(m.from);
  }

  #handleHeartbeatResp(m: Message & { type: 'heartbeatResp' }): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.paused = false;
    if (pr.state === 'snapshot' && this.#now - pr.snapshotSentAt >= pr.snapshotWait) {
      // The follower is alive but the snapshot has not landed in the time
      // allowed for its size: assume it was lost (the host reports only a
      // snapshot it could not send) and probe again, which re-sends it if
      // still needed.
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.maybeSendAppend(m.from, true);
    if (m.context === '') return;
    const acks = this.#readOnly.ack(m.from, m.context);
    if (!acks) return;
    let n = 0;
    for (const id of acks) if (this.trk.isVoter(id)) n++;
    if (n < quorum(this.trk.voters.size)) return;
    for (const r of this.#readOnly.advance(m.context)) this.#respondRead(r.from, r.ctx, r.index);
  }

  #leaderReadIndex(from: NodeId, ctx: string): void {
    if (this.trk.voters.size === 1 && this.trk.isVoter(this.id)) {
      // Nobody else could have been elected: the commit index is current.
      this.#respondRead(from, ctx, this.log.committed);
      return;
    }
    if (!this.#committedEntryInCurrentTerm()) {
      // A fresh leader's commit index may lag the previous leader's; wait
      // until our empty entry commits.
      this.#pendingReads.push({ from, ctx });
      return;
    }
    this.#readOnly.add(this.log.committed, from, ctx);
    if (this.trk.isVoter(this.id)) this.#readOnly.ack(this.id, ctx);
    this.#bcastHeartbeat(ctx);
  }

  #respondRead(from: NodeId, ctx: string, index: number): void {
    if (from === this.id) this.readStates.push({ index, requestCtx: ctx });
    else this.#send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, context: ctx, index });
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  #leaderTransfer(target: NodeId): void {
    const pr = this.trk.progress.get(target);
    if (!pr || pr.isLearner || target === this.id) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === target) return;
      this.leadTransferee = NONE;
    }
    // Give the transfer one election timeout to complete.
    this.electionElapsed = 0;
    this.leadTransferee = target;
    if (pr.match === this.log.lastIndex()) this.#sendTimeoutNow(target);
    else this.maybeSendAppend(target, true);
  }

  #stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myResp) return;
        this.trk.recordVote(m.from, !m.reject);
        const r = this.trk.tallyVotes().result;
        if (r === 'won') {
          if (this.role === 'preCandidate') this.#campaign('election');
          else {
            this.#becomeLeader();
            this.bcastAppend();
          }
        } else if (r === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return; // proposals, reads, transfers: no leader to serve or forward to
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.#hinted = false;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.#hinted = false;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.#hinted = false;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case 'propose':
        if (this.forwardProposals && this.lead !== NONE) this.#send({ ...m, to: this.lead, term: 0 });
        return;
      case 'transferLeader':
        if (this.lead !== NONE) this.#send({ ...m, to: this.lead, term: 0 });
        return;
      case 'readIndex':
        if (this.lead !== NONE) this.#send({ ...m, to: this.lead, term: 0 });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
      case 'timeoutNow':
        // Our leader asks us to take over now: skip PreVote and the lease.
        this.hup('transfer');
        return;
      default:
        return;
    }
  }

  #handleAppend(m: MsgAppend): void {
    if (m.index < this.log.committed) {
      this.#send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    const r = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (r) {
      if (this.conf.onWrite(r.written)) this.#applyConf();
      this.#send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, index: r.lastNew, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    // Tell the leader where our log might match: the last index <= its probe
    // whose term is <= the probe's term (etcd-style hint).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.#send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  #handleHeartbeat(m: MsgHeartbeat): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context });
  }

  #handleSnapshot(m: MsgSnapshot): void {
    const idx = this.#restore(m.snapshot) ? this.log.lastIndex() : this.log.committed;
    this.#send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, index: idx, reject: false, rejectHint: 0, logTerm: 0 });
  }

  #restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We already have the entries: just learn that they are committed.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.conf.reset(s.meta.conf, s.meta.index);
    this.#applyConf();
    return true;
  }

  // ---------------------------------------------------------------------------
  // Proposals and membership

  /** Leader-side append of new entries (local or forwarded proposals). */
  proposeEntries(ents: { type: EntryType; data: string }[]): ProposeResult {
    if (this.role !== 'leader') {
      if (this.forwardProposals && this.lead !== NONE) {
        this.#send({ type: 'propose', from: this.id, to: this.lead, term: 0, entries: ents.map((e) => ({ term: 0, index: 0, type: e.type, data: e.data })) });
        return { ok: true, forwarded: true, to: this.lead };
      }
      return fail(this.forwardProposals ? 'no-leader' : 'not-leader', `node ${this.id} is not the leader`, this.lead);
    }
    if (this.leadTransferee !== NONE) return fail('transferring', `leadership is being transferred to ${this.leadTransferee}`, this.lead);
    if (!this.trk.progress.has(this.id)) return fail('removed', `leader ${this.id} is being removed from the cluster`, NONE);
    const confs = ents.filter((x) => x.type === 'conf');
    if (confs.length > 1) return fail('invalid', 'one membership change at a time', this.id);
    if (confs.length === 1) {
      if (this.conf.lastIndex() > this.log.committed) return fail('conf-change-pending', 'a membership change is still uncommitted', this.id);
      if (!this.#committedEntryInCurrentTerm()) return fail('not-ready', 'leader has not committed an entry of its term yet', this.id);
      const cc = decodeConfChange(confs[0].data);
      if (!cc) return fail('invalid', 'malformed conf change', this.id);
      const why = checkConfChange(this.trk.confState(), cc);
      if (why) return fail('invalid', why, this.id);
    }
    const term = this.term;
    const last = this.#appendEntries(ents);
    this.bcastAppend();
    return { ok: true, index: last, term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.proposeEntries([{ type: 'conf', data: encodeConfChange(cc) }]);
  }

  #appendEntries(ents: { type: EntryType; data: string }[]): number {
    let li = this.log.lastIndex();
    const full: Entry[] = ents.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    li = this.log.append(full);
    // The leader's own copy counts toward the quorum only once it is durable
    // (selfAck, after the host persisted it); followers may commit it first.
    if (this.conf.onWrite(full)) this.#applyConf();
    return li;
  }

  /** Membership changed (on append, truncation or snapshot restore): update the tracker. */
  #applyConf(): void {
    const conf = this.conf.current();
    this.trk.setConf(conf, this.log.lastIndex() + 1);
    if (this.role !== 'leader') return;
    const self = this.trk.progress.get(this.id);
    const durable = this.durableLastIndex();
    if (self && self.match < durable) {
      self.match = durable;
      self.next = Math.max(self.next, this.log.lastIndex() + 1);
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    // Removing a slow voter can make entries committed right away.
    if (this.#maybeCommit()) this.#afterCommit();
  }

  /** Leader: advance commit to what a majority of voters has, counting only current-term entries (§5.4.2). */
  #maybeCommit(): boolean {
    if (this.role !== 'leader') return false;
    const mci = this.trk.committed();
    if (mci > this.log.committed && this.log.term(mci) === this.term) {
      this.log.commitTo(mci);
      return true;
    }
    return false;
  }

  #afterCommit(): void {
    if (this.role !== 'leader') return;
    if (this.#committedEntryInCurrentTerm() && this.#pendingReads.length > 0) {
      const reads = this.#pendingReads;
      this.#pendingReads = [];
      for (const r of reads) this.#leaderReadIndex(r.from, r.ctx);
    }
    // A leader that removed (or demoted) itself leads until that change
    // commits, then steps down. It hands over to the most caught-up voter
    // right away instead of making the cluster wait an election timeout.
    if (!this.trk.isVoter(this.id) && this.log.committed >= this.conf.lastIndex()) {
      this.bcastAppend(); // let followers learn the commit of the change
      let best: NodeId = NONE;
      for (const id of [...this.trk.voters].sort()) {
        const pr = this.trk.progress.get(id)!;
        if (pr.match === this.log.lastIndex() && best === NONE) best = id;
      }
      if (best !== NONE) this.#sendTimeoutNow(best);
      this.becomeFollower(this.term, NONE);
    }
  }

  /** Last index of the log prefix that is durable locally (the unstable tail is not). */
  durableLastIndex(): number {
    // The host writes Storage only after persisting; below unstable.offset it is current.
    return Math.min(this.log.storage.lastIndex(), this.log.unstable.offset - 1);
  }

  // ---------------------------------------------------------------------------
  // Host feedback

  /**
   * The host made our log durable through (index, term): the leader's own
   * "append response" (etcd's self MsgAppResp under async storage writes).
   * Ignored unless we still lead and the entry is still in our log.
   */
  selfAck(index: number, term: number): void {
    if (this.role !== 'leader' || this.log.term(index) !== term) return;
    const pr = this.trk.progress.get(this.id);
    if (!pr || !pr.maybeUpdate(index)) return;
    if (this.#maybeCommit()) {
      this.#afterCommit();
      if (this.role === 'leader') this.#commitAdvanced();
    }
  }

  /**
   * A follower forgets its leader, so it may grant votes before its leader
   * lease expires (the host learned the leader is gone, e.g. it was removed
   * or its connection closed). Never affects safety, only who may be elected.
   */
  forgetLeader(): void {
    if (this.role === 'follower') this.lead = NONE;
  }

  /**
   * The host's transport says its link to `id` closed (the peer crashed, or
   * the connection was reset or found silent). A hint, not proof: the peer may
   * be alive and the link back in a moment. If `id` is our leader, we stop
   * honouring its lease (so we grant votes at once) and campaign within half an
   * election timeout instead of a whole one or two: PreVote first, as always,
   * so a leader that is in fact alive and heard by the others is not deposed —
   * they are in its lease and ignore us, and its next message makes us its
   * follower again. The survivors campaign in order (rank among the other
   * voters, by id), each within its slot of the half timeout, randomized in
   * the slot's first half: the first asks before the next would start, and
   * whoever grants a pre-vote gives way (handleVote). Deterministic: the
   * delay draws from the injected Rng.
   */
  linkDown(id: NodeId): void {
    if (this.role !== 'follower' || id === NONE || id !== this.lead) return;
    this.lead = NONE;
    if (!this.#promotable()) return;
    const others = this.#sortedVotersWithout(id);
    const rank = others.indexOf(this.id);
    if (rank < 0) return;
    const slot = Math.max(1, Math.floor(this.electionTimeout / 2 / others.length));
    const delay = rank * slot + this.#rng.int(0, Math.max(0, Math.ceil(slot / 2) - 1));
    this.#hinted = true;
    // Our election timer now fires `delay` ticks from now (hearing from a leader resets it).
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - delay);
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup('election');
    }
  }

  /**
   * The link to `id` is up (again). A leader sends it a heartbeat now rather
   * than at the next interval, so it learns of us and we of what it lacks; a
   * (pre-)candidate that has no answer from it asks it again (what it sent
   * while the link was down was not kept), rather than waiting out its
   * election timeout. Asking twice is harmless: a vote is given once per term.
   */
  linkUp(id: NodeId): void {
    if (id === this.id) return;
    if (this.role === 'leader') {
      if (this.trk.progress.has(id)) this.#sendHeartbeat(id, '');
      return;
    }
    if ((this.role === 'candidate' || this.role === 'preCandidate') && this.trk.isVoter(id) && !this.trk.votes.has(id)) {
      const pre = this.role === 'preCandidate';
      this.#send({ type: pre ? 'preVote' : 'vote', from: this.id, to: id, term: pre ? this.term + 1 : this.term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), transfer: false });
    }
  }

  #sortedVotersWithout(id: NodeId): NodeId[] {
    const out: NodeId[] = [];
    for (const v of this.trk.voters) if (v !== id) out.push(v);
    return out.sort();
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.trk.progress.get(id);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.trk.progress.get(id);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for a heartbeat response before probing again.
    pr.paused = true;
  }
}

function fail(code: RaftError['code'], message: string, leader: NodeId): ProposeResult {
  return { ok: false, error: { code, message, leader } };
}
