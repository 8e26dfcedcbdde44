// Which monitor may publish alarms. The integrator runs the monitors as a Raft group: the leader
// is the primary, its term is the fencing term. PrimaryState is the pure decision, fed with what
// the local Raft node reports (its leader and term), and it issues the fencing tokens.
//
//  * observe(leader, term): a term lower than one already observed is ignored (stale status).
//    This node is primary iff the latest observation names it leader of the latest term.
//  * once this node stops being leader in a term it never becomes primary again in that term
//    (Raft cannot re-elect it without a new term; this guards against a confused caller), so the
//    seq of a term is only ever issued by one run of leadership and stays monotonic.
//  * nextFence(): {term, seq} with seq = 1, 2, 3… within the term; undefined when not primary.
//    The first token of a term should go into a `takeover` publication (see alarms.ts).
//
// Being primary here is a belief: a partitioned old leader may still think it leads. That is what
// the fencing token is for — the AlarmLedger rejects its publications once it has seen the newer term.
import type { FenceToken } from './alarms.ts';

export type PrimaryRole = 'primary' | 'secondary' | 'unknown';

export interface PrimaryStatus {
  role: PrimaryRole;
  term: number;
  leader?: string;
  mayPublish: boolean;
  reason: string;
}

export interface Observation {
  /** this node became primary (of a new term, or again after a re-election): publish a takeover */
  becamePrimary: boolean;
  lostPrimary: boolean;
  /** true when the observation was ignored (older term) */
  ignored: boolean;
  status: PrimaryStatus;
}

export class PrimaryState {
  readonly self: string;
  #term = 0;
  #leader: string | undefined;
  #primary = false;
  #seq = 0;
  /** term in which this node lost leadership (cannot regain it in that term) */
  #resignedTerm = -1;

  constructor(self: string) {
    this.self = self;
  }

  get term(): number {
    return this.#term;
  }

  get isPrimary(): boolean {
    return this.#primary;
  }

  status(): PrimaryStatus {
    const leader = this.#leader;
    if (this.#primary) return { role: 'primary', term: this.#term, leader: this.self, mayPublish: true, reason: `leader of term ${this.#term}` };
    if (leader === undefined) return { role: 'unknown', term: this.#term, mayPublish: false, reason: this.#term === 0 ? 'no leader observed yet' : `no leader in term ${this.#term}` };
    if (leader === this.self) return { role: 'secondary', term: this.#term, leader, mayPublish: false, reason: `resigned in term ${this.#term}; waiting for a new term` };
    return { role: 'secondary', term: this.#term, leader, mayPublish: false, reason: `${leader} is primary in term ${this.#term}` };
  }

  /** Feed the local Raft node's view: the current leader (undefined: none known) and term. */
  observe(leader: string | undefined, term: number): Observation {
    if (!Number.isSafeInteger(term) || term < this.#term) return { becamePrimary: false, lostPrimary: false, ignored: true, status: this.status() };
    const was = this.#primary;
    const newTerm = term > this.#term;
    if (newTerm) {
      this.#term = term;
      this.#seq = 0;
    }
    this.#leader = leader;
    const leads = leader === this.self && this.#resignedTerm !== term;
    if (was && !leads) this.#resignedTerm = this.#term;
    this.#primary = leads;
    return { becamePrimary: leads && (!was || newTerm), lostPrimary: was && !leads, ignored: false, status: this.status() };
  }

  /** The next fencing token of this primary, or undefined when it may not publish. */
  nextFence(): FenceToken | undefined {
    if (!this.#primary) return undefined;
    this.#seq++;
    return { term: this.#term, seq: this.#seq };
  }
}
