// Talking to the nodes of the cluster in --dir over their control sockets.
import { LocalApiError, LocalClient } from '../runtime/net/local-api.ts';
import { apiKeyFor } from './api-key.ts';
import { CliError, EXIT, NotFoundError, UnreachableError, UsageError } from './errors.ts';
import { clusterDir, readClusterFile, type ClusterFile, type ClusterNode } from './cluster-dir.ts';
import type { KeyOptions } from './options.ts';

/**
 * The largest request frame a node accepts on its control socket: the
 * `maxRequestBytes` default of LocalApiServer in runtime/net/local-api.ts,
 * which the node uses (it is not exported there; test/cli/frame-limit.test.ts
 * checks that a server with the defaults agrees with this number). A bigger
 * request is not sent: the node would drop the connection and the outcome
 * would look unknown.
 */
export const REQUEST_FRAME_LIMIT = 1024 * 1024;

/** Bytes of the frame that carries this request (an upper bound: the largest request id is assumed). */
export function requestFrameBytes(apiKey: string, method: string, params: unknown): number {
  return Buffer.byteLength(JSON.stringify({ type: 'req', data: { id: Number.MAX_SAFE_INTEGER, key: apiKey, method, params } }));
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 2 : 0)} MiB`;

/** Refuse a request that would not fit in one frame, naming the limit. */
export function checkRequestSize(apiKey: string, method: string, params: unknown, what = 'the request'): void {
  const bytes = requestFrameBytes(apiKey, method, params);
  if (bytes > REQUEST_FRAME_LIMIT) {
    throw new UsageError(`${what} is too large: ${bytes} bytes (${mib(bytes)}) encoded, over the control socket's frame limit of ${REQUEST_FRAME_LIMIT} bytes (1 MiB); nothing was sent`);
  }
}

export interface Target {
  dir: string;
  cluster: ClusterFile;
  apiKey: string;
}

export function target(o: KeyOptions): Target {
  const dir = clusterDir(o.dir);
  const cluster = readClusterFile(dir);
  return { dir, cluster, apiKey: apiKeyFor(dir, o) };
}

/** The node named by --node, or every node. */
export function nodesFor(t: Target, node: string | undefined): ClusterNode[] {
  if (node === undefined) return t.cluster.nodes;
  const n = t.cluster.nodes.filter((x) => x.name === node);
  if (n.length === 0) throw new NotFoundError(`no node named ${node} in ${t.dir} (nodes: ${t.cluster.nodes.map((x) => x.name).join(', ')})`);
  return n;
}

/**
 * Call `method` on a node: the one named, or each node in turn until one
 * answers (following a not-leader hint when the reply carries one).
 */
export async function call(t: Target, methodName: string, params: unknown, o: { node?: string; timeoutMs?: number; what?: string } = {}): Promise<unknown> {
  const nodes = nodesFor(t, o.node);
  checkRequestSize(t.apiKey, methodName, params, o.what);
  let lastErr: Error | undefined;
  let refused = false;
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
        refused = true;
        continue;
      }
      return r;
    } catch (e) {
      if (e instanceof LocalApiError && e.code === 'EAUTH') throw new CliError('API key rejected', EXIT.failed);
      throw new CliError(`node ${n.name}: ${(e as Error).message} (the request may or may not have taken effect)`, EXIT.failed);
    }
  }
  const why = lastErr?.message ?? 'no answer';
  if (o.node) throw new UnreachableError(`node ${o.node}: ${why}`);
  throw new UnreachableError(refused ? `no node in ${t.dir} could serve the request: ${why}` : `no node in ${t.dir} could answer: ${why} (is the cluster running? acp status --dir ${t.dir})`);
}
