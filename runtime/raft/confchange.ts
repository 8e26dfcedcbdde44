// Membership changes: one server at a time, taking effect ON APPEND.
//
// Why not etcd's apply-time single changes: with apply-time, nodes switch
// configuration at different moments (when *they* apply), and a lagging node
// can still campaign under C(n-1) while the leader already committed entries
// under C(n+1); those two may differ by two servers and their majorities need
// not intersect, losing committed entries (see etcd issue #7625 for a
// counter-example). Why not joint consensus: it is correct but doubles the
// quorum logic, and ACP only ever needs single-server steps.
//
// So we follow the Raft dissertation §4.1: every node uses the LATEST
// configuration found in its log (snapshot conf + conf entries after it),
// committed or not, and reverts if a conf entry is truncated away. Adjacent
// configurations differ by one server, so any majority of one intersects any
// majority of the other. The known pitfalls are handled by the leader:
//  - it proposes a change only after it has committed an entry of its own
//    term (Ongaro's 2015 fix for the single-server bug),
//  - only one change may be uncommitted at a time,
//  - a leader that removes itself keeps leading (without counting itself)
//    until the change commits, then steps down,
//  - nodes that are not voters in their own configuration never campaign,
//    but everyone answers vote requests whatever its configuration (the
//    candidate's configuration governs its election).
import type { ConfChange, ConfState, Entry, NodeId } from './types.ts';

export function encodeConfChange(cc: ConfChange): string {
  return JSON.stringify({ type: cc.type, node: cc.node });
}

export function decodeConfChange(data: string): ConfChange | undefined {
  try {
    const v = JSON.parse(data) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if ((o.type === 'addVoter' || o.type === 'addLearner' || o.type === 'remove') && typeof o.node === 'string' && o.node !== '') {
      return { type: o.type, node: o.node };
    }
  } catch {
    // fallthrough
  }
  return undefined;
}

/**
 * The log a brand-new cluster starts with: one committed conf entry per
 * initial member, in term 1 (as etcd bootstraps). Membership must live in the
 * log (or a snapshot) rather than only in each node's local config: a node
 * that joins later starts empty and learns who the voters are by replication.
 * Every bootstrap node writes the same entries, so their logs agree.
 */
export function bootstrapEntries(conf: ConfState): Entry[] {
  const ccs: ConfChange[] = [
    ...[...conf.voters].sort().map((node): ConfChange => ({ type: 'addVoter', node })),
    ...[...conf.learners].sort().map((node): ConfChange => ({ type: 'addLearner', node })),
  ];
  return ccs.map((cc, i) => ({ term: 1, index: i + 1, type: 'conf', data: encodeConfChange(cc) }));
}

/** Why a change cannot be applied to `conf`, or undefined when it can. */
export function checkConfChange(conf: ConfState, cc: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  switch (cc.type) {
    case 'addVoter':
      return isVoter ? `${cc.node} is already a voter` : undefined;
    case 'addLearner':
      if (isLearner) return `${cc.node} is already a learner`;
      if (isVoter && conf.voters.length === 1) return `cannot demote the last voter ${cc.node}`;
      return undefined;
    case 'remove':
      if (!isVoter && !isLearner) return `${cc.node} is not a member`;
      if (isVoter && conf.voters.length === 1) return `cannot remove the last voter ${cc.node}`;
      return undefined;
  }
}

/** The configuration after `cc`. Invalid changes leave it unchanged (every node computes the same). */
export function applyChange(conf: ConfState, cc: ConfChange): ConfState {
  if (checkConfChange(conf, cc) !== undefined) return conf;
  const voters = conf.voters.filter((v) => v !== cc.node);
  const learners = conf.learners.filter((v) => v !== cc.node);
  if (cc.type === 'addVoter') voters.push(cc.node);
  if (cc.type === 'addLearner') learners.push(cc.node);
  return { voters: voters.sort(), learners: learners.sort() };
}

/**
 * History of configurations in the log: the base (as of the snapshot) plus one
 * record per conf entry after it, so truncating the log can revert membership
 * and the host can ask for the configuration as of any retained index.
 */
export class ConfHistory {
  base: ConfState;
  baseIndex: number;
  records: { index: number; conf: ConfState }[] = [];

  constructor(base: ConfState, baseIndex: number) {
    this.base = base;
    this.baseIndex = baseIndex;
  }
  current(): ConfState {
    return this.records.length > 0 ? this.records[this.records.length - 1].conf : this.base;
  }
  /** Index of the last conf entry in the log (0 if none after the snapshot). */
  lastIndex(): number {
    return this.records.length > 0 ? this.records[this.records.length - 1].index : 0;
  }
  at(index: number): ConfState {
    let c = this.base;
    for (const r of this.records) {
      if (r.index > index) break;
      c = r.conf;
    }
    return c;
  }
  /** Entries were written starting at written[0].index (replacing anything from there on). */
  onWrite(written: readonly Entry[]): boolean {
    if (written.length === 0) return false;
    const before = this.current();
    const from = written[0].index;
    const n = this.records.length;
    // Records are in index order: only a write over a recorded index truncates (rare; skip the copy otherwise).
    if (n > 0 && this.records[n - 1].index >= from) this.records = this.records.filter((r) => r.index < from);
    let changed = this.records.length !== n;
    for (const e of written) {
      if (e.type !== 'conf') continue;
      const cc = decodeConfChange(e.data);
      const next = cc ? applyChange(this.current(), cc) : this.current();
      this.records.push({ index: e.index, conf: next });
      changed = true;
    }
    return changed && !sameConf(before, this.current());
  }
  reset(base: ConfState, baseIndex: number): void {
    this.base = base;
    this.baseIndex = baseIndex;
    this.records = [];
  }
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  const eq = (x: NodeId[], y: NodeId[]) => x.length === y.length && [...x].sort().every((v, i) => v === [...y].sort()[i]);
  return eq(a.voters, b.voters) && eq(a.learners, b.learners);
}
