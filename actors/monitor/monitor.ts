// The Monitor's pure core, composing health → debouncing → fenced publication.
//
// Every monitor evaluates health (the score is useful everywhere); only the primary turns findings
// into alarm events and publishes them. On becoming primary the monitor resumes from the ledger's
// active alarms (so it neither re-raises nor forgets them) and emits a `takeover` publication with
// the first token of its term; thereafter each evaluation that produces events yields one
// publication with the next token. The host proposes publications to the CDB, whose AlarmLedger
// accepts or rejects them (fencing).
//
// Placement (placement.ts) is decided on every monitor too — a system no node can take is a
// system-unplaced finding everywhere — but only the primary gets the puts, each placement carrying
// its term; the host writes them with a CAS on the system's revision.
import { AlarmEvaluator } from './alarms.ts';
import type { Alarm, AlarmPublication, EvaluatorOptions } from './alarms.ts';
import { DEFAULT_HEALTH_CONFIG, evaluateHealth, unplacedFindings, withFindings } from './health.ts';
import { planPlacements, type PlacementPut } from './placement.ts';
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
  /** system placements to write (CAS on the revision); only while primary */
  placements: PlacementPut[];
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
    const evaluated = evaluateHealth(input, this.#health);
    const obs = this.primary.observe(input.leader, input.term);
    // Every monitor decides (so each shows the unplaceable systems); only the primary writes.
    const plan = planPlacements({ objects: input.objects, views: input.views, down: evaluated.nodes.down.map((d) => d.node), term: this.primary.term });
    const health = withFindings(evaluated, unplacedFindings(plan.unplaced), this.#health);
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
    return { health, primary: this.primary.status(), publications, placements: this.primary.isPrimary ? plan.puts : [] };
  }
}
