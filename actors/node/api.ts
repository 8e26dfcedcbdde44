// What a node answers on its control socket — and, unchanged, to the
// simulator's clients: `cdb` (get, put, delete, ls, meta), `alerts`,
// `monitor.publish`, `network` (attach, detach, status), `system.logs` (a
// chunk of a workload's stdout/stderr log file on this node, asked of the
// Hypervisor for where it is), `status`, `health` (the
// Monitor's last evaluation: score, findings, nodes down and why), and the
// `watch` and `meta` streams. Answers come back
// through callbacks, not promises: the control socket wraps them in a promise,
// the simulator sends them over its network in the same virtual instant.
import type { ActorRef, ActorSystem } from '../../runtime/actor/index.ts';
import { receive } from '../../runtime/actor/index.ts';
import type { Ref } from '../../runtime/actor/thread-runtime.ts';
import type { ServiceKey } from '../../runtime/registry/registry.ts';
import { CDB, request, watch, watchMeta, type ApiReply, type CdbMetaEvent, type CdbMsg, type CdbStatusReply, type CdbWatchEvent } from '../cdb/client.ts';
import { z } from 'zod';
import { open } from 'node:fs/promises';
import { MONITOR, type MonitorMsg, type MonitorStatus } from '../monitor/client.ts';
import { HYPERVISOR, logsRequest, type HypervisorMsg, type HypervisorReply } from '../hypervisor/client.ts';
import { NETWORK, attach, detach, networkStatus, type NetworkMsg } from '../network/client.ts';
import type { NodeStatus } from './status.ts';
import type { ListenerStats } from '../../runtime/net/listener-gate.ts';

export type Reply = (r: unknown) => void;

export interface NodeApiDeps {
  node: string;
  system: ActorSystem;
  /** The registry's table (same thread). */
  services: ReadonlyMap<string, ActorRef<never>>;
  startedAt: number;
  address: { host: string; port: number };
  pid: number;
  /** The control socket's listener stats (a real node). */
  controlListener?: () => ListenerStats;
}

export interface WatchSink {
  next(data: unknown): void;
  end(error?: { code: string; message: string }): void;
}

const TIMEOUT_MS = 10_000;

const nsName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a network namespace name');
const netId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a network id');
const ifName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$/, 'must be an interface name');
/** The Network service's requests on the control socket (the Hypervisor's, and tests'). */
const networkParams = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('attach'), network: netId, netns: nsName, ifname: ifName.optional(), address: z.string().max(15).optional(), timeoutMs: z.number().int().min(100).max(120_000).optional() }),
  z.strictObject({ op: z.literal('detach'), network: netId, netns: nsName, ifname: ifName.optional(), timeoutMs: z.number().int().min(100).max(120_000).optional() }),
  z.strictObject({ op: z.literal('status') }),
]);

/**
 * `system.logs`: from `offset` (bytes; absent: the last `tail` bytes, default 64 KiB) at most
 * `maxBytes` (default and limit 256 KiB, well inside a reply frame) of one log of a system.
 */
const logsParams = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a system id'),
  stream: z.enum(['stdout', 'stderr', 'console']).optional(),
  offset: z.number().int().min(0).optional(),
  tail: z.number().int().min(0).max(256 * 1024).optional(),
  maxBytes: z.number().int().min(1).max(256 * 1024).optional(),
});

/** Read a chunk of a log file: `{ ok, data, offset, next, size }` (`missing`: no such file yet). */
export async function readLog(path: string | undefined, q: z.output<typeof logsParams>): Promise<Record<string, unknown>> {
  if (path === undefined) return { ok: true, data: '', offset: 0, next: 0, size: 0, missing: true };
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, data: '', offset: 0, next: 0, size: 0, missing: true };
    return { ok: false, code: 'failed', message: `cannot read ${path}: ${(e as Error).message}` };
  }
  try {
    const size = (await fh.stat()).size;
    const max = q.maxBytes ?? 256 * 1024;
    // A file that shrank (removed and started again) is read from its start.
    const from = q.offset !== undefined ? (q.offset > size ? 0 : q.offset) : Math.max(0, size - (q.tail ?? 64 * 1024));
    const len = Math.min(max, size - from);
    const buf = Buffer.alloc(len);
    const { bytesRead } = len > 0 ? await fh.read(buf, 0, len, from) : { bytesRead: 0 };
    // Whole UTF-8 characters only: a tail that starts inside one skips its rest; a character cut
    // at the end (still being written, or the chunk's limit) is left for the next read.
    let start = 0;
    if (q.offset === undefined) while (start < bytesRead && start < 3 && (buf[start]! & 0xc0) === 0x80) start++;
    let end = bytesRead;
    for (let back = 1; back <= Math.min(3, bytesRead - start); back++) {
      const b = buf[bytesRead - back]!;
      if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (need > back) end = bytesRead - back;
      break;
    }
    return { ok: true, data: buf.subarray(start, end).toString('utf8'), offset: from + start, next: from + end, size };
  } finally {
    await fh.close();
  }
}

export class NodeApi {
  readonly #d: NodeApiDeps;
  #watchSeq = 0;

