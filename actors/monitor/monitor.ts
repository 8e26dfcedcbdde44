// The Monitor's pure core, composing health → debouncing → fenced publication.
//
// Every monitor evaluates health (the score is useful everywhere); only the primary turns findings
// into alarm events and publishes them. On becoming primary the monitor resumes from the ledger's
// active alarms (so it neither re-raises nor forgets them) and emits a `takeover` publication with
// the first token of its term; thereafter each evaluation that produces events yields one
// publication with the next token. The host proposes publications to the CDB, whose AlarmLedger
// accepts or rejects them (fencing).
import { AlarmEvaluator } from './alarms.ts';
import type { Alarm, AlarmPublication, EvaluatorOptions } from './alarms.ts';
import { DEFAULT_HEALTH_CONFIG, evaluateHealth } from './health.ts';
import type { HealthConfig, HealthInput, HealthReport } from './health.ts';
import { PrimaryState } from './primary.ts';
import type { PrimaryStatus } from './primary.ts';

export interface MonitorTickInput extends HealthInput {
  now: number;
  /** the monitor Raft group's view on this node */
  leader: string | undefined;
  term: number;
  /** the ledger's active alarms (needed when this node becomes primary) */
  ledgerActive: readonly Alarm[];
}

export interface MonitorTick {
  health: HealthReport;
  primary: PrimaryStatus;
  /** publications to propose to the CDB, in order (takeover first) */
  publications: AlarmPublication[];
}

export class MonitorCore {
  readonly self: string;
  readonly primary: PrimaryState;
  #evaluator: AlarmEvaluator;
  #health: HealthConfig;

  constructor(self: string, opts: { health?: HealthConfig; alarms?: EvaluatorOptions } = {}) {
    this.self = self;
    this.primary = new PrimaryState(self);
    this.#evaluator = new AlarmEvaluator(opts.alarms);
    this.#health = opts.health ?? DEFAULT_HEALTH_CONFIG;
  }

  tick(input: MonitorTickInput): MonitorTick {
    const health = evaluateHealth(input, this.#health);
    const obs = this.primary.observe(input.leader, input.term);
    const publications: AlarmPublication[] = [];
    if (obs.becamePrimary) {
      this.#evaluator.resume(input.ledgerActive);
      const fence = this.primary.nextFence()!;
      publications.push({ v: 1, from: this.self, fence, kind: 'takeover', events: [] });
    }
    if (this.primary.isPrimary) {
      const events = this.#evaluator.evaluate(health.findings, input.now);
      if (events.length) publications.push({ v: 1, from: this.self, fence: this.primary.nextFence()!, kind: 'events', events });
    }
    return { health, primary: this.primary.status(), publications };
  }
}
