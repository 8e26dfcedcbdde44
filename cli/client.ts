// Talking to the nodes of the cluster in --dir over their control sockets.
import { loadApiKey } from '../runtime/net/pki.ts';
import { LocalApiError, LocalClient } from '../runtime/net/local-api.ts';
import { UsageError } from './errors.ts';
import { clusterDir, pkiDir, readClusterFile, type ClusterFile, type ClusterNode } from './cluster-dir.ts';

export interface Target {
  dir: string;
  cluster: ClusterFile;
  apiKey: string;
}

export function target(dirOpt: string | undefined, apiKeyOpt?: string): Target {
  const dir = clusterDir(dirOpt);
  const cluster = readClusterFile(dir);
  let apiKey = apiKeyOpt ?? process.env.ACP_API_KEY;
  if (!apiKey) {
    try {
      apiKey = loadApiKey(pkiDir(dir));
    } catch (e) {
      throw new UsageError(`cannot read the API key: ${(e as Error).message}`, 1);
    }
  }
  return { dir, cluster, apiKey };
}

/**
 * Call `method` on a node: the one named, or each node in turn until one
 * answers (following a not-leader hint when the reply carries one).
 */
export async function call(t: Target, methodName: string, params: unknown, o: { node?: string; timeoutMs?: number } = {}): Promise<unknown> {
  const nodes = o.node ? t.cluster.nodes.filter((n) => n.name === o.node) : t.cluster.nodes;
  if (nodes.length === 0) throw new UsageError(`no node named ${o.node} in ${t.dir}`);
  let lastErr: Error | undefined;
  const tried = new Set<string>();
  const queue: ClusterNode[] = [...nodes];
  while (queue.length) {
    const n = queue.shift()!;
    if (tried.has(n.name)) continue;
    tried.add(n.name);
    // Only a node we could not reach is skipped for the next one: once a request was sent, a
    // timeout or a dropped connection leaves its outcome unknown, and re-sending a write to
    // another node could apply it twice (or report a CAS that succeeded as a conflict).
    let client: LocalClient;
    try {
      client = await LocalClient.connect(n.socketDir, { apiKey: t.apiKey, timeoutMs: o.timeoutMs ?? 10_000 });
    } catch (e) {
      lastErr = e as Error;
      if (o.node) break;
      continue;
    }
    try {
      const r = await client.call(methodName, params, { timeoutMs: o.timeoutMs ?? 10_000 }).finally(() => client.close());
      const rr = r as { ok?: boolean; code?: string; leader?: string; message?: string };
      if (rr && rr.ok === false && (rr.code === 'not-leader' || rr.code === 'unavailable') && !o.node) {
        const lead = rr.leader ? t.cluster.nodes.find((x) => x.name === rr.leader) : undefined;
        if (lead && !tried.has(lead.name)) queue.unshift(lead);
        lastErr = new Error(rr.message);
        continue;
      }
      return r;
    } catch (e) {
      if (e instanceof LocalApiError && e.code === 'EAUTH') throw new UsageError('API key rejected', 1);
      throw new UsageError(`node ${n.name}: ${(e as Error).message} (the request may or may not have taken effect)`, 1);
    }
  }
  throw new UsageError(o.node ? `node ${o.node}: ${lastErr?.message}` : `no node in ${t.dir} could answer: ${lastErr?.message}`, 1);
}
