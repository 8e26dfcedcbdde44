// The Storage service: the reconciling shell (actors/reconciler/service.ts)
// around the Storage reconciler and a driver (Linux, or its simulated twin).
// It watches storage objects (devices, pools, shares), makes those that
// concern this node real, reports their conditions and stats as this node's
// meta, and answers where a ready share can be reached.
//
// Removal destroys data, so it is not decided on the local replica's word
// alone: a node that restarts lists the CDB from its own replica, which may
// lag (it lost unsynced writes, or has not caught up yet) and so lack a pool
// that exists. An owned resource whose object is absent from the watched
// state is removed only after a linearizable `get` confirms the object is
// gone; until then it is `removing`, waiting for that confirmation.
import { setup, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { RegistryMsg } from '../../runtime/registry/registry.ts';
import { request, type ApiReply, type CdbMsg } from '../cdb/client.ts';
import type { Driver, Plan } from '../reconciler/contract.ts';
import { reconcilingService, type ReconcilerMsg } from '../reconciler/service.ts';
import type { StorageMsg, StorageRequest } from './client.ts';
import { reconcileStorage, type StorageAction, type StorageObserved } from './reconcile.ts';

export interface StorageServiceArgs {
  node: string;
  registry: ActorRef<RegistryMsg>;
  driver: Driver<StorageObserved, StorageAction>;
  /** Stats sampling period (sysfs reads; default 2 s). */
  statsMs?: number;
  /** Level-triggered re-check period (default 2 s: under the meta stale time). */
  resyncMs?: number;
}

type Internal = { type: 'st-confirm'; keys: string[] } | { type: 'st-confirmed'; key: string; gone: boolean };
type X = StorageRequest | Internal;

/** Actions that remove a resource whose object is no longer desired. */
const REMOVALS = new Set<StorageAction['kind']>(['release-device', 'destroy-pool', 'destroy-share', 'unexport-share']);

export function storageService(a: StorageServiceArgs): Behavior<StorageMsg> {
  return setup<StorageMsg>((ctx) => {
    const self = ctx.self as unknown as ActorRef<ReconcilerMsg<X>>;
    /** Keys a linearizable read found absent (removal allowed), and keys being asked about. */
    const confirmed = new Set<string>();
    const asking = new Set<string>();

    const reconcile = (node: string, desired: Parameters<typeof reconcileStorage>[1], observed: StorageObserved, caps: Parameters<typeof reconcileStorage>[3]): Plan<StorageAction> => {
      const plan = reconcileStorage(node, desired, observed, caps);
      for (const key of [...confirmed]) if (desired.has(key)) confirmed.delete(key);
      const unconfirmed = new Set<string>();
      plan.actions = plan.actions.filter((x) => {
        if (!REMOVALS.has(x.kind) || desired.has(x.key) || confirmed.has(x.key)) return true;
        unconfirmed.add(x.key);
        return false;
      });
      for (const key of unconfirmed) {
        const c = plan.status.get(key);
        plan.status.set(key, { state: 'removing', reason: `${c?.reason ?? key}; waiting for the CDB to confirm ${key} was deleted` });
      }
      const ask = [...unconfirmed].filter((k) => !asking.has(k));
      if (ask.length) self.tell({ type: 'st-confirm', keys: ask });
      return plan;
    };

    const inner = reconcilingService<StorageObserved, StorageAction, X>({
      node: a.node,
      service: 'storage',
      types: ['storage'],
      registry: a.registry,
      driver: a.driver,
      reconcile,
      statsMs: a.statsMs ?? 2000,
      resyncMs: a.resyncMs ?? 2000,
      extra: (c, msg, view) => {
        switch (msg.type) {
          case 'st-confirm': {
            const cdb = view.cdb as ActorRef<CdbMsg> | undefined;
            if (!cdb) return;
            for (const key of msg.keys) {
              asking.add(key);
              const id = key.slice(key.indexOf('/') + 1);
              c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'get', type: 'storage', id }, replyTo), 5000, (r) => ({
                type: 'st-confirmed',
                key,
                gone: r.ok && r.value.ok === true && r.value.object === undefined,
              }));
            }
            return;
          }
          case 'st-confirmed':
            asking.delete(msg.key);
            if (msg.gone && !view.desired.has(msg.key)) {
              confirmed.add(msg.key);
              view.kick();
            }
            return;
          case 'locate': {
            const key = `storage/${msg.share}`;
            const cond = view.conditions.get(key);
            const share = view.observed?.shares.get(msg.share);
            if (!cond || !share || !view.desired.has(key)) return c.reply(msg.replyTo, { ok: false, code: 'not-found', message: `share ${msg.share} is not on node ${a.node}` });
            if (cond.state !== 'ready' && cond.state !== 'degraded') {
              return c.reply(msg.replyTo, { ok: false, code: 'not-ready', message: `share ${msg.share} is ${cond.state}${cond.reason ? `: ${cond.reason}` : ''}` });
            }
            const info = cond.info ?? {};
            return c.reply(msg.replyTo, {
              ok: true,
              share: msg.share,
              protocol: String(info.protocol ?? 'local'),
              dir: share.dir,
              ...(info.endpoint !== undefined ? { endpoint: String(info.endpoint) } : {}),
              ...(info.export !== undefined ? { export: String(info.export) } : {}),
            });
          }
        }
      },
    });
    return inner.setup!(ctx) as Behavior<StorageMsg>;
  });
}
