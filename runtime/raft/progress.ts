// The leader's view of each follower, and the membership configuration.
import type { ConfState, NodeId } from './types.ts';

/**
 * Sliding window of in-flight append messages to one follower, bounded both
 * in count and in bytes, so a slow follower cannot make the leader buffer an
 * unbounded amount of data in the transport.
 */
export class Inflights {
  maxCount: number;
  maxBytes: number; // 0 = unlimited
  #queue: { index: number; bytes: number }[] = [];
  bytes = 0;

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }
  get count(): number {
    return this.#queue.length;
  }
  add(index: number, bytes: number): void {
    this.#queue.push({ index, bytes });
    this.bytes += bytes;
  }
  /** The follower acknowledged everything up to index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#queue.length && this.#queue[n].index <= index) {
      this.bytes -= this.#queue[n].bytes;
      n++;
    }
    if (n > 0) this.#queue.splice(0, n);
  }
  full(): boolean {
    return this.#queue.length >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }
  reset(): void {
    this.#queue = [];
    this.bytes = 0;
  }
}

/**
 * probe:     we do not know where the follower's log matches; send one
 *            append at a time and wait for its answer (or a heartbeat reply).
 * replicate: steady state; stream appends optimistically up to the inflight limits.
 * snapshot:  the follower needs entries we compacted; a snapshot is on its way.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot being sent (snapshot state). */
  pendingSnapshot = 0;
  /** Leader tick count when the snapshot was sent (to give up on a lost one). */
  snapshotSentAt = 0;
  /** Ticks the snapshot may take to be acknowledged before it is taken for lost. */
  snapshotWait = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /**
   * Appends to this peer are paused: in probe, one is outstanding; in
   * replicate, the inflight window is full. Cleared by an append response and
   * by a heartbeat response; the latter lets a replicate stream whose appends
   * were all dropped recover (the next append exposes the gap and we probe).
   */
  paused = false;
  isLearner: boolean;
  inflights: Inflights;

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  #resetState(s: ProgressState): void {
    this.paused = false;
    this.pendingSnapshot = 0;
    this.state = s;
    this.inflights.reset();
  }
  becomeProbe(): void {
    // Coming back from a snapshot, the follower has at least the snapshot.
    if (this.state === 'snapshot') {
      const ps = this.pendingSnapshot;
      this.#resetState('probe');
      this.next = Math.max(this.match + 1, ps + 1);
    } else {
      this.#resetState('probe');
      this.next = this.match + 1;
    }
  }
  becomeReplicate(): void {
    this.#resetState('replicate');
    this.next = this.match + 1;
  }
  becomeSnapshot(snapIndex: number): void {
    this.#resetState('snapshot');
    this.pendingSnapshot = snapIndex;
  }

  /** Record an append of `entries` entries / `bytes` bytes just sent. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
      this.paused = this.inflights.full();
    } else if (this.state === 'probe') {
      if (entries > 0) this.paused = true;
    }
  }

  /** Successful append response for index n. Returns false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.paused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejected`; matchHint is
   * where the follower's log might match. Returns false for stale rejections.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe only the rejection of the last probe (next-1) is meaningful.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.paused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
      case 'replicate':
        return this.paused;
      case 'snapshot':
        return true;
    }
  }
}

/** Majority of n voters. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Membership plus per-peer progress and election votes. */
export class ProgressTracker {
  voters: ReadonlySet<NodeId> = new Set<NodeId>();
  learners: ReadonlySet<NodeId> = new Set<NodeId>();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  maxInflight: number;
  maxInflightBytes: number;
  #matchBuf: number[] = [];
  /** Sorted copies of the membership, rebuilt by setConf (read on every broadcast and status call). */
  #sortedVoters: NodeId[] = [];
  #sortedLearners: NodeId[] = [];
  #sortedMembers: NodeId[] = [];

  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
  }

  confState(): ConfState {
    return { voters: this.#sortedVoters.slice(), learners: this.#sortedLearners.slice() };
  }
  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }
  /** All members (voters and learners), sorted for determinism. */
  members(): readonly NodeId[] {
    return this.#sortedMembers;
  }

  /**
   * Switch to a new configuration. Progress of new members starts at
   * `nextIndex` in probe state; removed members' progress is dropped.
   */
  setConf(conf: ConfState, nextIndex: number): void {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    this.#sortedVoters = [...this.voters].sort();
    this.#sortedLearners = [...this.learners].sort();
    this.#sortedMembers = [...this.voters, ...this.learners].sort();
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of this.members()) {
      const pr = this.progress.get(id);
      if (pr) pr.isLearner = this.learners.has(id);
      else this.progress.set(id, new Progress(nextIndex, this.maxInflight, this.maxInflightBytes, this.learners.has(id)));
    }
  }

  /** Largest index replicated on a majority of voters (0 with no voters). */
  committed(): number {
    const n = this.voters.size;
    if (n === 0) return 0;
    // Hot (every append response): no intermediate arrays, insertion sort
    // (descending) into a reused buffer (never truncated: that frees its store).
    const m = this.#matchBuf;
    let count = 0;
    for (const id of this.voters) {
      const v = this.progress.get(id)?.match ?? 0;
      let j = count++;
      while (j > 0 && m[j - 1] < v) {
        m[j] = m[j - 1];
        j--;
      }
      m[j] = v;
    }
    return m[quorum(n) - 1];
  }

  resetVotes(): void {
    this.votes = new Map();
  }
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }
  tallyVotes(): { granted: number; rejected: number; result: 'won' | 'lost' | 'pending' } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = quorum(this.voters.size);
    const result = granted >= q ? 'won' : rejected > this.voters.size - q ? 'lost' : 'pending';
    return { granted, rejected, result };
  }

  /** CheckQuorum: did a majority of voters talk to us during the last election timeout? */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) active++;
    }
    return active >= quorum(this.voters.size);
  }
}
