// Raft's safety properties (Raft paper, Figure 3), observed from outside the
// nodes: the Raft host reports what it does through a probe, and this checks
// each report against what every other node has reported.
//
// - Election Safety: at most one leader per term.
// - Leader Append-Only: a leader never overwrites or deletes entries in its log.
// - Log Matching: two logs with an entry of the same index and term hold the
//   same entries up to that index (checked over the nodes' stored logs).
// - Leader Completeness: a leader's log holds every entry committed in an
//   earlier term (a stale leader of an older term may lack newer commits).
// - State Machine Safety: no two nodes apply different entries at one index.
import type { Entry } from '../raft/types.ts';
import type { LogView } from '../raft-host/protocol.ts';
export type { LogView };

export interface Violation {
  invariant: string;
  node: string;
  message: string;
}

export class RaftInvariants {
  #leaderOfTerm = new Map<number, string>();
  /** Committed (applied somewhere) entries: term and data by index. */
  #committedTerm: number[] = [];
  #committedData: string[] = [];
  #committedFrom: string[] = [];
  /**
   * Per committed index: the highest term any leader had reached when it was
   * first applied. The leader that committed it had a term no higher, so
   * leaders of later terms must hold it (Leader Completeness); a leader of an
   * earlier term need not — a stale candidate may win on late vote replies
   * after a newer leader has committed.
   */
  #committedBy: number[] = [];
  #maxLeaderTerm = 0;
  #maxCommitted = 0;
  #applied = new Map<string, number>();
  readonly violations: Violation[] = [];
  onViolation: ((v: Violation) => void) | undefined;
  checks = 0;

  #fail(invariant: string, node: string, message: string): void {
    const v = { invariant, node, message };
    this.violations.push(v);
    this.onViolation?.(v);
  }

  get maxCommitted(): number {
    return this.#maxCommitted;
  }

  /** A node became leader of `term`; `log` is its stored log at that moment. */
  onLeader(node: string, term: number, log: LogView): void {
    this.checks++;
    const prev = this.#leaderOfTerm.get(term);
    if (prev !== undefined && prev !== node) {
      this.#fail('ElectionSafety', node, `two leaders in term ${term}: ${prev} and ${node}`);
    }
    this.#leaderOfTerm.set(term, node);
    if (term > this.#maxLeaderTerm) this.#maxLeaderTerm = term;
    // Leader Completeness: everything committed in an earlier term is in the new leader's log.
    const first = log.firstIndex();
    for (let i = first; i <= this.#maxCommitted; i++) {
      const want = this.#committedTerm[i];
      if (want === undefined || this.#committedBy[i]! >= term) continue;
      const have = log.term(i);
      if (have !== want) {
        this.#fail(
          'LeaderCompleteness',
          node,
          `leader of term ${term} lacks committed entry ${i} (term ${want}, applied by ${this.#committedFrom[i]}); its log has ${have === undefined ? 'nothing' : 'term ' + have} there (log ${first}..${log.lastIndex()})`,
        );
        return;
      }
    }
  }

  /** A node persisted entries; `lastBefore` was its last stored index before. */
  onPersist(node: string, isLeader: boolean, term: number, entries: readonly Entry[], lastBefore: number): void {
    this.checks++;
    if (!isLeader || entries.length === 0) return;
    const first = entries[0].index;
    if (first <= lastBefore && this.#leaderOfTerm.get(term) === node) {
      this.#fail('LeaderAppendOnly', node, `leader of term ${term} overwrote its log from index ${first} (had up to ${lastBefore})`);
    }
  }

  /** A node applied committed entries in order. */
  onApply(node: string, entries: readonly Entry[]): void {
    let applied = this.#applied.get(node) ?? 0;
    for (const e of entries) {
      this.checks++;
      if (e.index <= applied) {
        this.#fail('StateMachineSafety', node, `applied index ${e.index} again (already applied through ${applied})`);
        return;
      }
      if (e.index !== applied + 1 && applied !== 0) {
        this.#fail('StateMachineSafety', node, `applied index ${e.index} after ${applied}: a gap`);
        return;
      }
      applied = e.index;
      const t = this.#committedTerm[e.index];
      if (t === undefined) {
        this.#committedTerm[e.index] = e.term;
        this.#committedData[e.index] = e.data;
        this.#committedFrom[e.index] = node;
        this.#committedBy[e.index] = this.#maxLeaderTerm;
        if (e.index > this.#maxCommitted) this.#maxCommitted = e.index;
      } else if (t !== e.term || this.#committedData[e.index] !== e.data) {
        this.#fail(
          'StateMachineSafety',
          node,
          `applied a different entry at index ${e.index} (term ${e.term}) than ${this.#committedFrom[e.index]} (term ${t})`,
        );
        return;
      }
    }
    this.#applied.set(node, applied);
  }

  /** A node replaced its state with a snapshot at (index, term). */
  onSnapshotRestore(node: string, index: number, term: number): void {
    this.checks++;
    const t = this.#committedTerm[index];
    if (t !== undefined && t !== term) {
      this.#fail('StateMachineSafety', node, `restored a snapshot at index ${index} term ${term}, but entry ${index} committed with term ${t}`);
    }
    if (index > this.#maxCommitted) {
      this.#committedTerm[index] = term;
      this.#committedFrom[index] = node;
      this.#committedBy[index] = this.#maxLeaderTerm;
      this.#maxCommitted = index;
    }
    this.#applied.set(node, index);
  }

  /** A node lost its in-memory state (crash): it re-applies from its disk. */
  onRestart(node: string, appliedFromDisk: number): void {
    this.#applied.set(node, appliedFromDisk);
  }

  /** Log Matching over every pair of stored logs. */
  checkLogs(logs: ReadonlyMap<string, LogView>): void {
    const ids = [...logs.keys()];
    // One copy of each log, so the pairwise scans below are plain array reads.
    const ents = ids.map((id) => logs.get(id)!.entries());
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) {
        this.checks++;
        const ea = ents[a];
        const eb = ents[b];
        if (ea.length === 0 || eb.length === 0) continue;
        const offA = ea[0].index;
        const offB = eb[0].index;
        const lo = Math.max(offA, offB);
        const hi = Math.min(offA + ea.length - 1, offB + eb.length - 1);
        // From the highest index where the terms agree down, everything must agree.
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const x = ea[i - offA];
          const y = eb[i - offB];
          if (!matched && x.term === y.term) matched = true;
          if (matched && (x.term !== y.term || x.data !== y.data)) {
            this.#fail('LogMatching', ids[a], `logs of ${ids[a]} and ${ids[b]} agree at a later index but differ at index ${i} (terms ${x.term} vs ${y.term})`);
            return;
          }
        }
      }
    }
  }
}
