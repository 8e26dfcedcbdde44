// A node: one OS process. The supervisor (the seed's "Framework" service)
// checks that the node can start at all, then starts the service actors in
// worker threads in dependency order under a rest_for_one supervisor (a CDB
// restart restarts the Monitor that reads from it), serves the control
// socket, and on SIGTERM/SIGINT stops everything in reverse order.
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ActorSystem, receive, setup, supervisor, type ActorRef, type LogEntry } from '../../runtime/actor/index.ts';
import { LocalApiServer, method, streamMethod } from '../../runtime/net/local-api.ts';
import { loadApiKey, loadNodeCredentials } from '../../runtime/net/pki.ts';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import { cdbService, type ApiReply, type CdbMsg, type CdbStatusReply } from '../cdb/service.ts';
import { monitorService, type MonitorMsg, type MonitorStatus } from '../monitor/service.ts';
import { objectKey } from '../cdb/schema.ts';
import { parseAlarmPublication } from '../monitor/alarms.ts';
import type { NodeConfig } from './config.ts';
import type { NodeStatus } from './status.ts';

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

  const cdb = system.refFor<CdbMsg>('/user/node/cdb', 'w:cdb');
  const monitor = system.refFor<MonitorMsg>('/user/node/monitor', 'w:monitor');
  system.spawn(
    supervisor({ kind: 'rest_for_one', intensity: 5, periodMs: 30_000 }, [
      { id: 'cdb', behavior: cdbService, args: { node: cfg }, placement: { worker: 'cdb' }, shutdownMs: 5000, mailbox: { capacity: 100_000 } },
      { id: 'monitor', behavior: monitorService, args: { node: cfg.name, intervalMs: cfg.monitor.intervalMs, cdb }, placement: { worker: 'monitor' }, shutdownMs: 2000 },
      { id: 'agent', behavior: nodeAgent(cfg.name, cdb), shutdownMs: 1000 },
    ]),
    'node',
    { restart: 'permanent' },
  );

  const apiKey = loadApiKey(cfg.pkiDir);
  const ask = <R>(ref: ActorRef<never>, make: (r: never) => unknown, timeoutMs = 10_000): Promise<R> =>
    (ref as unknown as ActorRef<unknown>).ask<R>(make as never, { timeoutMs });
  const cdbApi = (m: string, params: unknown, timeoutMs = 10_000): Promise<ApiReply> =>
    cdb.ask<ApiReply>((replyTo) => ({ type: 'api', method: m, params, replyTo }), { timeoutMs });

  api = new LocalApiServer({
    dir: cfg.socketDir ?? join(cfg.dataDir, 'sock'),
    apiKey,
    log: {
      debug: () => {},
      info: () => {},
      warn: (m, f) => log({ level: 'warn', path: 'api', msg: m, thread: 'main', ...(f ? { fields: f } : {}) }),
      error: (m, f) => log({ level: 'error', path: 'api', msg: m, thread: 'main', ...(f ? { fields: f } : {}) }),
    },
    handlers: {
      status: async (): Promise<NodeStatus> => {
        const [c, m, actors] = await Promise.all([
          ask<CdbStatusReply>(cdb as never, (replyTo) => ({ type: 'status', replyTo }), 3000).catch(() => undefined),
          ask<MonitorStatus>(monitor as never, (replyTo) => ({ type: 'status', replyTo }), 3000).catch(() => undefined),
          system.stats(2000),
        ]);
        const g = (s: CdbStatusReply['cdb'] | undefined) => ({ role: s?.role ?? 'unknown', term: s?.term ?? 0, lead: s?.lead ?? '', commit: s?.commit ?? 0, applied: s?.applied ?? 0, voters: s?.voters ?? [] });
        return {
          node: cfg.name,
          pid: process.pid,
          uptimeMs: Date.now() - startedAt,
          address: cfg.listen,
          raft: { cdb: g(c?.cdb), monitor: g(c?.monitor) },
          monitor: {
            primary: c?.monitor.lead ? c.monitor.lead : undefined,
            term: c?.monitor.term ?? 0,
            score: m?.score,
            activeAlarms: c?.activeAlarms ?? 0,
          },
          actors: actors.map((a) => ({ path: a.path, thread: a.thread, status: a.status, restarts: a.incarnation, depth: a.depth, processed: a.processed })),
          transport: c?.transport ?? {},
        };
      },
      // Replies carry {ok:false, code, message, leader?} for request-level errors (conflict,
      // not-leader…), so clients can act on them; transport-level errors are the API's own.
      cdb: (params) => cdbApi('cdb', params),
      alerts: (params) => cdbApi('alerts', params),
      // An alarm publication proposed to the monitor group's ledger exactly as the Monitor
      // primary proposes its own: the ledger's fencing decides (a deposed primary's term is
      // `fenced`, another node in the current term `conflicting-holder`). Lets an operator —
      // and the end-to-end tests — show that fencing holds on a real cluster; it grants nothing
      // the API key does not already (the same key can write any CDB object).
      'monitor.publish': async (params): Promise<ApiReply> => {
        const p = parseAlarmPublication(params);
        if (!p.ok) return { ok: false, code: 'invalid', message: p.error };
        const r = await cdb.ask<ApiReply>((replyTo) => ({ type: 'alarm', pub: p.value, replyTo }), { timeoutMs: 10_000 });
        // Ledger rejections carry `reason`; give them the API's `message` too.
        const reason = (r as { reason?: unknown }).reason;
        return !r.ok && typeof reason === 'string' && !r.message ? { ...r, message: reason } : r;
      },
    },
    streams: {
      watch: streamMethod(z.looseObject({ fromRevision: z.number().int().min(0) }), async (params, sink) => {
        let rev = params.fromRevision;
        let open = true;
        void (async () => {
          while (open && !sink.closed) {
            let r: ApiReply;
            try {
              r = await cdbApi('cdb', { ...params, op: 'watch', fromRevision: rev, waitMs: 15_000 }, 20_000);
            } catch (e) {
              sink.end({ code: 'unavailable', message: (e as Error).message });
              return;
            }
            if (!r.ok) {
              sink.end({ code: r.code, message: r.message });
              return;
            }
            const res = r as unknown as { compacted: boolean; changes?: unknown[]; revision: number; oldest?: number };
            if (res.compacted) {
              sink.end({ code: 'compacted', message: `history before revision ${res.oldest} is compacted; list again and watch from the current revision` });
              return;
            }
            if (res.changes && res.changes.length > 0) sink.next({ revision: res.revision, changes: res.changes });
            rev = res.revision;
          }
        })();
        return () => {
          open = false;
        };
      }),
    },
  });
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

type AgentMsg = { type: 'report' };

/** Reports this node's own meta and stats (the node object) to the local CDB. */
function nodeAgent(name: string, cdb: ActorRef<CdbMsg>) {
  return setup<AgentMsg>((ctx) => {
    ctx.timers.startPeriodic('report', { type: 'report' }, 1000);
    ctx.self.tell({ type: 'report' });
    let lastCpu = process.cpuUsage();
    let lastAt = ctx.now();
    return receive<AgentMsg>((c) => {
      const now = Math.floor(c.now());
      const cpu = process.cpuUsage(lastCpu);
      const cpuPct = Math.min(100, ((cpu.user + cpu.system) / 1000 / Math.max(1, now - lastAt)) * 100);
      lastCpu = process.cpuUsage();
      lastAt = now;
      const mem = process.memoryUsage();
      cdb.tell({
        type: 'report',
        key: objectKey('node', name),
        meta: { state: 'up', updatedBy: { node: name, service: 'framework' }, updatedAt: now },
        stats: { cpu: Math.round(cpuPct * 10) / 10, rssBytes: mem.rss, memUsedPct: Math.round((1 - os.freemem() / os.totalmem()) * 1000) / 10, load1: os.loadavg()[0]! },
      });
    });
  });
}
