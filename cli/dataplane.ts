// A local cluster's data plane, as `acp up` sets it up and `acp down --purge`
// removes it (actors/network/underlay.ts does the work): run as root, each
// node gets a network namespace of its own, joined by an underlay bridge, and
// its config's `network` section points its Network service there. Without
// root there is none, and networks are `unsupported` on every node (the rest
// of the cluster works as before).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './errors.ts';
import { writeJsonAtomic, type ClusterFile } from './cluster-dir.ts';

export interface DataPlane {
  id: string;
  namespaces: string[];
  nodes: Record<string, { netns: string; address: string }>;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Create (or complete) the namespaces and write each node's `network` config. */
export async function setUpDataPlane(dir: string, cluster: ClusterFile): Promise<DataPlane> {
  const u = await import('../actors/network/underlay.ts');
  const plan = u.underlayPlan(u.clusterNetId(dir), cluster.nodes.map((n) => n.name));
  try {
    await u.ensureUnderlay(plan);
  } catch (e) {
    throw new CliError(`cannot set up the cluster's data plane: ${(e as Error).message}`);
  }
  const dp: DataPlane = { id: plan.id, namespaces: [plan.netns, ...plan.nodes.map((n) => n.netns)], nodes: {} };
  for (const n of plan.nodes) {
    dp.nodes[n.name] = { netns: n.netns, address: n.address };
    const node = cluster.nodes.find((x) => x.name === n.name)!;
    const cfg = JSON.parse(readFileSync(node.config, 'utf8')) as Record<string, unknown>;
    const network = { ...((cfg.network as Record<string, unknown> | undefined) ?? {}), netns: n.netns, underlay: { dev: n.dev, address: n.address } };
    if (JSON.stringify(cfg.network) !== JSON.stringify(network)) writeJsonAtomic(node.config, { ...cfg, network });
  }
  writeJsonAtomic(join(dir, 'dataplane.json'), { v: 1, ...dp });
  return dp;
}

/**
 * Remove what the cluster created on this machine for its networks: its namespaces (and with them
 * every bridge, segment and veth end its nodes made in them) and the nodes' ownership records.
 * The cluster's data (objects, Raft logs) stays: started again, the nodes re-create their networks.
 */
export async function purgeDataPlane(dir: string, cluster: ClusterFile | undefined): Promise<string[]> {
  const u = await import('../actors/network/underlay.ts');
  const id = u.clusterNetId(dir);
  const removed: string[] = [];
  const names = new Set(u.clusterNamespaces(id));
  if (existsSync(join(dir, 'dataplane.json'))) {
    try {
      for (const ns of (JSON.parse(readFileSync(join(dir, 'dataplane.json'), 'utf8')) as DataPlane).namespaces ?? []) names.add(ns);
    } catch {
      /* garbled: the names derived from the directory still go */
    }
  }
  if (names.size > 0 && !isRoot()) throw new CliError(`removing the cluster's network namespaces (${[...names].join(', ')}) needs root`);
  for (const ns of [...names].sort()) {
    if (!u.netnsExists(ns)) continue;
    try {
      await u.removeUnderlay({ id, netns: ns, nodes: [] });
      removed.push(ns);
    } catch (e) {
      throw new CliError(`cannot remove network namespace ${ns}: ${(e as Error).message}`);
    }
  }
  for (const n of cluster?.nodes ?? []) {
    let dataDir = join(n.dir, 'data');
    try {
      dataDir = resolve(dirname(n.config), (JSON.parse(readFileSync(n.config, 'utf8')) as { dataDir: string }).dataDir);
    } catch {
      /* the default layout */
    }
    const rec = join(dataDir, 'network', 'owned.json');
    if (existsSync(rec)) {
      rmSync(rec, { force: true });
      removed.push(rec);
    }
  }
  rmSync(join(dir, 'dataplane.json'), { force: true });
  return removed;
}
