// The Monitor's placement decision (issue 13, point 7), pure: (objects, views, which nodes are
// down, the primary's term) → the system puts to make and the systems that cannot be placed.
//
// A system needs placing when it has a kind, no `node` pin and no valid placement (absent, or on
// a node object that no longer exists). The candidates are the cluster's node objects: up unless
// health counts them down; capacity from the node's stats (capacityVcpus, capacityMemoryMb, which
// the node agent reports; a node without them takes nothing new); used = the systems already
// assigned to it (pin or placement); networks = the network objects listing it; shares = every
// share not exported `local`, and the local shares of pools whose devices are on the node.
//
// Each put is the system with `placement: { node, term, reason }`, to be written with
// expectRevision = the system's revision: a concurrent change (another primary's placement, an
// edit) makes it fail and the next evaluation decides again from what is then stored.
import { objectKey } from '../cdb/schema.ts';
import type { CdbObject, ObjectKey, SystemSpec } from '../cdb/schema.ts';
import type { ObjectView } from '../cdb/meta.ts';
import { place, type PlacementNode, type PlacementOptions, type PlacementRequest } from '../hypervisor/placement.ts';

export interface PlacementPut {
  id: string;
  expectRevision: number;
  object: { type: 'system'; id: string; spec: SystemSpec };
}

export interface Unplaced {
  id: string;
  reason: string;
}

export interface PlacementPlan {
  puts: PlacementPut[];
  unplaced: Unplaced[];
}

export interface PlacementInput {
  objects: readonly CdbObject[];
  views: ReadonlyMap<ObjectKey, ObjectView> | Readonly<Record<ObjectKey, ObjectView>>;
  /** nodes health counts down (HealthReport.nodes.down[].node) */
  down: readonly string[];
  /** the Monitor primary's term, written into each placement */
  term: number;
}

/** The placement field holds at most this many characters of reason (schema). */
const REASON_MAX = 512;

export function needsPlacement(spec: SystemSpec, nodes: ReadonlySet<string>): boolean {
  if (spec.kind === undefined || spec.node !== undefined) return false;
  return spec.placement === undefined || !nodes.has(spec.placement.node);
}

export function planPlacements(input: PlacementInput, opts: PlacementOptions = {}): PlacementPlan {
  const viewOf = (key: ObjectKey): ObjectView | undefined =>
    input.views instanceof Map ? input.views.get(key) : (input.views as Readonly<Record<ObjectKey, ObjectView>>)[key];
  const nodes = input.objects.filter((o) => o.type === 'node');
  const names = new Set(nodes.map((o) => o.id));
  const down = new Set(input.down);
  const systems = input.objects.filter((o) => o.type === 'system');

  const used = new Map<string, { vcpus: number; memoryMb: number }>();
  const networks = new Map<string, Set<string>>();
  const shares = new Map<string, Set<string>>();
  const deviceNode = new Map<string, string>();
  const poolNodes = new Map<string, Set<string>>();
  const anywhere = new Set<string>();
  for (const n of names) {
    used.set(n, { vcpus: 0, memoryMb: 0 });
    networks.set(n, new Set());
    shares.set(n, new Set());
  }
  for (const o of input.objects) {
    if (o.type === 'storage' && o.subtype === 'device') deviceNode.set(o.id, o.spec.node);
    if (o.type === 'network' && (o.subtype === 'vlan-bridge' || o.subtype === 'vpp-vlan')) for (const n of o.spec.nodes) networks.get(n)?.add(o.id);
  }
  for (const o of input.objects) if (o.type === 'storage' && o.subtype === 'pool') poolNodes.set(o.id, new Set(o.spec.devices.map((d) => deviceNode.get(d)).filter((n): n is string => n !== undefined)));
  for (const o of input.objects) {
    if (o.type !== 'storage' || o.subtype !== 'share') continue;
    if (o.spec.protocol !== 'local') anywhere.add(o.id);
    else for (const n of poolNodes.get(o.spec.pool) ?? []) shares.get(n)?.add(o.id);
  }
  for (const o of systems) {
    if (o.type !== 'system') continue;
    const at = o.spec.node ?? o.spec.placement?.node;
    const u = at === undefined ? undefined : used.get(at);
    if (!u) continue;
    u.vcpus += o.spec.vcpus;
    u.memoryMb += o.spec.memoryMb;
  }

  const candidates: PlacementNode[] = nodes.map((o) => {
    const stats = viewOf(objectKey('node', o.id))?.stats ?? {};
    const vcpus = stats['capacityVcpus'];
    const memoryMb = stats['capacityMemoryMb'];
    const known = vcpus !== undefined && memoryMb !== undefined;
    return {
      name: o.id,
      roles: o.type === 'node' ? o.spec.roles : [],
      up: !down.has(o.id),
      ...(known ? {} : { unavailable: 'capacity not reported yet' }),
      capacity: { vcpus: vcpus ?? 0, memoryMb: memoryMb ?? 0 },
      used: used.get(o.id)!,
      networks: new Set([...networks.get(o.id)!]),
      shares: new Set([...shares.get(o.id)!, ...anywhere]),
    };
  });

  const requests: PlacementRequest[] = [];
  const revision = new Map<string, CdbObject>();
  for (const o of systems) {
    if (o.type !== 'system' || !needsPlacement(o.spec, names)) continue;
    requests.push({ id: o.id, spec: o.spec });
    revision.set(o.id, o);
  }
  const puts: PlacementPut[] = [];
  const unplaced: Unplaced[] = [];
  for (const r of place(requests, candidates, opts)) {
    if (r.node === undefined) {
      unplaced.push({ id: r.id, reason: r.reason });
      continue;
    }
    const o = revision.get(r.id)!;
    const spec = o.spec as SystemSpec;
    // A placement written in a later term than ours is not ours to replace.
    if (spec.placement !== undefined && spec.placement.term > input.term) continue;
    const reason = r.reason.length > REASON_MAX ? `${r.reason.slice(0, REASON_MAX - 1)}…` : r.reason;
    puts.push({ id: r.id, expectRevision: o.revision, object: { type: 'system', id: r.id, spec: { ...spec, placement: { node: r.node, term: input.term, reason } } } });
  }
  return { puts, unplaced };
}
