// The node agent: the node's own voice in the CDB. Once the CDB can take
// writes it makes sure this node and the services the node started exist as
// objects (the node registers what it started; the services do not), and it
// reports the node's meta and stats every interval.
import { receive, setup, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { HostMetrics } from '../../runtime/ports/ports.ts';
import { listed, subscribeMsg, type Listing, type RegistryMsg } from '../../runtime/registry/registry.ts';
import { CDB, objectKey, report, request, type ApiReply, type CdbMsg, type ObjectDef } from '../cdb/client.ts';

export interface AgentArgs {
  node: string;
  address: string;
  reportMs: number;
  host: HostMetrics;
  registry: ActorRef<RegistryMsg>;
}

type Msg = Listing | { type: 'report' } | { type: 'register' } | { type: 'registered'; ok: boolean };

export function nodeAgent(a: AgentArgs): Behavior<Msg> {
  return setup<Msg>((ctx) => {
    let cdb: ActorRef<CdbMsg> | undefined;
    let registered = false;
    let pending = 0;
    let failed = false;
    a.registry.tell(subscribeMsg(CDB, ctx.self as unknown as ActorRef<Listing>));
    ctx.timers.startPeriodic('report', { type: 'report' }, a.reportMs);
    const defs: ObjectDef[] = [
      { type: 'node', id: a.node, spec: { name: a.node, address: a.address, roles: ['cdb', 'monitor', 'management'] } } as ObjectDef,
      { type: 'service', subtype: 'cdb', id: `${a.node}-cdb`, spec: { node: a.node, raftGroup: 'cdb' } } as ObjectDef,
      { type: 'service', subtype: 'monitor', id: `${a.node}-monitor`, spec: { node: a.node } } as ObjectDef,
    ];
    return receive<Msg>((c, msg) => {
      switch (msg.type) {
        case 'listing':
          cdb = listed(CDB, msg);
          if (cdb && !registered) c.self.tell({ type: 'register' });
          return;
        case 'register':
          if (!cdb || registered || pending > 0) return;
          failed = false;
          pending = defs.length;
          for (const object of defs) {
            // Create-only: an object someone already wrote (an earlier start, an operator) is kept.
            c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'put', object, expectRevision: 0 }, replyTo), 6000, (r) => ({
              type: 'registered',
              ok: r.ok && (r.value.ok || r.value.code === 'conflict'),
            }));
          }
          return;
        case 'registered':
          if (!msg.ok) failed = true;
          if (--pending > 0) return;
          if (failed) c.timers.startSingle('register', { type: 'register' }, 500);
          else registered = true;
          return;
        case 'report': {
          if (!cdb) return;
          const now = Math.floor(c.now());
          const h = a.host;
          cdb.tell(
            report(objectKey('node', a.node), {
              meta: { state: 'up', updatedBy: { node: a.node, service: 'framework' }, updatedAt: now },
              stats: { cpu: Math.round(h.cpuPct() * 10) / 10, rssBytes: h.rssBytes(), memUsedPct: Math.round(h.memUsedPct() * 10) / 10, load1: h.load1() },
            }),
          );
          return;
        }
      }
    });
  });
}
