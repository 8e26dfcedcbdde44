// The Monitor's safety rules, checked on what the real nodes report while a
// simulation runs (facts come through NodePorts.observe):
//  - an alarm publication is accepted only from the node that led the
//    monitor group in the publication's term (a node that was never primary
//    in that term — or one deposed since — cannot get alarms accepted);
//  - never two primaries publishing in one term, on any replica;
//  - on each replica, accepted publications never go back to an older term.
export interface MonitorViolation {
  invariant: string;
  node: string;
  message: string;
}

export class MonitorInvariants {
  /** Monitor-group leader per term, from the Raft role probe. */
  readonly #leaders = new Map<number, string>();
  /** Who published in each term (any replica). */
  readonly #publishers = new Map<number, string>();
  /** Highest accepted term per replica. */
  readonly #highest = new Map<string, number>();
  onViolation: (v: MonitorViolation) => void = () => {};
  accepted = 0;

  observe(kind: string, d: Record<string, unknown>): void {
    if (kind === 'raft-leader' && d.group === 'monitor') {
      this.#leaders.set(d.term as number, d.node as string);
      return;
    }
    if (kind === 'raft-started' && d.group === 'monitor') {
      // The replica's ledger is rebuilt from its log and re-applies what it had.
      this.#highest.delete(d.node as string);
      return;
    }
    if (kind !== 'ledger-accepted') return;
    this.accepted++;
    const node = d.node as string;
    const from = d.from as string;
    const term = d.term as number;
    const leader = this.#leaders.get(term);
    if (leader !== from) {
      this.onViolation({ invariant: 'primary-only', node, message: `ledger accepted a publication from ${from} in term ${term}, whose primary was ${leader ?? 'nobody'}` });
    }
    const first = this.#publishers.get(term);
    if (first === undefined) this.#publishers.set(term, from);
    else if (first !== from) this.onViolation({ invariant: 'one-primary-per-term', node, message: `${first} and ${from} both had publications accepted in term ${term}` });
    const hi = this.#highest.get(node) ?? 0;
    if (term < hi) this.onViolation({ invariant: 'fencing', node, message: `accepted a publication of term ${term} from ${from} after one of term ${hi}` });
    else this.#highest.set(node, term);
  }

}
