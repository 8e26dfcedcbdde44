// The Hypervisor service: the reconciler shell (actors/reconciler/service.ts) over `system`
// objects, with the pure core of reconcile.ts and the driver the node hands in (linux.ts on a
// machine, sim.ts in a simulation), plus its own requests: pause/resume, where the logs are,
// and the attachments/shares other services hand over.
import type { ActorRef, Behavior } from '../../runtime/actor/index.ts';
import type { RegistryMsg } from '../../runtime/registry/registry.ts';
import { DriverError } from '../reconciler/contract.ts';
import { reconcilingService } from '../reconciler/service.ts';
import type { HypervisorDriver, HypervisorMsg, HypervisorRequest } from './client.ts';
import { reconcile } from './reconcile.ts';
import type { HypervisorAction, HypervisorObserved } from './types.ts';

export interface HypervisorServiceArgs {
  node: string;
  registry: ActorRef<RegistryMsg>;
  driver: HypervisorDriver;
  /** stats sampling period (default 5 s) */
  statsMs?: number;
  /**
   * Level-triggered re-check period (default 1 s): it also bounds how late an exit is noticed
   * and a back-off restart happens (the plan has no wake-up time of its own yet).
   */
  resyncMs?: number;
}

export function hypervisorService(a: HypervisorServiceArgs): Behavior<HypervisorMsg> {
  return reconcilingService<HypervisorObserved, HypervisorAction, HypervisorRequest>({
    node: a.node,
    service: 'hypervisor',
    types: ['system'],
    registry: a.registry,
    driver: a.driver,
    reconcile,
    statsMs: a.statsMs ?? 5000,
    resyncMs: a.resyncMs ?? 1000,
    extra: (ctx, msg, view) => {
      switch (msg.type) {
        case 'hv-pause': {
          const { id, paused, replyTo } = msg;
          ctx.pipeToSelf(a.driver.pause(id, paused), (r) => ({ type: 'hv-pause-done', id, paused, replyTo, error: r.ok ? undefined : { message: r.error.message, permanent: r.error instanceof DriverError && r.error.permanent } }));
          return;
        }
        case 'hv-pause-done':
          if (msg.error) ctx.reply(msg.replyTo, { ok: false, code: msg.error.permanent ? 'unsupported' : 'failed', message: msg.error.message });
          else ctx.reply(msg.replyTo, { ok: true, id: msg.id, paused: msg.paused });
          view.kick();
          return;
        case 'hv-logs':
          ctx.reply(msg.replyTo, { ok: true, id: msg.id, ...a.driver.logs(msg.id) });
          return;
        case 'hv-attach':
          if (msg.attachment) a.driver.attachments.set(msg.id, msg.attachment);
          else a.driver.attachments.delete(msg.id);
          view.kick();
          return;
        case 'hv-share':
          if (msg.path !== undefined) a.driver.shares.set(msg.share, msg.path);
          else a.driver.shares.delete(msg.share);
          view.kick();
          return;
      }
    },
  });
}
