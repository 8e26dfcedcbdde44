// A node: one OS process. The supervisor (the seed's "Framework" service)
// checks that the node can start at all, starts its registry, then the
// node's tree (actors/node/tree.ts: CDB, Monitor, agent under rest_for_one)
// in a worker thread on real ports (linux-ports.ts), serves the control
// socket (api.ts), and on SIGTERM/SIGINT stops everything in reverse order.
// `acp sim` starts the same tree on simulated ports.
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { ActorSystem, type ActorRef, type LogEntry } from '../../runtime/actor/index.ts';
import { LocalApiServer, streamMethod } from '../../runtime/net/local-api.ts';
import { loadApiKey, loadNodeCredentials } from '../../runtime/net/pki.ts';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import { registry } from '../../runtime/registry/registry.ts';
import { NodeApi } from './api.ts';
import { nodeCore } from './linux-ports.ts';
import type { NodeConfig } from './config.ts';

export class NodeStartError extends Error {
  override name = 'NodeStartError';
}

export interface NodeHandle {
  system: ActorSystem;
  stop(): Promise<void>;
  /** Resolves when the node has stopped (by stop() or a fatal supervision escalation). */
  readonly stopped: Promise<{ fatal?: Error }>;
}

/** Everything that would make the node fail at once, reported as one clear line before anything starts. */
export async function preflight(cfg: NodeConfig): Promise<void> {
  try {
    loadNodeCredentials(cfg.pkiDir, cfg.name);
    loadApiKey(cfg.pkiDir);
  } catch (e) {
    throw new NodeStartError(`node ${cfg.name} cannot start: ${(e as Error).message}`);
  }
  try {
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    const probe = join(cfg.dataDir, `.write-test-${process.pid}`);
    writeFileSync(probe, 'ok');
    rmSync(probe);
  } catch (e) {
    throw new NodeStartError(`node ${cfg.name} cannot start: data directory ${cfg.dataDir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(new NodeStartError(`node ${cfg.name} cannot start: cannot listen on ${cfg.listen.host}:${cfg.listen.port} (${e.code === 'EADDRINUSE' ? 'port taken' : e.code ?? e.message})`)),
    );
    s.listen(cfg.listen.port, cfg.listen.host, () => s.close(() => resolve()));
  });
  for (const group of ['cdb', 'monitor']) {
    const file = join(cfg.dataDir, `${group}.raft.sqlite`);
    let log: SqliteDurableLog | undefined;
    try {
      log = new SqliteDurableLog(file);
      log.load();
    } catch (e) {
      throw new NodeStartError(`node ${cfg.name} cannot start: Raft state in ${file} is unusable: ${(e as Error).message}`);
    } finally {
      log?.close();
    }
  }
}

export async function startNode(cfg: NodeConfig, log: (e: LogEntry) => void): Promise<NodeHandle> {
  await preflight(cfg);
  const startedAt = Date.now();
  let resolveStopped!: (v: { fatal?: Error }) => void;
  const stopped = new Promise<{ fatal?: Error }>((r) => (resolveStopped = r));
  let api: LocalApiServer | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (fatal?: Error): Promise<void> =>
    (stopping ??= (async () => {
      await api?.stop().catch(() => {});
      await system.shutdown();
      resolveStopped(fatal ? { fatal } : {});
    })());

  const system: ActorSystem = new ActorSystem({
    name: cfg.name,
    log,
    onFatal: (err) => {
      log({ level: 'error', path: '/user', msg: `node ${cfg.name} is shutting down: ${rootCause(err)}`, thread: 'main' });
      void stop(err);
    },
  });

  // The registry lives in this thread; its table is what the control socket resolves services by.
  const services = new Map<string, ActorRef<never>>();
  const reg = system.spawn(registry(services), 'registry');
  system.spawn(nodeCore, 'node', { placement: { worker: 'core' }, restart: 'permanent', args: { cfg, registry: reg }, shutdownMs: 8000 });

  const nodeApi = new NodeApi({ node: cfg.name, system, services, startedAt: system.env.now(), address: cfg.listen, pid: process.pid, controlListener: () => api!.stats() });
  const call = (m: string) => (params: unknown) => new Promise((resolve) => nodeApi.call(m, params, resolve));
  api = new LocalApiServer({
    dir: cfg.socketDir ?? join(cfg.dataDir, 'sock'),
    apiKey: loadApiKey(cfg.pkiDir),
    log: {
      debug: () => {},
      info: () => {},
      warn: (m, f) => log({ level: 'warn', path: 'api', msg: m, thread: 'main', ...(f ? { fields: f } : {}) }),
      error: (m, f) => log({ level: 'error', path: 'api', msg: m, thread: 'main', ...(f ? { fields: f } : {}) }),
    },
    // Replies carry {ok:false, code, message, leader?} for request-level errors (conflict,
    // not-leader…), so clients can act on them; transport-level errors are the API's own.
    handlers: { status: call('status'), health: call('health'), cdb: call('cdb'), alerts: call('alerts'), 'monitor.publish': call('monitor.publish'), network: call('network'), 'system.logs': call('system.logs') },
    streams: {
      // Pushed by the CDB as changes are applied, end to end.
      watch: streamMethod(z.looseObject({ fromRevision: z.number().int().min(0) }), (params, sink) => nodeApi.watch(params, { next: (d) => void sink.next(d), end: (e) => sink.end(e) })),
      // Meta/stats views as they change (acp get --watch).
      meta: streamMethod(z.strictObject({ type: z.string().max(16).optional(), id: z.string().max(63).optional() }), (params, sink) =>
        nodeApi.watchMeta(params, { next: (d) => void sink.next(d), end: (e) => sink.end(e) }),
      ),
    },
  });
  void startedAt;
  try {
    await api.start();
  } catch (e) {
    await system.shutdown();
    throw new NodeStartError(`node ${cfg.name} cannot start: control socket: ${(e as Error).message}`);
  }
  return { system, stop: () => stop(), stopped };
}

/** The innermost cause: the line a person needs when a node gives up. */
function rootCause(err: Error): string {
  let e: unknown = err;
  for (let i = 0; i < 10 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
