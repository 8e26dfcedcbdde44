// The actor shell every reconciling node service runs in (Network, Storage,
// later the Hypervisor). It owns no policy: the pure reconciler decides, the
// driver acts. What it does:
//
//  * finds the CDB through the registry and watches the objects of its types
//    (list + push watch in one step, re-listed when the watch ends);
//  * probes the driver's capabilities once per start;
//  * runs a reconcile pass — observe, reconcile, apply the plan's actions one
//    at a time — whenever the desired state changes, after every pass that
//    still had work (until a pass plans nothing: converged), and every
//    `resyncMs` anyway (level-triggered: a resource removed behind its back
//    is put back);
//  * reports every object's condition on this node as meta (state, reason,
//    info), again every resync so that it never goes stale while true, and
//    the driver's stats every `statsMs`;
//  * backs off after failures: a failed action marks its object `failed`
//    with the driver's reason and the next pass waits (doubling up to
//    resyncMs); a permanent failure is not retried until the object changes.
//
// All driver calls go through ctx.pipeToSelf, one at a time: state changes
// happen only inside message handling.
import { receive, setup, type ActorContext, type ActorRef, type Behavior, type ReplyTo } from '../../runtime/actor/index.ts';
import { listed, subscribeMsg, type Listing, type RegistryMsg } from '../../runtime/registry/registry.ts';
import { CDB, report, request, watch, type ApiReply, type CdbMsg, type CdbObject, type CdbWatchEvent, type ObjectKey, type ObjectType, type Stats } from '../cdb/client.ts';
import { DriverError, type Action, type Capabilities, type Condition, type Desired, type Driver, type Reconcile } from './contract.ts';

export interface ReconcilingServiceArgs<O, A extends Action, X extends { type: string }> {
  /** This node's name. */
  node: string;
  /** The service's name, as it signs its meta (`updatedBy.service`). */
  service: string;
  /** The object types it realises (their objects are its desired state). */
  types: readonly ObjectType[];
  registry: ActorRef<RegistryMsg>;
  driver: Driver<O, A>;
  reconcile: Reconcile<O, A>;
  /** Stats sampling period. */
  statsMs: number;
  /** Level-triggered re-check (and meta refresh) period; keep it under the meta stale time. */
  resyncMs: number;
  /** First back-off after a failed action (doubles up to resyncMs). Default 200 ms. */
  retryMs?: number;
  /** Messages of the service's own (typed requests such as attach/detach). */
  extra?: (ctx: ActorContext<ReconcilerMsg<X>>, msg: X, view: ReconcilerView<O>) => void;
}

/** What `extra` and `status` see. */
export interface ReconcilerView<O> {
  readonly cdb: ActorRef<CdbMsg> | undefined;
  readonly desired: Desired;
  readonly observed: O | undefined;
  readonly capabilities: Capabilities | undefined;
  readonly conditions: ReadonlyMap<ObjectKey, Condition>;
  /** Ask for a reconcile pass as soon as the current one ends. */
  kick(): void;
}

export interface ReconcilerStatus {
  service: string;
  node: string;
  capabilities: Capabilities | undefined;
  /** Passes run, actions applied and failed since start. */
  passes: number;
  applied: number;
  failed: number;
  /** true when the last pass planned nothing. */
  converged: boolean;
  conditions: Record<ObjectKey, Condition>;
}

type Internal<O, A extends Action> =
  | Listing
  | CdbWatchEvent
  | { type: 'rc-caps'; r: { ok: true; value: Capabilities } | { ok: false; error: Error } }
  | { type: 'rc-observed'; r: { ok: true; value: O } | { ok: false; error: Error } }
  | { type: 'rc-applied'; action: A; r: { ok: true; value: void } | { ok: false; error: Error } }
  | { type: 'rc-stats'; r: { ok: true; value: Map<ObjectKey, Stats> } | { ok: false; error: Error } }
  | { type: 'rc-pass' }
  | { type: 'rc-resync' }
  | { type: 'rc-sample' }
  | { type: 'rc-rewatch' }
  | { type: 'rc-barrier'; gen: number; ok: boolean };

