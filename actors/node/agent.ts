// The node agent: the node's own voice in the CDB. Once the CDB can take
// writes it makes sure this node and the services the node started exist as
// objects (the node registers what it started; the services do not), and it
// reports the node's meta and stats every interval. The meta's info carries
// what the machine can do (`cap.vxlan: true`, or the reason a capability is
// missing: `cap.vlan8021q: "the kernel has no 802.1Q …"`), probed once by the
// services' drivers.
import { receive, setup, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { HostMetrics } from '../../runtime/ports/ports.ts';
import { listed, subscribeMsg, type Listing, type RegistryMsg } from '../../runtime/registry/registry.ts';
import { CDB, objectKey, report, request, type ApiReply, type CdbMsg, type CdbObject, type ObjectDef } from '../cdb/client.ts';
import type { Capabilities } from '../reconciler/contract.ts';

export interface AgentArgs {
  node: string;
  address: string;
  reportMs: number;
  host: HostMetrics;
  registry: ActorRef<RegistryMsg>;
  /** Capability probes by service; their answers go into the node's meta info. */
  capabilities?: Record<string, () => Promise<Capabilities>>;
  /** The node's data-plane address (its node object's spec.dataAddress). */
  dataAddress?: string;
}

type Msg =
  | Listing
  | { type: 'report' }
  | { type: 'register' }
  | { type: 'registered'; ok: boolean; nodeConflict?: boolean }
  | { type: 'node-got'; object: CdbObject | undefined }
  | { type: 'caps'; service: string; r: { ok: true; value: Capabilities } | { ok: false; error: Error } };

/** Capabilities as meta info (what `acp capabilities` reads): `cap.NAME` → true, or the reason it is missing. */
export function capabilityInfo(service: string, caps: Capabilities): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const [name, c] of Object.entries(caps)) out[`cap.${name}`.slice(0, 64)] = c.ok ? true : c.reason.slice(0, 256);
  return out;
}

export function nodeAgent(a: AgentArgs): Behavior<Msg> {
  return setup<Msg>((ctx) => {
    let cdb: ActorRef<CdbMsg> | undefined;
    let registered = false;
    let pending = 0;
    let failed = false;
    a.registry.tell(subscribeMsg(CDB, ctx.self as unknown as ActorRef<Listing>));
    ctx.timers.startPeriodic('report', { type: 'report' }, a.reportMs);
    let info: Record<string, string | boolean> = {};
    for (const [service, probe] of Object.entries(a.capabilities ?? {})) ctx.pipeToSelf(probe(), (r) => ({ type: 'caps', service, r }));
    const nodeDef = { type: 'node', id: a.node, spec: { name: a.node, address: a.address, roles: ['cdb', 'monitor', 'management'], ...(a.dataAddress ? { dataAddress: a.dataAddress } : {}) } } as ObjectDef;
    const defs: ObjectDef[] = [
      nodeDef,
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
              nodeConflict: object === nodeDef && r.ok && !r.value.ok && r.value.code === 'conflict',
            }));
          }
          return;
        case 'registered':
          if (!msg.ok) failed = true;
          // The node object exists (an earlier start): its data-plane address must still be this node's.
          if (msg.nodeConflict && a.dataAddress && cdb) {
            c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'get', type: 'node', id: a.node }, replyTo), 6000, (r) => ({
              type: 'node-got',
              object: r.ok && r.value.ok ? (r.value.object as CdbObject | undefined) : undefined,
            }));
          }
          if (--pending > 0) return;
          if (failed) c.timers.startSingle('register', { type: 'register' }, 500);
          else registered = true;
          return;
        case 'node-got': {
          const o = msg.object;
          if (!cdb || !o || o.type !== 'node' || o.spec.dataAddress === a.dataAddress) return;
          const object = { type: 'node', id: o.id, spec: { ...o.spec, dataAddress: a.dataAddress } };
          c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'put', object, expectRevision: o.revision }, replyTo), 6000, () => ({ type: 'node-got', object: undefined }));
          return;
        }
        case 'caps':
          info = msg.r.ok ? { ...info, ...capabilityInfo(msg.service, msg.r.value) } : { ...info, [`cap.${msg.service}`]: `capability probe failed: ${msg.r.error.message}`.slice(0, 256) };
          c.self.tell({ type: 'report' });
          return;
        case 'report': {
          if (!cdb) return;
          const now = Math.floor(c.now());
          const h = a.host;
          cdb.tell(
            report(objectKey('node', a.node), {
              meta: { state: 'up', updatedBy: { node: a.node, service: 'framework' }, updatedAt: now, ...(Object.keys(info).length ? { info } : {}) },
              stats: { cpu: Math.round(h.cpuPct() * 10) / 10, rssBytes: h.rssBytes(), memUsedPct: Math.round(h.memUsedPct() * 10) / 10, load1: h.load1(), ...capacityStats(h) },
            }),
          );
          return;
        }
      }
    });
  });
}

/** The node's capacity as stats (capacityVcpus, capacityMemoryMb): what the Monitor's placement counts on. */
function capacityStats(h: HostMetrics): Record<string, number> {
  const c = h.capacity?.();
  return c ? { capacityVcpus: c.vcpus, capacityMemoryMb: c.memoryMb } : {};
}
