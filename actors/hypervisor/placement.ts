// Placement (issue 13, point 7), pure: unplaced systems × the cluster's nodes → a node for each
// (or none) with the reason, for humans, that goes into the system's meta. The Monitor primary
// runs it and writes the results (fenced by its term); nothing here reads a clock or the CDB.
//
// A node is a candidate for a system when it is up, not cordoned, has the `compute` role,
// enough free vCPUs and memory (capacity minus what the systems already on it reserve, times
// the overcommit ratio for vCPUs), reaches every network the system is on, and every share its
// mounts and disks use. Among candidates the one with the most free memory after placing wins
// (spread), then the most free vCPUs, then the name (determinism). Systems are placed one by
// one, largest memory first (then id), each decision reserving its resources for the next.
import type { NodeRole, SystemSpec } from '../cdb/schema.ts';

export interface PlacementNode {
  name: string;
  roles: readonly NodeRole[];
  /** alive as the Monitor sees it (heartbeats) */
  up: boolean;
  /** drained or cordoned: keeps what runs, takes nothing new */
  cordoned?: boolean;
  /** why it takes nothing new though up (e.g. its capacity is not known yet) */
  unavailable?: string;
  capacity: { vcpus: number; memoryMb: number };
  /** what the systems already placed on it reserve */
  used: { vcpus: number; memoryMb: number };
  /** network ids present on the node */
  networks: ReadonlySet<string>;
  /** share ids the node can reach */
  shares: ReadonlySet<string>;
}

export interface PlacementRequest {
  id: string;
  spec: SystemSpec;
  /** nodes it must not go to (the node it failed on, a fenced node during HA restart) */
  avoid?: readonly string[];
}

export type PlacementResult = { id: string; node: string; reason: string } | { id: string; node: undefined; reason: string };

export interface PlacementOptions {
  /** vCPUs may be promised this many times over (default 1: none) */
  cpuOvercommit?: number;
}

function sharesOf(spec: SystemSpec): string[] {
  return [...new Set([...(spec.container?.mounts ?? []).map((m) => m.share), ...(spec.disks ?? []).map((d) => d.share)])];
}

/** Why `n` cannot take the system, or undefined when it can. */
function unfit(n: PlacementNode, r: PlacementRequest, free: { vcpus: number; memoryMb: number }): string | undefined {
  if (!n.up) return 'down';
  if (n.cordoned) return 'cordoned';
  if (n.unavailable !== undefined) return n.unavailable;
  if (r.avoid?.includes(n.name)) return 'avoided';
  if (!n.roles.includes('compute')) return 'no compute role';
  if (free.vcpus < r.spec.vcpus) return `${free.vcpus} free vCPUs < ${r.spec.vcpus}`;
  if (free.memoryMb < r.spec.memoryMb) return `${free.memoryMb} MiB free < ${r.spec.memoryMb}`;
  const nets = (r.spec.networks ?? []).filter((x) => !n.networks.has(x));
  if (nets.length > 0) return `no network ${nets.join(', ')}`;
  const shares = sharesOf(r.spec).filter((x) => !n.shares.has(x));
  if (shares.length > 0) return `no access to share ${shares.join(', ')}`;
  return undefined;
}

/** Place `requests` on `nodes`. Deterministic: the same input always gives the same output. */
export function place(requests: readonly PlacementRequest[], nodes: readonly PlacementNode[], opts: PlacementOptions = {}): PlacementResult[] {
  const over = opts.cpuOvercommit ?? 1;
  const used = new Map(nodes.map((n) => [n.name, { ...n.used }]));
  const byName = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const order = [...requests].sort((a, b) => b.spec.memoryMb - a.spec.memoryMb || b.spec.vcpus - a.spec.vcpus || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = new Map<string, PlacementResult>();
  for (const r of order) {
    const why: string[] = [];
    let best: { n: PlacementNode; mem: number; cpu: number } | undefined;
    let candidates = 0;
    for (const n of byName) {
      const u = used.get(n.name)!;
      const free = { vcpus: Math.floor(n.capacity.vcpus * over) - u.vcpus, memoryMb: n.capacity.memoryMb - u.memoryMb };
      const bad = unfit(n, r, free);
      if (bad !== undefined) {
        why.push(`${n.name}: ${bad}`);
        continue;
      }
      candidates++;
      const mem = free.memoryMb - r.spec.memoryMb;
      const cpu = free.vcpus - r.spec.vcpus;
      if (best === undefined || mem > best.mem || (mem === best.mem && cpu > best.cpu)) best = { n, mem, cpu };
    }
    if (best === undefined) {
      out.set(r.id, { id: r.id, node: undefined, reason: nodes.length === 0 ? 'no nodes' : `no node fits: ${why.join('; ')}` });
      continue;
    }
    const u = used.get(best.n.name)!;
    u.vcpus += r.spec.vcpus;
    u.memoryMb += r.spec.memoryMb;
    const nets = r.spec.networks ?? [];
    out.set(r.id, {
      id: r.id,
      node: best.n.name,
      reason:
        `${best.n.name}: compute, ${best.cpu + r.spec.vcpus} free vCPUs >= ${r.spec.vcpus}, ${best.mem + r.spec.memoryMb} MiB free >= ${r.spec.memoryMb}` +
        (nets.length > 0 ? `, networks ${nets.join(', ')}` : '') +
        (candidates > 1 ? `; most free memory of ${candidates} candidates` : '; the only candidate') +
        (why.length > 0 ? ` (${why.join('; ')})` : ''),
    });
  }
  return requests.map((r) => out.get(r.id)!);
}
