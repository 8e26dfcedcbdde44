// The Network service: the reconciling shell (actors/reconciler/service.ts)
// around the Network reconciler and a driver (Linux, or its simulated twin),
// plus the typed attach/detach requests of workloads.
//
// It watches network/* (vlan-bridge, trunk, vpp-vlan, lease) and node objects
// (their data-plane addresses are the VXLAN flood lists). Attach writes a
// lease — an address of the network's pool — to the CDB create-only
// (expectRevision 0), so two nodes racing for an address cannot both get it:
// the loser takes the next free one. The lease is desired state like any
// other: the reconciler realises it as a veth pair, and the request is
// answered when its condition is ready. Detach deletes the lease; the
// reconciler removes the veth, and the request is answered when it is gone.
import { setup, type ActorContext, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { RegistryMsg } from '../../runtime/registry/registry.ts';
import { request, type ApiReply, type CdbMsg, type CdbObject } from '../cdb/client.ts';
import type { LeaseSpec, VlanBridgeSpec } from '../cdb/schema.ts';
import type { Driver } from '../reconciler/contract.ts';
import { reconcilingService, type ReconcilerMsg, type ReconcilerView } from '../reconciler/service.ts';
import type { AttachReply, DetachReply, NetworkMsg, NetworkRequest } from './client.ts';
import { inSubnet, leaseId, poolAddresses, reconcileNetworkBatched, subnetOf, vethName, type NetAction, type NetObserved } from './reconcile.ts';

export interface NetworkServiceArgs {
  node: string;
  registry: ActorRef<RegistryMsg>;
  driver: Driver<NetObserved, NetAction>;
  statsMs?: number;
  resyncMs?: number;
}

type Internal =
  | { type: 'net-put'; id: number; address: string; r: { ok: true; value: ApiReply } | { ok: false; error: Error } }
  | { type: 'net-deleted'; id: number; r: { ok: true; value: ApiReply } | { ok: false; error: Error } }
  | { type: 'net-check' }
  | { type: 'net-retry'; id: number }
  | { type: 'net-ignore' };

type X = NetworkRequest | Internal;
type Attach = Extract<NetworkRequest, { type: 'attach' }>;
type Detach = Extract<NetworkRequest, { type: 'detach' }>;

interface Attaching {
  kind: 'attach';
  id: number;
  req: Attach;
  ifname: string;
  deadline: number;
  tried: Set<string>;
  /** The lease's key once written (or found). */
  lease?: string;
  /** Whether this request wrote the lease (it deletes it again when realising it fails). */
  created: boolean;
  /** Exactly-once writes: this request's CDB session, and the put in flight (retried as is while the CDB has no leader). */
  client: string;
  seq: number;
  put?: { address: string; object: Record<string, unknown> };
}

interface Detaching {
  kind: 'detach';
  id: number;
  req: Detach;
  deadline: number;
  keys: string[];
  /** Deletions still to be answered by the CDB. */
  deleting: number;
  failed?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const CHECK_MS = 20;
const MAX_TRIES = 64;

export function networkService(a: NetworkServiceArgs): Behavior<NetworkMsg> {
  return setup<NetworkMsg>((ctx) => {
    const pending = new Map<number, Attaching | Detaching>();
    let seq = 0;
    const inner = reconcilingService<NetObserved, NetAction, X>({
      node: a.node,
      service: 'network',
      types: ['network', 'node'],
      registry: a.registry,
      driver: a.driver,
      reconcile: reconcileNetworkBatched,
      statsMs: a.statsMs ?? 2000,
      resyncMs: a.resyncMs ?? 2000,
      extra: (c, msg, view) => handle(c, msg, view),
    });

    const leasesOf = (view: ReconcilerView<NetObserved>, network: string): Obj<LeaseSpec>[] => {
      const out: Obj<LeaseSpec>[] = [];
      for (const o of view.desired.values()) if (o.type === 'network' && o.subtype === 'lease' && (o.spec as LeaseSpec).network === network) out.push(o as Obj<LeaseSpec>);
      return out;
    };

    const finish = (c: ActorContext<ReconcilerMsg<X>>, p: Attaching | Detaching, reply: AttachReply | DetachReply): void => {
      pending.delete(p.id);
      c.reply(p.req.replyTo as never, reply as never);
      if (pending.size === 0) c.timers.cancel('net-check');
    };

    const watchPending = (c: ActorContext<ReconcilerMsg<X>>): void => {
      if (!c.timers.isActive('net-check')) c.timers.startPeriodic('net-check', { type: 'net-check' }, CHECK_MS);
    };

    /** Write the next candidate lease, or answer why there is none. */
    const lease = (c: ActorContext<ReconcilerMsg<X>>, p: Attaching, view: ReconcilerView<NetObserved>, spec: VlanBridgeSpec): void => {
      const cdb = view.cdb;
      if (!cdb) return finish(c, p, { ok: false, code: 'unavailable', message: 'the CDB is not reachable from the Network service yet' });
      const used = new Set(leasesOf(view, p.req.network).map((l) => l.spec.address));
      let address: string | undefined;
      if (p.req.address !== undefined) {
        if (p.tried.has(p.req.address) || used.has(p.req.address)) return finish(c, p, { ok: false, code: 'conflict', message: `address ${p.req.address} is leased already on network ${p.req.network}` });
        address = p.req.address;
      } else {
        if (p.tried.size >= MAX_TRIES) return finish(c, p, { ok: false, code: 'exhausted', message: `no free address on network ${p.req.network} after ${MAX_TRIES} tries` });
        for (const x of poolAddresses(spec)) {
          if (!used.has(x) && !p.tried.has(x)) {
            address = x;
            break;
          }
        }
        if (address === undefined) return finish(c, p, { ok: false, code: 'exhausted', message: `network ${p.req.network}'s pool ${subnetOf(spec).cidr} has no free address` });
      }
      p.tried.add(address);
      const object = {
        type: 'network',
        subtype: 'lease',
        id: leaseId(p.req.network, address),
        spec: { network: p.req.network, node: a.node, netns: p.req.netns, address, ...(p.ifname !== 'eth0' ? { ifname: p.ifname } : {}) },
      };
      p.seq++;
      p.put = { address, object };
      sendPut(c, p, cdb);
    };

    /** The put in flight, with its (client, seq): a retry of one that committed answers as it did, not `conflict`. */
    const sendPut = (c: ActorContext<ReconcilerMsg<X>>, p: Attaching, cdb: ActorRef<CdbMsg>): void => {
      const { address, object } = p.put!;
      const id = p.id;
      c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'put', object, expectRevision: 0, client: p.client, seq: p.seq }, replyTo), 6000, (r) => ({ type: 'net-put', id, address, r }));
    };

    const handle = (c: ActorContext<ReconcilerMsg<X>>, msg: X, view: ReconcilerView<NetObserved>): void => {
      const now = c.now();
      switch (msg.type) {
        case 'attach': {
          const ifname = msg.ifname ?? 'eth0';
          const id = ++seq;
          const client = `${a.node}.network.${Math.floor(c.rng.next() * 2 ** 32).toString(16)}.${id}`;
          const p: Attaching = { kind: 'attach', id, req: msg, ifname, deadline: now + (msg.timeoutMs ?? DEFAULT_TIMEOUT_MS), tried: new Set(), created: false, client, seq: 0 };
          pending.set(p.id, p);
          const net = view.desired.get(`network/${msg.network}`);
          if (!net || net.subtype !== 'vlan-bridge') return finish(c, p, { ok: false, code: 'not-found', message: `network/${msg.network} is not a vlan-bridge network in the CDB` });
          const spec = net.spec as VlanBridgeSpec;
          if (!spec.nodes.includes(a.node)) return finish(c, p, { ok: false, code: 'invalid', message: `network/${msg.network} is not on node ${a.node} (its nodes: ${spec.nodes.join(', ')})` });
          if (msg.address !== undefined && !inSubnet(msg.address, spec)) return finish(c, p, { ok: false, code: 'invalid', message: `address ${msg.address} is outside network/${msg.network}'s pool ${subnetOf(spec).cidr}` });
          const mine = leasesOf(view, msg.network).find((l) => l.spec.node === a.node && l.spec.netns === msg.netns && (l.spec.ifname ?? 'eth0') === ifname);
          if (mine) {
            p.lease = `network/${mine.id}`;
            watchPending(c);
            return;
          }
          return lease(c, p, view, spec);
        }
        case 'net-put': {
          const p = pending.get(msg.id);
          if (!p || p.kind !== 'attach') return;
          const r = msg.r;
          if (r.ok && r.value.ok) {
            p.lease = `network/${leaseId(p.req.network, msg.address)}`;
            p.created = true;
            watchPending(c);
            return;
          }
          const net = view.desired.get(`network/${p.req.network}`);
          if (r.ok && !r.value.ok && r.value.code === 'conflict' && net) return lease(c, p, view, net.spec as VlanBridgeSpec); // lost a race for it: the next one
          const why = r.ok ? (r.value as { message?: string }).message ?? 'refused' : r.error.message;
          // No leader for a moment (an election), or no answer: the same put again, until the deadline.
          const transient = !r.ok || ['unavailable', 'not-leader', 'indeterminate'].includes((r.value as { code?: string }).code ?? '');
          if (transient && now + 200 < p.deadline) {
            c.timers.startSingle(`net-retry-${p.id}`, { type: 'net-retry', id: p.id }, 200);
            return;
          }
          return finish(c, p, { ok: false, code: 'unavailable', message: `writing the lease failed: ${why}` });
        }
        case 'net-retry': {
          const p = pending.get(msg.id);
          if (!p || p.kind !== 'attach' || !p.put) return;
          if (!view.cdb) return finish(c, p, { ok: false, code: 'unavailable', message: 'the CDB is not reachable from the Network service' });
          sendPut(c, p, view.cdb);
          return;
        }
        case 'detach': {
          const p: Detaching = { kind: 'detach', id: ++seq, req: msg, deadline: now + (msg.timeoutMs ?? DEFAULT_TIMEOUT_MS), keys: [], deleting: 0 };
          pending.set(p.id, p);
          const cdb = view.cdb;
          if (!cdb) return finish(c, p, { ok: false, code: 'unavailable', message: 'the CDB is not reachable from the Network service yet' });
          const mine = leasesOf(view, msg.network).filter((l) => l.spec.node === a.node && l.spec.netns === msg.netns && (msg.ifname === undefined || (l.spec.ifname ?? 'eth0') === msg.ifname));
          if (mine.length === 0) return finish(c, p, { ok: true, detached: [] });
          for (const l of mine) {
            p.keys.push(`network/${l.id}`);
            p.deleting++;
            const id = p.id;
            c.ask<CdbMsg, ApiReply>(cdb, (replyTo) => request({ op: 'delete', type: 'network', id: l.id, expectRevision: l.revision }, replyTo), 6000, (r) => ({ type: 'net-deleted', id, r }));
          }
          return;
        }
        case 'net-deleted': {
          const p = pending.get(msg.id);
          if (!p || p.kind !== 'detach') return;
          p.deleting--;
          const r = msg.r;
          if (!(r.ok && (r.value.ok || (r.value as { code?: string }).code === 'not-found'))) p.failed = r.ok ? ((r.value as { message?: string }).message ?? 'refused') : r.error.message;
          if (p.deleting > 0) return;
          if (p.failed) return finish(c, p, { ok: false, code: 'unavailable', message: `deleting the lease failed: ${p.failed}` });
          watchPending(c);
          return;
        }
        case 'net-ignore':
          return;
        case 'net-check': {
          for (const p of [...pending.values()]) {
            if (p.kind === 'attach') {
              if (p.lease === undefined) continue;
              const cond = view.conditions.get(p.lease);
              if (cond?.state === 'ready') {
                const o = view.desired.get(p.lease) as Obj<LeaseSpec> | undefined;
                const net = o ? (view.desired.get(`network/${o.spec.network}`) as Obj<VlanBridgeSpec> | undefined) : undefined;
                if (o && net) {
                  finish(c, p, { ok: true, lease: p.lease, address: `${o.spec.address}/${subnetOf(net.spec).len}`, ifname: p.ifname, veth: vethName(view.observed?.prefix ?? 'acp', o.id), bridge: net.spec.bridge });
                  continue;
                }
              }
              if (cond && (cond.state === 'failed' || cond.state === 'unsupported')) {
                if (p.created && view.cdb) {
                  const o = view.desired.get(p.lease);
                  if (o) c.ask<CdbMsg, ApiReply>(view.cdb, (replyTo) => request({ op: 'delete', type: 'network', id: o.id, expectRevision: o.revision }, replyTo), 6000, () => ({ type: 'net-ignore' }));
                }
                finish(c, p, { ok: false, code: 'failed', message: cond.reason ?? cond.state });
                continue;
              }
            } else if (p.deleting === 0) {
              const left = (view.observed?.links ?? []).filter((l) => p.keys.includes(l.key));
              if (left.length === 0 && p.keys.every((k) => !view.desired.has(k))) {
                finish(c, p, { ok: true, detached: p.keys });
                continue;
              }
            }
            if (now >= p.deadline) finish(c, p, { ok: false, code: 'timeout', message: `${p.kind} did not complete within ${p.req.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms${p.kind === 'attach' && p.lease ? ` (${p.lease}: ${view.conditions.get(p.lease)?.reason ?? 'not realised yet'})` : ''}` });
          }
          return;
        }
      }
    };

    return inner.setup!(ctx as never) as unknown as Behavior<NetworkMsg>;
  });
}

type Obj<S> = CdbObject & { spec: S };
