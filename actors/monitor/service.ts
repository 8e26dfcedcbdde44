// The Monitor service actor, one per node. It owns the `monitor` Raft group,
// whose leader is the primary and whose log is the fenced alarm ledger. It
// keeps its own copy of the cluster's objects and meta views, fed by the CDB
// as changes happen (a watch with a listing, and meta deltas), and every
// interval computes the health score (every node does: `acp status` shows it
// anywhere) from those and from its own peer links (a link a dead peer's
// kernel closed says so within a second, where its meta takes staleAfterMs
// to go stale); only while this node is primary does it turn findings into
// alarms and propose them, fenced by the group's term, to the ledger, and
// writes the placements of unplaced systems (placement.ts) with a CAS put on
// each system's revision, the placement carrying its term.
import { receive, setup, type ActorContext, type ActorRef, type Behavior, type ReplyTo } from '../../runtime/actor/index.ts';
import { raftGroup, type HostStatus, type LeaderEvent, type ProposeResponse, type RaftGroupMsg, type RaftGroupSettings, type ReadResponse, type StateMachine } from '../../runtime/raft-host/index.ts';
import { listed, subscribeMsg, type Listing, type RegistryMsg } from '../../runtime/registry/registry.ts';
import type { NodePorts } from '../../runtime/ports/ports.ts';
import { CDB, objectKey, report, request, watch, watchMeta, type ApiReply, type CdbMetaEvent, type CdbMsg, type CdbObject, type CdbWatchEvent, type ObjectKey, type ObjectView } from '../cdb/client.ts';
import { AlarmLedger, parseAlarmPublication, type AlarmPublication, type LedgerResult } from './alarms.ts';
import { MonitorCore } from './monitor.ts';
import type { PlacementPut } from './placement.ts';
import type { AlertsReply, MonitorMsg, MonitorReply, MonitorStatus } from './client.ts';

export interface MonitorArgs {
  node: string;
  voters: string[];
  raft: RaftGroupSettings;
  intervalMs: number;
  ports: NodePorts;
  registry: ActorRef<RegistryMsg>;
}

type Internal =
  | { type: 'evaluate' }
  | Listing
  | CdbWatchEvent
  | CdbMetaEvent
  | LeaderEvent
  | { type: 'placed'; key: string; id: string; node: string; r: ApiReply }
  | { type: 'published'; r: ProposeResponse<LedgerResult> | { error: string; message: string } }
  | { type: 'publish-done'; replyTo: ReplyTo<MonitorReply>; r: ProposeResponse<LedgerResult> | { error: string; message: string } }
  | { type: 'alerts-ready'; all: boolean; replyTo: ReplyTo<AlertsReply | MonitorReply>; r: ReadResponse | { error: string; message: string } }
  | { type: 'status-done'; replyTo: ReplyTo<MonitorStatus>; r: HostStatus | undefined };

type Msg = MonitorMsg | Internal;

const WATCH_ID = 'monitor';

export function monitorService(args: MonitorArgs): Behavior<MonitorMsg> {
  return setup<Msg>((ctx) => new MonitorService(ctx, args).behavior()) as Behavior<MonitorMsg>;
}

class MonitorService {
  readonly #ctx: ActorContext<Msg>;
  readonly #a: MonitorArgs;
  readonly #core: MonitorCore;
  readonly #ledger = new AlarmLedger();
  readonly #group: ActorRef<RaftGroupMsg<LedgerResult>>;
  #cdb: ActorRef<CdbMsg> | undefined;
  readonly #objects = new Map<ObjectKey, CdbObject>();
  readonly #views = new Map<ObjectKey, ObjectView>();
  #synced = false;
  #lead = '';
  #term = 0;
  /** Publications of this evaluation waiting to be proposed, in order; one in flight at a time. */
  #outbox: AlarmPublication[] = [];
  #inFlight = false;
  /** Placement puts awaiting their answer, as "id@revision": one per system revision. */
  readonly #placing = new Set<string>();
  #last: Omit<MonitorStatus, 'raft' | 'activeAlarms'> = { primary: undefined, term: 0, score: undefined, findings: 0, published: 0, rejected: 0 };

