// Alerts and alarms: debounced from health findings on the primary monitor, published with a
// fencing token, and recorded by the AlarmLedger (the CDB-side state machine) which rejects
// publications from deposed primaries.
//
// Debouncing (AlarmEvaluator, runs on the primary):
//   * a finding raises an alarm once it has been present in `raiseAfterEvaluations` consecutive
//     evaluations AND for at least `raiseAfterMs` since it was first seen (both default: 3 / 0 ms);
//     a missed evaluation resets the count (the finding must persist);
//   * an active alarm clears once its finding has been absent for `clearAfterEvaluations`
//     consecutive evaluations AND `clearAfterMs` (defaults 2 / 0 ms) — hysteresis against flapping;
//   * while active, a change of severity is published immediately as an `update` (escalation and
//     de-escalation); a changed reason alone is not (values fluctuate), it rides on the next event;
//   * alarm id = finding id ("code:objectKey"), stable across evaluations and across primaries.
//
// Fencing: every publication carries a token {term, seq}: term = the Raft term in which the
// publishing monitor is the leader of the monitor group (the primary), seq = 1, 2, 3… per term
// (PrimaryState.nextFence). Tokens are ordered lexicographically. The ledger keeps the highest
// token applied and:
//   * accepts a publication whose token is greater (a newer term, or the same term with a higher seq);
//   * treats the exact same token as a duplicate (accepted, no effect: re-delivery is harmless);
//   * rejects a lower token — an older term ("fenced": the publisher was deposed) or the same term
//     with a lower seq ("stale-seq": reordered);
//   * rejects a publication of the current term from a different node than the one that first
//     published in that term ("conflicting-holder": two primaries claiming one term cannot be
//     legitimate since Raft elects at most one leader per term).
// A new primary publishes a `takeover` (an empty publication) as soon as it is elected, which raises
// the ledger's highest token to its term: from then on every late publication of the old primary
// is rejected, even one that reaches the ledger before the new primary has raised anything.
import { z } from 'zod';
import { canonicalJson } from '../cdb/store.ts';
import { check, idSchema, objectKeySchema } from '../cdb/schema.ts';
import type { Validation } from '../cdb/schema.ts';
import { SEVERITY_RANK } from './health.ts';
import type { Finding, Severity } from './health.ts';

export interface FenceToken {
  term: number;
  seq: number;
}

/** Lexicographic order on (term, seq): negative if a < b. */
export function compareFence(a: FenceToken, b: FenceToken): number {
  return a.term !== b.term ? a.term - b.term : a.seq - b.seq;
}

const severitySchema = z.enum(['info', 'warning', 'critical']);
const nonNeg = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const fenceSchema = z.strictObject({ term: nonNeg, seq: nonNeg });

export const alarmEventSchema = z.strictObject({
  kind: z.enum(['raise', 'update', 'clear']),
  id: z.string().regex(/^[a-z-]+:[a-z]+(\/[a-z0-9._-]+)?$/, 'must be an alarm id "code:objectKey"').max(160),
  code: z.string().regex(/^[a-z][a-z-]{0,31}$/, 'must be a finding code'),
  object: objectKeySchema,
  severity: severitySchema,
  reason: z.string().max(1000),
  /** the primary's clock (ms) */
  at: nonNeg,
});
export type AlarmEvent = z.output<typeof alarmEventSchema>;

export const alarmPublicationSchema = z.strictObject({
  v: z.literal(1),
  /** the publishing monitor's node */
  from: idSchema,
  fence: fenceSchema,
  /** 'takeover': the first publication of a new primary (usually no events) */
  kind: z.enum(['events', 'takeover']),
  events: z.array(alarmEventSchema).max(10_000),
});
export type AlarmPublication = z.output<typeof alarmPublicationSchema>;

export function parseAlarmPublication(x: unknown): Validation<AlarmPublication> {
  const r = check(alarmPublicationSchema, x);
  return r.ok ? r : { ok: false, error: `alarm publication: ${r.error}` };
}

export interface Alarm {
  id: string;
  code: string;
  object: string;
  severity: Severity;
  reason: string;
  state: 'active' | 'cleared';
  raisedAt: number;
  updatedAt: number;
  clearedAt?: number;
  /** node of the primary that raised it */
  raisedBy: string;
  /** token of the publication that last changed it */
  fence: FenceToken;
}

// ---------------------------------------------------------------------------------------------
// Debouncing evaluator (primary side)

export interface EvaluatorOptions {
  raiseAfterEvaluations?: number;
  raiseAfterMs?: number;
  clearAfterEvaluations?: number;
  clearAfterMs?: number;
  /** findings below this severity never become alarms (default 'info': all do) */
  minSeverity?: Severity;
}