  constructor(d: NodeApiDeps) {
    this.#d = d;
  }

  #ref<M>(key: ServiceKey<M>): Ref<M> | undefined {
    return this.#d.services.get(key.id) as unknown as Ref<M> | undefined;
  }

  #ask<M, R>(key: ServiceKey<M>, make: (replyTo: never) => M, timeoutMs: number, done: (r: R | undefined, err?: Error) => void): void {
    const ref = this.#ref(key);
    if (ref === undefined) return done(undefined, new Error(`the ${key.id} service is starting`));
    this.#d.system.rt.askWith<R>(ref, make as never, timeoutMs, (r) => done(r), (e) => done(undefined, e));
  }

  /** One request; `reply` is called exactly once. */
  call(method: string, params: unknown, reply: Reply): void {
    switch (method) {
      case 'cdb':
        return this.#ask<CdbMsg, ApiReply>(CDB, (replyTo) => request(params as Record<string, unknown>, replyTo), TIMEOUT_MS, (r, e) =>
          reply(r ?? { ok: false, code: 'unavailable', message: e?.message ?? 'no answer' }),
        );
      case 'alerts': {
        const all = (params as { all?: unknown } | null)?.all === true;
        return this.#ask<MonitorMsg, unknown>(MONITOR, (replyTo) => ({ type: 'alerts', all, replyTo }), TIMEOUT_MS, (r, e) =>
          reply(r ?? { ok: false, code: 'unavailable', message: e?.message ?? 'no answer' }),
        );
      }
      case 'monitor.publish':
        return this.#ask<MonitorMsg, unknown>(MONITOR, (replyTo) => ({ type: 'publish', pub: params, replyTo }), TIMEOUT_MS, (r, e) =>
          reply(r ?? { ok: false, code: 'unavailable', message: e?.message ?? 'no answer' }),
        );
      case 'system.logs': {
        const p = logsParams.safeParse(params);
        if (!p.success) return reply({ ok: false, code: 'invalid', message: `system.logs: ${p.error.issues[0]!.path.join('.') || 'params'} ${p.error.issues[0]!.message}` });
        const q = p.data;
        return this.#ask<HypervisorMsg, HypervisorReply>(HYPERVISOR, (replyTo) => logsRequest(q.id, replyTo), TIMEOUT_MS, (r, e) => {
          if (r === undefined) return reply({ ok: false, code: 'unavailable', message: e?.message ?? 'no answer' });
          if (!r.ok) return reply(r);
          const path = r[q.stream ?? 'stdout'];
          readLog(typeof path === 'string' ? path : undefined, q).then(
            (x) => reply({ ...x, node: this.#d.node, id: q.id, stream: q.stream ?? 'stdout' }),
            (err: unknown) => reply({ ok: false, code: 'failed', message: (err as Error).message }),
          );
        });
      }
      case 'status':
        return this.#status(reply);
      case 'health':
        // The Monitor's own view: health score, findings, primary and term (what `status` summarizes).
        return this.#ask<MonitorMsg, MonitorStatus>(MONITOR, (replyTo) => ({ type: 'status', replyTo }), TIMEOUT_MS, (r, e) =>
          reply(r ? { ok: true, ...r } : { ok: false, code: 'unavailable', message: e?.message ?? 'no answer' }),
        );
      case 'network': {
        const p = networkParams.safeParse(params);
        if (!p.success) return reply({ ok: false, code: 'invalid', message: `network: ${p.error.issues[0]!.path.join('.') || 'params'} ${p.error.issues[0]!.message}` });
        const q = p.data;
        const wait = q.op === 'status' ? TIMEOUT_MS : (q.timeoutMs ?? 15_000) + 2000;
        const opts = { ...(q.op !== 'status' && q.ifname ? { ifname: q.ifname } : {}), ...(q.op !== 'status' && q.timeoutMs ? { timeoutMs: q.timeoutMs } : {}) };
        return this.#ask<NetworkMsg, unknown>(
          NETWORK,
          (replyTo) =>
            q.op === 'attach'
              ? attach(q.network, q.netns, replyTo, { ...opts, ...(q.address ? { address: q.address } : {}) })
              : q.op === 'detach'
                ? detach(q.network, q.netns, replyTo, opts)
                : networkStatus(replyTo),
          wait,
          (r, e) => reply(r === undefined ? { ok: false, code: 'unavailable', message: e?.message ?? 'no answer' } : q.op === 'status' ? { ok: true, ...(r as object) } : r),
        );
      }
      default:
        return reply({ ok: false, code: 'invalid', message: `unknown method ${method}` });
    }
  }

  #status(reply: Reply): void {
    const d = this.#d;
    let cdb: CdbStatusReply | undefined;
    let mon: MonitorStatus | undefined;
    let left = 2;
    const done = (): void => {
      if (--left > 0) return;
      const g = (s: { role?: string; term?: number; lead?: string; commit?: number; applied?: number; voters?: string[] } | undefined) => ({
        role: s?.role ?? 'unknown',
        term: s?.term ?? 0,
        lead: s?.lead ?? '',
        commit: s?.commit ?? 0,
        applied: s?.applied ?? 0,
        voters: s?.voters ?? [],
      });
      d.system.stats(2000).then(
        (actors) => reply(this.#statusOf(g(cdb?.cdb), g(mon?.raft), mon, cdb, actors)),
        () => reply(this.#statusOf(g(cdb?.cdb), g(mon?.raft), mon, cdb, [])),
      );
    };
    this.#ask<CdbMsg, CdbStatusReply>(CDB, (replyTo) => ({ type: 'status', replyTo }), 3000, (r) => {
      cdb = r;
      done();
    });
    this.#ask<MonitorMsg, MonitorStatus>(MONITOR, (replyTo) => ({ type: 'status', replyTo }), 3000, (r) => {
      mon = r;
      done();
    });
  }

  #statusOf(
    cdbGroup: NodeStatus['raft']['cdb'],
    monGroup: NodeStatus['raft']['monitor'],
    mon: MonitorStatus | undefined,
    cdb: CdbStatusReply | undefined,
    actors: Awaited<ReturnType<ActorSystem['stats']>>,
  ): NodeStatus {
    const d = this.#d;
    return {
      node: d.node,
      pid: d.pid,
      uptimeMs: Math.floor(d.system.env.now() - d.startedAt),
      address: d.address,
      raft: { cdb: cdbGroup, monitor: monGroup },
      monitor: { primary: monGroup.lead || undefined, term: monGroup.term, score: mon?.score, activeAlarms: mon?.activeAlarms ?? 0, ...(mon?.nodesDown ? { nodesDown: mon.nodesDown } : {}) },
      actors: actors.map((a) => ({ path: a.path, thread: a.thread, status: a.status, restarts: a.incarnation, depth: a.depth, processed: a.processed })),
      transport: cdb?.transport ?? {},
      ...(d.controlListener || cdb?.listener ? { listeners: { ...(d.controlListener ? { control: d.controlListener() } : {}), ...(cdb?.listener ? { peer: cdb.listener } : {}) } } : {}),
    };
  }

  /**
   * A watch stream: changes pushed by the CDB as they are applied, until `close()`
   * (or the CDB ends it: compacted history, invalid request).
   */
  watch(params: Record<string, unknown>, sink: WatchSink): () => void {
    const cdb = this.#ref(CDB);
    if (cdb === undefined) {
      sink.end({ code: 'unavailable', message: 'the cdb service is starting' });
      return () => {};
    }
    const id = `${this.#d.node}-w${++this.#watchSeq}`;
    let open = true;
    const system = this.#d.system;
    // A small actor in this thread receives the pushes and hands them to the stream.
    const relay = system.spawn(
      receive<CdbWatchEvent>((_ctx, ev) => {
        if (!open) return;
        if (ev.type === 'cdb-watch') {
          if (ev.changes.length > 0) sink.next({ revision: ev.revision, changes: ev.changes });
        } else {
          open = false;
          sink.end({ code: ev.code, message: ev.message });
        }
      }),
      `watch-${id}`,
    );
    const { op: _op, ...req } = params;
    cdb.tell(watch(id, req, relay));
    return () => {
      if (!open) return;
      open = false;
      cdb.tell({ type: 'unwatch', id });
      void system.stop(relay as ActorRef<never>);
    };
  }

  /**
   * A meta stream: the merged meta/stats views (actors/cdb/meta.ts ObjectView) of the objects of
   * `type` (and `id`), all of them first, then those that changed, pushed by the CDB every meta
   * publish interval, until `close()`. Every event is `{ now, views, removed }` (`now`: this node's
   * clock, the time the views' ages are measured at); the first one also has `snapshot: true`
   * and comes even when nothing matches. What `acp get --watch` follows: services change an
   * object's state through meta, not through the object.
   */
  watchMeta(params: { type?: string; id?: string }, sink: WatchSink): () => void {
    const cdb = this.#ref(CDB);
    if (cdb === undefined) {
      sink.end({ code: 'unavailable', message: 'the cdb service is starting' });
      return () => {};
    }
    const prefix = params.type === undefined ? '' : `${params.type}/`;
    const exact = params.type !== undefined && params.id !== undefined ? `${params.type}/${params.id}` : undefined;
    const match = (key: string): boolean => (exact === undefined ? key.startsWith(prefix) : key === exact);
    let open = true;
    let first = true;
    const system = this.#d.system;
    const relay = system.spawn(
      receive<CdbMetaEvent>((_ctx, ev) => {
        if (!open) return;
        const views = ev.views.filter((v) => match(v.key));
        const removed = ev.removed.filter(match);
        if (first) sink.next({ snapshot: true, now: ev.now, views, removed });
        else if (views.length > 0 || removed.length > 0) sink.next({ now: ev.now, views, removed });
        first = false;
      }),
      `meta-watch-${this.#d.node}-m${++this.#watchSeq}`,
    );
    // The CDB watches the relay: stopping it unsubscribes.
    cdb.tell(watchMeta(relay));
    return () => {
      if (!open) return;
      open = false;
      void system.stop(relay as ActorRef<never>);
    };
  }
}