  constructor(ctx: ActorContext<Msg>, a: MonitorArgs) {
    this.#ctx = ctx;
    this.#a = a;
    this.#core = new MonitorCore(a.node);
    this.#group = ctx.spawn(
      raftGroup<LedgerResult>({
        group: 'monitor',
        id: a.node,
        voters: a.voters,
        peers: a.ports.peers,
        log: a.ports.openLog('monitor'),
        stateMachine: this.#machine(),
        settings: a.raft,
        ...(a.ports.raftProbe?.('monitor') ? { probe: a.ports.raftProbe('monitor')! } : {}),
      }),
      'raft-monitor',
      { restart: 'permanent' },
    );
    this.#group.tell({ type: 'watch-leader', ref: ctx.self as unknown as ActorRef<LeaderEvent> });
    a.registry.tell(subscribeMsg(CDB, ctx.self as unknown as ActorRef<Listing>));
    ctx.timers.startPeriodic('evaluate', { type: 'evaluate' }, a.intervalMs);
  }

  behavior(): Behavior<Msg> {
    return receive<Msg>((_ctx, msg) => this.#handle(msg));
  }

  #machine(): StateMachine<LedgerResult> {
    const ledger = this.#ledger;
    const observe = this.#a.ports.observe;
    const node = this.#a.node;
    return {
      apply: (index, data) => {
        let raw: unknown;
        try {
          raw = JSON.parse(data);
        } catch {
          return { ok: false, code: 'invalid', reason: 'not JSON' } satisfies LedgerResult;
        }
        const r = ledger.apply(raw);
        if (observe && r.ok && !r.duplicate) {
          const p = raw as AlarmPublication;
          observe('ledger-accepted', { node, index, from: p.from, term: p.fence.term, seq: p.fence.seq });
        }
        return r;
      },
      snapshot: () => ledger.snapshot(),
      restore: (data) => ledger.restore(data === '' ? new AlarmLedger().snapshot() : data),
    };
  }

  #handle(msg: Msg): void {
    const ctx = this.#ctx;
    switch (msg.type) {
      case 'listing': {
        const ref = listed(CDB, msg);
        if (ref === undefined || ref.path === this.#cdb?.path) return;
        this.#cdb = ref;
        this.#synced = false;
        ref.tell(watch(WATCH_ID, { fromRevision: 0 }, ctx.self as unknown as ActorRef<CdbWatchEvent>, true));
        ref.tell(watchMeta(ctx.self as unknown as ActorRef<CdbMetaEvent>));
        return;
      }
      case 'cdb-watch':
        if (msg.objects) {
          this.#objects.clear();
          for (const o of msg.objects) this.#objects.set(objectKey(o.type, o.id), o);
          this.#synced = true;
        }
        for (const c of msg.changes) {
          if (c.op === 'put') this.#objects.set(c.key, c.object);
          else this.#objects.delete(c.key);
        }
        return;
      case 'cdb-watch-end':
        // Compacted (or refused): list and watch again.
        this.#synced = false;
        this.#cdb?.tell(watch(WATCH_ID, { fromRevision: 0 }, ctx.self as unknown as ActorRef<CdbWatchEvent>, true));
        return;
      case 'cdb-meta':
        for (const v of msg.views) this.#views.set(v.key, v);
        for (const k of msg.removed) this.#views.delete(k);
        return;
      case 'leader':
        if (msg.group !== 'monitor') return;
        this.#lead = msg.lead;
        this.#term = msg.term;
        return;
      case 'evaluate':
        return this.#evaluate();
      case 'placed':
        // Written, lost to a newer revision, or refused as invalid: kept until the watch brings a
        // new revision (nothing to gain from trying the same one again, no hot loop); a transient
        // failure (no answer, not the CDB leader) is tried again at the next evaluation.
        if (!msg.r.ok && msg.r.code !== 'conflict' && msg.r.code !== 'invalid') this.#placing.delete(msg.key);
        // A lost CAS (the system changed, another primary placed it) is decided again from the next listing.
        if (msg.r.ok) ctx.log.info('system placed', { system: msg.id, node: msg.node, term: this.#term });
        else ctx.log.warn('placement write refused', { system: msg.id, node: msg.node, code: msg.r.code, message: msg.r.message });
        return;
      case 'published': {
        this.#inFlight = false;
        const r = msg.r;
        const res = 'error' in r ? undefined : r.result;
        if (res?.ok) {
          this.#last.published++;
          return this.#sendNext();
        }
        this.#last.rejected++;
        this.#outbox = [];
        const why = res && !res.ok ? `${res.code}: ${res.reason}` : 'error' in r ? `${r.error}: ${(r as { message?: string }).message ?? ''}` : 'unknown';
        // The ledger fenced us (or we lost leadership): the next evaluation re-derives from the ledger.
        ctx.log.warn('alarm publication rejected', { reason: why });
        return;
      }
      case 'publish': {
        const p = parseAlarmPublication(msg.pub);
        if (!p.ok) return ctx.reply(msg.replyTo, { ok: false, code: 'invalid', message: p.error });
        this.#propose(JSON.stringify(p.value), (r) => ({ type: 'publish-done', replyTo: msg.replyTo, r }));
        return;
      }
      case 'publish-done': {
        const r = msg.r;
        if ('error' in r) {
          const m = (r as { message?: string }).message;
          return ctx.reply(msg.replyTo, { ok: false, code: r.error, message: m ?? `no Monitor primary reachable (leader: ${(r as { leader?: string }).leader || 'unknown'})` });
        }
        const res = r.result;
        return ctx.reply(msg.replyTo, res.ok ? { ...res, ok: true } : { ok: false, code: res.code, message: res.reason });
      }
      case 'alerts':
        ctx.ask<RaftGroupMsg<LedgerResult>, ReadResponse>(this.#group, (replyTo) => ({ type: 'read', replyTo }), 3000, (a) => ({
          type: 'alerts-ready',
          all: msg.all,
          replyTo: msg.replyTo,
          r: a.ok ? a.value : { error: 'unavailable', message: a.error.message },
        }));
        return;
      case 'alerts-ready': {
        const r = msg.r;
        if ('error' in r) return ctx.reply(msg.replyTo, { ok: false, code: r.error, message: r.error === 'not-leader' ? 'no Monitor primary right now' : ((r as { message?: string }).message ?? r.error) });
        const l = this.#ledger;
        return ctx.reply(msg.replyTo, { ok: true, active: l.active(), history: msg.all ? l.history() : [], fence: l.highest, holder: l.holder ?? null });
      }
      case 'status':
        ctx.ask<RaftGroupMsg<LedgerResult>, HostStatus>(this.#group, (replyTo) => ({ type: 'status', replyTo }), 1000, (a) => ({
          type: 'status-done',
          replyTo: msg.replyTo,
          r: a.ok ? a.value : undefined,
        }));
        return;
      case 'status-done':
        return ctx.reply(msg.replyTo, { ...this.#last, activeAlarms: this.#ledger.active().length, raft: msg.r });
    }
  }

  #evaluate(): void {
    // Health from a partial picture would raise false alarms: wait for the first listing.
    if (!this.#synced) return;
    const now = Math.floor(this.#ctx.now());
    const lead = this.#lead === '' ? undefined : this.#lead;
    // This node's links to its peers: a closed one is word of a dead node long before its meta goes stale.
    const links = this.#a.ports.peers.links();
    const tick = this.#core.tick({ objects: [...this.#objects.values()], views: this.#views, links, now, leader: lead, term: this.#term, ledgerActive: this.#ledger.active() });
    this.#last = {
      ...this.#last,
      primary: lead,
      term: this.#term,
      score: tick.health.score,
      findings: tick.health.findings.length,
      findingIds: tick.health.findings.map((f) => f.id),
      nodes: { total: tick.health.nodes.total, up: tick.health.nodes.up },
      nodesDown: tick.health.nodes.down,
    };
    const node = this.#a.node;
    this.#cdb?.tell(
      report(objectKey('service', `${node}-monitor`), {
        meta: { state: 'running', updatedBy: { node, service: 'monitor' }, updatedAt: now },
        stats: { healthScore: tick.health.score, findings: tick.health.findings.length },
      }),
    );
    for (const k of this.#placing) {
      const at = k.lastIndexOf('@');
      const o = this.#objects.get(objectKey('system', k.slice(0, at)));
      if (o === undefined || o.revision > Number(k.slice(at + 1))) this.#placing.delete(k);
    }
    for (const p of tick.placements) this.#place(p);
    if (tick.publications.length === 0) return;
    this.#outbox.push(...tick.publications);
    if (!this.#inFlight) this.#sendNext();
  }

  #place(p: PlacementPut): void {
    const key = `${p.id}@${p.expectRevision}`;
    if (this.#cdb === undefined || this.#placing.has(key)) return;
    this.#placing.add(key);
    const node = p.object.spec.placement!.node;
    this.#ctx.ask<CdbMsg, ApiReply>(this.#cdb, (replyTo) => request({ op: 'put', object: p.object, expectRevision: p.expectRevision }, replyTo), 6000, (a) => ({
      type: 'placed',
      key,
      id: p.id,
      node,
      r: a.ok ? a.value : { ok: false, code: 'indeterminate', message: a.error.message },
    }));
  }

  #sendNext(): void {
    const pub = this.#outbox.shift();
    if (pub === undefined) return;
    this.#inFlight = true;
    this.#propose(JSON.stringify(pub), (r) => ({ type: 'published', r }));
  }

  #propose(data: string, map: (r: ProposeResponse<LedgerResult> | { error: string; message: string }) => Msg): void {
    this.#ctx.ask<RaftGroupMsg<LedgerResult>, ProposeResponse<LedgerResult>>(this.#group, (replyTo) => ({ type: 'propose', data, replyTo }), 6000, (a) =>
      map(a.ok ? a.value : { error: 'indeterminate', message: a.error.message }),
    );
  }
}