interface Pending {
  firstSeen: number;
  count: number;
  finding: Finding;
}

interface ActiveState {
  severity: Severity;
  reason: string;
  code: string;
  object: string;
  absentCount: number;
  absentSince?: number;
}

export class AlarmEvaluator {
  #opts: Required<EvaluatorOptions>;
  #pending = new Map<string, Pending>();
  #active = new Map<string, ActiveState>();

  constructor(opts: EvaluatorOptions = {}) {
    this.#opts = {
      raiseAfterEvaluations: Math.max(1, opts.raiseAfterEvaluations ?? 3),
      raiseAfterMs: opts.raiseAfterMs ?? 0,
      clearAfterEvaluations: Math.max(1, opts.clearAfterEvaluations ?? 2),
      clearAfterMs: opts.clearAfterMs ?? 0,
      minSeverity: opts.minSeverity ?? 'info',
    };
  }

  /**
   * Start from the alarms already active in the ledger (a new primary): they are not raised again,
   * and clear normally when their finding is absent.
   */
  resume(active: readonly Alarm[]): void {
    this.#pending.clear();
    this.#active.clear();
    for (const a of active) {
      if (a.state !== 'active') continue;
      this.#active.set(a.id, { severity: a.severity, reason: a.reason, code: a.code, object: a.object, absentCount: 0 });
    }
  }

  /** Ids of the alarms this evaluator considers active, sorted. */
  activeIds(): string[] {
    return [...this.#active.keys()].sort();
  }

  /** One evaluation at time `now`; returns the events to publish, sorted by id. */
  evaluate(findings: readonly Finding[], now: number): AlarmEvent[] {
    const o = this.#opts;
    const present = new Map<string, Finding>();
    for (const f of findings) {
      if (SEVERITY_RANK[f.severity] < SEVERITY_RANK[o.minSeverity]) continue;
      const prev = present.get(f.id);
      if (!prev || SEVERITY_RANK[f.severity] > SEVERITY_RANK[prev.severity]) present.set(f.id, f);
    }
    const events: AlarmEvent[] = [];
    const ev = (kind: AlarmEvent['kind'], id: string, code: string, object: string, severity: Severity, reason: string) =>
      events.push({ kind, id, code, object, severity, reason, at: now });

    for (const [id, f] of present) {
      const act = this.#active.get(id);
      if (act) {
        act.absentCount = 0;
        delete act.absentSince;
        act.reason = f.reason;
        if (act.severity !== f.severity) {
          act.severity = f.severity;
          ev('update', id, f.code, f.object, f.severity, f.reason);
        }
        continue;
      }
      const p = this.#pending.get(id);
      const pend = p ? { ...p, count: p.count + 1, finding: f } : { firstSeen: now, count: 1, finding: f };
      if (pend.count >= o.raiseAfterEvaluations && now - pend.firstSeen >= o.raiseAfterMs) {
        this.#pending.delete(id);
        this.#active.set(id, { severity: f.severity, reason: f.reason, code: f.code, object: f.object, absentCount: 0 });
        ev('raise', id, f.code, f.object, f.severity, f.reason);
      } else {
        this.#pending.set(id, pend);
      }
    }
    for (const id of [...this.#pending.keys()]) if (!present.has(id)) this.#pending.delete(id); // must persist
    for (const [id, act] of this.#active) {
      if (present.has(id)) continue;
      act.absentCount++;
      if (act.absentSince === undefined) act.absentSince = now;
      if (act.absentCount >= o.clearAfterEvaluations && now - act.absentSince >= o.clearAfterMs) {
        this.#active.delete(id);
        ev('clear', id, act.code, act.object, act.severity, `cleared: ${act.reason}`);
      }
    }
    events.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return events;
  }
}

// ---------------------------------------------------------------------------------------------
// Ledger (CDB side; deterministic state machine)

export type LedgerRejectCode = 'fenced' | 'stale-seq' | 'conflicting-holder' | 'invalid';
export type LedgerResult =
  | { ok: true; applied: number; duplicate: boolean }
  | { ok: false; code: LedgerRejectCode; reason: string };

interface LedgerSnapshotV1 {
  v: 1;
  highest: FenceToken;
  holder: string;
  alarms: Alarm[];
  history: Alarm[];
  historyLimit: number;
}

export class AlarmLedger {
  #highest: FenceToken = { term: 0, seq: 0 };
  /** node that published in the current (highest) term */
  #holder = '';
  #alarms = new Map<string, Alarm>();
  /** cleared alarms, oldest first, bounded */
  #history: Alarm[] = [];
  #historyLimit: number;

  constructor(opts: { historyLimit?: number } = {}) {
    this.#historyLimit = Math.max(0, opts.historyLimit ?? 1000);
  }

  get highest(): FenceToken {
    return { ...this.#highest };
  }

  /** The node that holds the highest term (the primary as far as the ledger knows). */
  get holder(): string | undefined {
    return this.#holder || undefined;
  }

  /** Active alarms sorted by id. */
  active(): Alarm[] {
    return [...this.#alarms.keys()].sort().map((k) => ({ ...this.#alarms.get(k)! }));
  }

  get(id: string): Alarm | undefined {
    const a = this.#alarms.get(id);
    return a ? { ...a } : undefined;
  }

  /** Recently cleared alarms, oldest first. */
  history(): Alarm[] {
    return this.#history.map((a) => ({ ...a }));
  }

  /** Check the token without applying (what apply would decide). */
  admit(pub: Pick<AlarmPublication, 'from' | 'fence'>): { ok: true; duplicate: boolean } | { ok: false; code: LedgerRejectCode; reason: string } {
    const c = compareFence(pub.fence, this.#highest);
    const tok = (t: FenceToken) => `(term ${t.term}, seq ${t.seq})`;
    if (pub.fence.term < this.#highest.term) {
      return { ok: false, code: 'fenced', reason: `token ${tok(pub.fence)} from ${pub.from} is below the highest ${tok(this.#highest)}: term ${pub.fence.term} was superseded by term ${this.#highest.term} (deposed primary)` };
    }
    if (pub.fence.term === this.#highest.term && this.#holder !== '' && pub.from !== this.#holder) {
      return { ok: false, code: 'conflicting-holder', reason: `term ${pub.fence.term} is held by ${this.#holder}, not ${pub.from}` };
    }
    if (c < 0) return { ok: false, code: 'stale-seq', reason: `token ${tok(pub.fence)} from ${pub.from} is below the highest ${tok(this.#highest)}: out-of-order publication` };
    return { ok: true, duplicate: c === 0 && this.#holder !== '' };
  }

  /** Apply a publication (validated here). Deterministic: the ledger is a replicated state machine. */
  apply(raw: unknown): LedgerResult {
    const p = parseAlarmPublication(raw);
    if (!p.ok) return { ok: false, code: 'invalid', reason: p.error };
    const pub = p.value;
    const adm = this.admit(pub);
    if (!adm.ok) return adm;
    if (adm.duplicate) return { ok: true, applied: 0, duplicate: true };
    this.#highest = { ...pub.fence };
    this.#holder = pub.from;
    let applied = 0;
    for (const e of pub.events) {
      const cur = this.#alarms.get(e.id);
      if (e.kind === 'clear') {
        if (!cur) continue;
        this.#alarms.delete(e.id);
        this.#history.push({ ...cur, state: 'cleared', clearedAt: e.at, updatedAt: e.at, fence: { ...pub.fence } });
        if (this.#history.length > this.#historyLimit) this.#history.splice(0, this.#history.length - this.#historyLimit);
        applied++;
        continue;
      }
      // raise / update: upsert (a raise of an active alarm is an update; an update of an unknown alarm raises it)
      this.#alarms.set(e.id, {
        id: e.id,
        code: e.code,
        object: e.object,
        severity: e.severity,
        reason: e.reason,
        state: 'active',
        raisedAt: cur ? cur.raisedAt : e.at,
        updatedAt: e.at,
        raisedBy: cur ? cur.raisedBy : pub.from,
        fence: { ...pub.fence },
      });
      applied++;
    }
    return { ok: true, applied, duplicate: false };
  }

  snapshot(): string {
    const s: LedgerSnapshotV1 = { v: 1, highest: this.#highest, holder: this.#holder, alarms: this.active(), history: this.#history, historyLimit: this.#historyLimit };
    return canonicalJson(s);
  }

  restore(s: string): void {
    if (s === '') {
      this.#highest = { term: 0, seq: 0 };
      this.#holder = '';
      this.#alarms = new Map();
      this.#history = [];
      return;
    }
    const o = JSON.parse(s) as LedgerSnapshotV1;
    if (o.v !== 1) throw new Error(`alarm ledger: unsupported snapshot version ${String(o.v)}`);
    this.#highest = o.highest;
    this.#holder = o.holder;
    this.#alarms = new Map(o.alarms.map((a) => [a.id, a]));
    this.#history = o.history;
    this.#historyLimit = o.historyLimit;
  }
}

export { SEVERITY_RANK };
export type { Severity };
