// The Monitor service actor, one per node in its own worker. Every interval
// it reads the cluster's state from the local CDB, computes the health score
// (every node does: `acp status` shows it anywhere), and — only while this
// node leads the `monitor` Raft group — turns findings into alarms and
// proposes them, fenced by that group's term, to the alarm ledger.
import { defineBehavior, receive, setup, type ActorContext, type ActorRef, type ReplyTo } from '../../runtime/actor/index.ts';
import { MonitorCore } from './monitor.ts';
import type { CdbMsg, HealthInputReply, ApiReply } from '../cdb/service.ts';
import { objectKey } from '../cdb/schema.ts';

export interface MonitorArgs {
  node: string;
  intervalMs: number;
  cdb: ActorRef<CdbMsg>;
}

export interface MonitorStatus {
  primary: string | undefined;
  term: number;
  score: number | undefined;
  findings: number;
  published: number;
  rejected: number;
}

export type MonitorMsg = { type: 'evaluate' } | { type: 'status'; replyTo: ReplyTo<MonitorStatus> };

export const monitorService = defineBehavior(import.meta.url, 'monitorService', (args: MonitorArgs) =>
  setup<MonitorMsg>((ctx) => {
    const m = new MonitorService(ctx, args);
    ctx.timers.startPeriodic('evaluate', { type: 'evaluate' }, args.intervalMs);
    ctx.self.tell({ type: 'evaluate' });
    let running = false;
    return receive<MonitorMsg>((_ctx, msg) => {
      if (msg.type === 'status') return m.status(msg.replyTo);
      // Evaluate in the background so `status` never waits behind a CDB round trip; never two at once.
      if (running) return;
      running = true;
      void m.evaluate().finally(() => (running = false));
    });
  }),
);

class MonitorService {
  readonly #ctx: ActorContext<MonitorMsg>;
  readonly #a: MonitorArgs;
  readonly #core: MonitorCore;
  #last: MonitorStatus = { primary: undefined, term: 0, score: undefined, findings: 0, published: 0, rejected: 0 };

  constructor(ctx: ActorContext<MonitorMsg>, a: MonitorArgs) {
    this.#ctx = ctx;
    this.#a = a;
    this.#core = new MonitorCore(a.node);
  }

  async evaluate(): Promise<void> {
    let input: HealthInputReply;
    try {
      input = await this.#a.cdb.ask<HealthInputReply>((replyTo) => ({ type: 'health-input', replyTo }), { timeoutMs: Math.max(1000, this.#a.intervalMs) });
    } catch {
      return; // the CDB is restarting; next interval
    }
    const lead = input.monitor.lead === '' ? undefined : input.monitor.lead;
    const tick = this.#core.tick({ objects: input.objects, views: input.views, now: input.now, leader: lead, term: input.monitor.term, ledgerActive: input.ledgerActive });
    this.#last = { ...this.#last, primary: lead, term: input.monitor.term, score: tick.health.score, findings: tick.health.findings.length };
    const now = Math.floor(this.#ctx.now());
    this.#a.cdb.tell({
      type: 'report',
      key: objectKey('service', `${this.#a.node}-monitor`),
      meta: { state: 'running', updatedBy: { node: this.#a.node, service: 'monitor' }, updatedAt: now },
      stats: { healthScore: tick.health.score, findings: tick.health.findings.length },
    });
    for (const pub of tick.publications) {
      let r: ApiReply;
      try {
        r = await this.#a.cdb.ask<ApiReply>((replyTo) => ({ type: 'alarm', pub, replyTo }), { timeoutMs: 5000 });
      } catch {
        return;
      }
      if (r.ok) this.#last.published++;
      else {
        this.#last.rejected++;
        this.#ctx.log.warn('alarm publication rejected', { code: r.code, message: r.message });
        return; // the ledger fenced us (or we lost leadership): the next tick re-derives from the ledger
      }
    }
  }

  status(replyTo: ReplyTo<MonitorStatus>): void {
    this.#ctx.reply(replyTo, this.#last);
  }
}
