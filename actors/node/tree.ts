// The node's supervision tree — the same in a real node and in a simulated
// one: the CDB, then the Monitor that reads from it, then the node agent,
// then the reconciling services whose drivers the node was given (Storage,
// the Hypervisor, Network),
// under a rest_for_one supervisor (a CDB restart restarts what follows it).
// The node hands in the ports (real or simulated) and its registry; each
// service it starts is registered there under its typed key.
import { supervisor, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { NodePorts } from '../../runtime/ports/ports.ts';
import type { RaftGroupSettings } from '../../runtime/raft-host/index.ts';
import { registerMsg, type RegistryMsg, type ServiceKey } from '../../runtime/registry/registry.ts';
import { CDB, type CdbMsg } from '../cdb/client.ts';
import { cdbService } from '../cdb/service.ts';
import { MONITOR, type MonitorMsg } from '../monitor/client.ts';
import { monitorService } from '../monitor/service.ts';
import { NETWORK, type NetworkMsg } from '../network/client.ts';
import type { NetAction, NetObserved } from '../network/reconcile.ts';
import { networkService } from '../network/service.ts';
import type { Capabilities, Driver } from '../reconciler/contract.ts';
import { STORAGE, type StorageMsg } from '../storage/client.ts';
import type { StorageAction, StorageObserved } from '../storage/reconcile.ts';
import { storageService } from '../storage/service.ts';
import { HYPERVISOR, type HypervisorDriver, type HypervisorMsg } from '../hypervisor/client.ts';
import { hypervisorService } from '../hypervisor/service.ts';
import { nodeAgent } from './agent.ts';

/** What the tree needs to know about its node (plain data). */
export interface NodeSpec {
  name: string;
  /** host:port peers reach it at (the node object's address). */
  address: string;
  /** Founding voters of the node's Raft groups ([] for a node that joins later). */
  voters: string[];
  raft: RaftGroupSettings;
  meta: { publishMs: number; staleAfterMs: number };
  monitor: { intervalMs: number };
  agent: { reportMs: number };
  /** The node's data-plane (underlay) address, written into its node object (absent: none). */
  dataAddress?: string;
}

/** The drivers of the node's reconciling services (Linux ones on a real node, simulated ones in `acp sim`; absent: the service does not run). */
export interface NodeDrivers {
  storage?: Driver<StorageObserved, StorageAction>;
  hypervisor?: HypervisorDriver;
  network?: Driver<NetObserved, NetAction>;
}

export function nodeTree(spec: NodeSpec, ports: NodePorts, registry: ActorRef<RegistryMsg>, drivers: NodeDrivers = {}): Behavior<unknown> {
  const register =
    <M>(key: ServiceKey<M>) =>
    (ref: ActorRef<unknown>) =>
      registry.tell(registerMsg(key, ref as ActorRef<M>));
  // The node object's meta carries what the machine can do, per service.
  const capabilities: Record<string, () => Promise<Capabilities>> = {};
  if (drivers.network) capabilities.network = () => drivers.network!.capabilities();
  if (drivers.storage) capabilities.storage = () => drivers.storage!.capabilities();
  if (drivers.hypervisor) capabilities.hypervisor = () => drivers.hypervisor!.capabilities();
  return supervisor({ kind: 'rest_for_one', intensity: 5, periodMs: 30_000 }, [
    {
      id: 'cdb',
      behavior: cdbService({ node: spec.name, voters: spec.voters, raft: spec.raft, meta: spec.meta, ports }),
      shutdownMs: 5000,
      mailbox: { capacity: 100_000 },
      onStart: register<CdbMsg>(CDB),
    },
    {
      id: 'monitor',
      behavior: monitorService({ node: spec.name, voters: spec.voters, raft: spec.raft, intervalMs: spec.monitor.intervalMs, ports, registry }),
      shutdownMs: 2000,
      onStart: register<MonitorMsg>(MONITOR),
    },
    {
      id: 'agent',
      behavior: nodeAgent({ node: spec.name, address: spec.address, reportMs: spec.agent.reportMs, host: ports.host, registry, capabilities, ...(spec.dataAddress ? { dataAddress: spec.dataAddress } : {}) }),
      shutdownMs: 1000,
    },
    ...(drivers.storage ? [{ id: 'storage', behavior: storageService({ node: spec.name, registry, driver: drivers.storage }), shutdownMs: 2000, onStart: register<StorageMsg>(STORAGE) }] : []),
    ...(drivers.hypervisor
      ? [{ id: 'hypervisor', behavior: hypervisorService({ node: spec.name, registry, driver: drivers.hypervisor }), shutdownMs: 2000, onStart: register<HypervisorMsg>(HYPERVISOR) }]
      : []),
    ...(drivers.network
      ? [{ id: 'network', behavior: networkService({ node: spec.name, registry, driver: drivers.network }), shutdownMs: 2000, onStart: register<NetworkMsg>(NETWORK) }]
      : []),
  ]) as Behavior<unknown>;
}