/** The shell's public messages. */
export type ReconcilerMsg<X = never> = X | { type: 'reconcile' } | { type: 'reconciler-status'; replyTo: ReplyTo<ReconcilerStatus> };

/** A failure's reason for humans: a DriverError's own, else the error's message. */
function reasonOf(e: Error): string {
  return e instanceof DriverError ? e.reason : e.message || String(e);
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return a !== undefined && a.state === b.state && a.reason === b.reason && JSON.stringify(a.info ?? {}) === JSON.stringify(b.info ?? {});
}

export function reconcilingService<O, A extends Action, X extends { type: string } = never>(a: ReconcilingServiceArgs<O, A, X>): Behavior<ReconcilerMsg<X>> {
  return setup<ReconcilerMsg<X>>((ctx0) => {
    const self = ctx0.self as unknown as ActorRef<Internal<O, A>>;
    let cdb: ActorRef<CdbMsg> | undefined;
    const desired = new Map<ObjectKey, CdbObject>();
    /** Watches still to deliver their first listing; the desired state is complete when 0. */
    let listing = 0;
    let watchGen = 0;
    let caps: Capabilities | undefined;
    let observed: O | undefined;
    const conditions = new Map<ObjectKey, Condition>();
    /** Conditions set by failed actions this pass; they override the plan's view of the object. */
    const failures = new Map<ObjectKey, { reason: string; permanent: boolean; revision: number }>();
    /** The pass in progress: the actions left to apply. */
    let running: { queue: A[]; planned: number } | 'observing' | undefined;
    let again = false;
    let backoffMs = 0;
    let passes = 0;
    let applied = 0;
    let failedCount = 0;
    let converged = false;
    let sampling = false;
    const retryMs = a.retryMs ?? 200;

    a.registry.tell(subscribeMsg(CDB, self as unknown as ActorRef<Listing>));
    ctx0.pipeToSelf(a.driver.capabilities(), (r) => ({ type: 'rc-caps', r }) as never);
    ctx0.timers.startPeriodic('resync', { type: 'rc-resync' } as never, a.resyncMs);
    ctx0.timers.startPeriodic('sample', { type: 'rc-sample' } as never, a.statsMs);

    const view: ReconcilerView<O> = {
      get cdb() {
        return cdb;
      },
      desired,
      get observed() {
        return observed;
      },
      get capabilities() {
        return caps;
      },
      conditions,
      kick: () => self.tell({ type: 'rc-pass' }),
    };

    /**
     * The watches list this node's copy of the CDB, which may be behind (a node that just
     * restarted is still catching up): a pass on it would remove what a newer object still wants.
     * So first a linearizable read through the local CDB — answered only once this replica has
     * applied everything committed before it — then the watches.
     */
    let barrierGen = 0;
    const barrier = (c: ActorContext<ReconcilerMsg<X>>): void => {
      if (!cdb) return;
      const gen = ++barrierGen;
      c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'get', type: a.types[0]!, id: 'barrier' }, replyTo), 6000, (r) => ({ type: 'rc-barrier', gen, ok: r.ok && r.value.ok }) as never);
    };

    const startWatches = (): void => {
      if (!cdb) return;
      for (const type of a.types) cdb.tell({ type: 'unwatch', id: `${a.service}-${type}-${watchGen}` });
      watchGen++;
      listing = a.types.length;
      desired.clear();
      for (const type of a.types) cdb.tell(watch(`${a.service}-${type}-${watchGen}`, { fromRevision: 0, type }, self as unknown as ActorRef<CdbWatchEvent>, true));
    };

    const publish = (key: ObjectKey, c: Condition, now: number): void => {
      cdb?.tell(
        report(key, {
          meta: {
            state: c.state,
            updatedBy: { node: a.node, service: a.service },
            updatedAt: now,
            ...(c.reason !== undefined ? { reason: c.reason.slice(0, 512) } : {}),
            ...(c.info !== undefined ? { info: c.info } : {}),
          },
        }),
      );
    };

    /** Record the pass's conditions; publish the ones that changed (all of them when `refresh`). */
    const settle = (status: Map<ObjectKey, Condition>, now: number, refresh: boolean): void => {
      for (const [key, c0] of status) {
        const f = failures.get(key);
        const c: Condition = f && c0.state !== 'ready' && c0.state !== 'unsupported' ? { ...c0, state: 'failed', reason: f.reason } : c0;
        if (refresh || !sameCondition(conditions.get(key), c)) publish(key, c, now);
        conditions.set(key, c);
      }
      // Objects no longer concerning this node: forget them (their meta goes stale and is pruned).
      for (const key of [...conditions.keys()]) if (!status.has(key)) conditions.delete(key);
    };

    const startPass = (c: ActorContext<ReconcilerMsg<X>>): void => {
      if (running !== undefined) {
        again = true;
        return;
      }
      // Nothing before the first listing is complete (watchGen 0: the read barrier has not answered yet).
      if (!cdb || caps === undefined || listing > 0 || watchGen === 0) return;
      again = false;
      running = 'observing';
      passes++;
      c.pipeToSelf(a.driver.observe(), (r) => ({ type: 'rc-observed', r }) as never);
    };

    const next = (c: ActorContext<ReconcilerMsg<X>>): void => {
      if (running === undefined || running === 'observing') return;
      const action = running.queue.shift();
      if (action !== undefined) {
        c.pipeToSelf(a.driver.apply(action), (r) => ({ type: 'rc-applied', action, r }) as never);
        return;
      }
      const hadWork = running.planned > 0;
      running = undefined;
      converged = !hadWork;
      if (!hadWork) backoffMs = 0;
      if (again) return startPass(c);
      if (!hadWork) return;
      // Something was done (or failed): look again — after a back-off when something failed.
      const anyFailed = [...failures.values()].some((f) => !f.permanent);
      if (anyFailed) {
        backoffMs = Math.min(backoffMs === 0 ? retryMs : backoffMs * 2, a.resyncMs);
        c.timers.startSingle('retry', { type: 'rc-pass' } as never, backoffMs);
      } else startPass(c);
    };

    return receive<ReconcilerMsg<X>>((c, m) => {
      const msg = m as Internal<O, A> | ReconcilerMsg<X>;
      switch (msg.type) {
        case 'listing': {
          const ref = listed(CDB, msg as Listing);
          if (ref && ref.path !== cdb?.path) {
            cdb = ref;
            barrier(c);
          } else if (!ref) cdb = undefined;
          return;
        }
        case 'cdb-watch': {
          const ev = msg as Extract<CdbWatchEvent, { type: 'cdb-watch' }>;
          if (!ev.id.endsWith(`-${watchGen}`)) return;
          if (ev.objects) {
            for (const o of ev.objects) desired.set(`${o.type}/${o.id}`, o);
            listing = Math.max(0, listing - 1);
          }
          for (const ch of ev.changes) {
            if (ch.op === 'put') desired.set(ch.key, ch.object);
            else desired.delete(ch.key);
            // A changed object gets another chance after a permanent failure.
            failures.delete(ch.key);
          }
          startPass(c);
          return;
        }
        case 'cdb-watch-end': {
          // History compacted, the CDB restarting…: list again (after a moment, not in a hot loop).
          c.timers.startSingle('rewatch', { type: 'rc-rewatch' } as never, retryMs);
          return;
        }
        case 'rc-rewatch':
          barrier(c);
          return;
        case 'rc-barrier': {
          const b = msg as Extract<Internal<O, A>, { type: 'rc-barrier' }>;
          if (b.gen !== barrierGen) return;
          if (b.ok) startWatches();
          else c.timers.startSingle('rewatch', { type: 'rc-rewatch' } as never, retryMs);
          return;
        }
        case 'rc-caps': {
          const r = (msg as Extract<Internal<O, A>, { type: 'rc-caps' }>).r;
          caps = r.ok ? r.value : { probe: { ok: false, reason: `capability probe failed: ${reasonOf(r.error)}` } };
          startPass(c);
          return;
        }
        case 'rc-observed': {
          const r = (msg as Extract<Internal<O, A>, { type: 'rc-observed' }>).r;
          if (!r.ok) {
            running = undefined;
            c.log.warn(`${a.service}: observing the machine failed: ${reasonOf(r.error)}`);
            backoffMs = Math.min(backoffMs === 0 ? retryMs : backoffMs * 2, a.resyncMs);
            c.timers.startSingle('retry', { type: 'rc-pass' } as never, backoffMs);
            return;
          }
          observed = r.value;
          const plan = a.reconcile(a.node, desired, observed, caps!);
          // Keys whose failure was permanent are not retried until their object changes.
          const queue = plan.actions.filter((x) => !failures.get(x.key)?.permanent);
          for (const key of [...failures.keys()]) if (!plan.actions.some((x) => x.key === key)) failures.delete(key);
          running = { queue, planned: queue.length };
          // The reconciler knows when the world will want something (a back-off ending): look then.
          if (plan.wakeInMs !== undefined && plan.wakeInMs < a.resyncMs) c.timers.startSingle('wake', { type: 'rc-pass' } as never, Math.max(1, Math.ceil(plan.wakeInMs)));
          settle(plan.status, Math.floor(c.now()), false);
          next(c);
          return;
        }
        case 'rc-applied': {
          const { action, r } = msg as Extract<Internal<O, A>, { type: 'rc-applied' }>;
          if (r.ok) {
            applied++;
            failures.delete(action.key);
          } else {
            failedCount++;
            const reason = reasonOf(r.error);
            const permanent = r.error instanceof DriverError && r.error.permanent;
            failures.set(action.key, { reason: `${action.kind}: ${reason}`, permanent, revision: desired.get(action.key)?.revision ?? 0 });
            c.log.warn(`${a.service}: ${action.kind} for ${action.key} failed: ${reason}`);
            const prev = conditions.get(action.key);
            const cond: Condition = { ...(prev ?? { state: 'failed' }), state: 'failed', reason: `${action.kind}: ${reason}` };
            if (!sameCondition(prev, cond)) publish(action.key, cond, Math.floor(c.now()));
            conditions.set(action.key, cond);
            // The rest of this object's actions depend on the one that failed: drop them.
            if (running !== undefined && running !== 'observing') running.queue = running.queue.filter((x) => x.key !== action.key);
          }
          next(c);
          return;
        }
        case 'rc-pass':
        case 'reconcile':
          startPass(c);
          return;
        case 'rc-resync':
          // Refresh every condition (meta goes stale if not repeated), then look at the machine again.
          for (const [key, cond] of conditions) publish(key, cond, Math.floor(c.now()));
          startPass(c);
          return;
        case 'rc-sample':
          if (sampling || !cdb) return;
          sampling = true;
          c.pipeToSelf(a.driver.stats(), (r) => ({ type: 'rc-stats', r }) as never);
          return;
        case 'rc-stats': {
          sampling = false;
          const r = (msg as Extract<Internal<O, A>, { type: 'rc-stats' }>).r;
          if (!r.ok) {
            c.log.warn(`${a.service}: stats sampling failed: ${reasonOf(r.error)}`);
            return;
          }
          for (const [key, stats] of r.value) cdb?.tell(report(key, { stats }));
          return;
        }
        case 'reconciler-status': {
          const { replyTo } = msg as { type: 'reconciler-status'; replyTo: ReplyTo<ReconcilerStatus> };
          c.reply(replyTo, {
            service: a.service,
            node: a.node,
            capabilities: caps,
            passes,
            applied,
            failed: failedCount,
            converged: converged && running === undefined,
            conditions: Object.fromEntries(conditions),
          });
          return;
        }
        default:
          if (a.extra) a.extra(c, msg as X, view);
          return;
      }
    });
  });
}
