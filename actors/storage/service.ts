// The Storage service: the reconciling shell (actors/reconciler/service.ts)
// around the Storage reconciler and a driver (Linux, or its simulated twin).
// It watches storage objects (devices, pools, shares), makes those that
// concern this node real, reports their conditions and stats as this node's
// meta, and answers where a ready share can be reached.
import type { ActorRef, Behavior } from '../../runtime/actor/index.ts';
import type { RegistryMsg } from '../../runtime/registry/registry.ts';
import type { Driver } from '../reconciler/contract.ts';
import { reconcilingService } from '../reconciler/service.ts';
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

export function storageService(a: StorageServiceArgs): Behavior<StorageMsg> {
  return reconcilingService<StorageObserved, StorageAction, StorageRequest>({
    node: a.node,
    service: 'storage',
    types: ['storage'],
    registry: a.registry,
    driver: a.driver,
    reconcile: reconcileStorage,
    statsMs: a.statsMs ?? 2000,
    resyncMs: a.resyncMs ?? 2000,
    extra: (c, msg, view) => {
      if (msg.type !== 'locate') return;
      const key = `storage/${msg.share}`;
      const cond = view.conditions.get(key);
      const share = view.observed?.shares.get(msg.share);
      if (!cond || !share) return c.reply(msg.replyTo, { ok: false, code: 'not-found', message: `share ${msg.share} is not on node ${a.node}` });
      if (cond.state !== 'ready' && cond.state !== 'degraded') {
        return c.reply(msg.replyTo, { ok: false, code: 'not-ready', message: `share ${msg.share} is ${cond.state}${cond.reason ? `: ${cond.reason}` : ''}` });
      }
      const info = cond.info ?? {};
      c.reply(msg.replyTo, {
        ok: true,
        share: msg.share,
        protocol: String(info.protocol ?? 'local'),
        dir: share.dir,
        ...(info.endpoint !== undefined ? { endpoint: String(info.endpoint) } : {}),
        ...(info.export !== undefined ? { export: String(info.export) } : {}),
      });
    },
  }) as Behavior<StorageMsg>;
}
