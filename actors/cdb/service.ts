// The CDB service actor: the cluster database of one node. It runs in its
// own worker and owns, in that thread:
//  - the node's TLS transport to its peers (one link per peer, shared by
//    every Raft group and by meta/stats publication);
//  - the Raft host of group `cdb` (persistent object definitions, applied to
//    a CdbStore) and of group `monitor` (whose leader is the Monitor primary
//    and whose log is the fenced alarm ledger);
//  - the MetaTable of fast-changing meta and stats, which never touches Raft:
//    each node publishes its own contributions to every peer and merges
//    theirs (bounded staleness).
// Requests from the control socket arrive as `api` messages.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { defineBehavior, receive, setup, withStrategy, type ActorContext, type ActorRef, type ReplyTo } from '../../runtime/actor/index.ts';
import { raftHost, type HostStatus, type LeaderEvent, type ProposeResponse, type RaftHostMsg, type ReadResponse, type StateMachine } from '../../runtime/raft-host/index.ts';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import { parseRaftMessage } from '../../runtime/raft/schema.ts';
import type { Message } from '../../runtime/raft/types.ts';
import { NodeTransport, type ValidationResult } from '../../runtime/net/node-transport.ts';
import { loadNodeCredentials } from '../../runtime/net/pki.ts';
import { CdbStore, encodeStoreCommand, type ObjectFilter, type StoreResult } from './store.ts';
import { MetaTable, parseMetaPublication, type ObjectView } from './meta.ts';
import { parseRequest, toStoreCommand, filterOf, type CdbRequest } from './commands.ts';
import { objectKey, type CdbObject, type Meta, type Stats, type ObjectDef } from './schema.ts';
import { AlarmLedger, parseAlarmPublication, type Alarm, type AlarmPublication, type LedgerResult } from '../monitor/alarms.ts';
import type { NodeConfig } from '../node/config.ts';

/** The part of the node config the CDB needs (plain data: it crosses into the worker). */
export interface CdbArgs {
  node: NodeConfig;
}

export type ApiReply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string; leader?: string };

export interface HealthInputReply {
  now: number;
  objects: CdbObject[];
  views: Record<string, ObjectView>;
  monitor: { lead: string; term: number };
  ledgerActive: Alarm[];
}

export interface CdbStatusReply {
  cdb: HostStatus;
  monitor: HostStatus;
  transport: Record<string, { connected: boolean; reconnects: number; framesIn: number; framesOut: number; rejected: number }>;
  activeAlarms: number;
}

export type CdbMsg =
  | { type: 'api'; method: string; params: unknown; replyTo: ReplyTo<ApiReply> }
  /** A local service reports the meta/stats of an object it is responsible for. */
  | { type: 'report'; key: string; meta?: Meta; stats?: Stats }
  | { type: 'publish' }
  | LeaderEvent
  | { type: 'health-input'; replyTo: ReplyTo<HealthInputReply> }
  | { type: 'alarm'; pub: AlarmPublication; replyTo: ReplyTo<ApiReply> }
  | { type: 'status'; replyTo: ReplyTo<CdbStatusReply> }
  | { type: 'meta-frame'; from: string; pub: unknown }
  | { type: 'forwarded'; from: string; id: number; group: 'cdb' | 'monitor'; data: string }

  | { type: 'started'; ok: boolean; error?: string }
  | { type: 'applied' }
  | { type: 'watch-timeout'; id: number }
  | { type: 'register' };

/**
 * What travels between nodes on the transport: Raft messages of a group,
 * meta/stats publications, and proposals a follower forwards to the leader
 * (with the leader's answer), so a client may write through any node.
 */
export type Frame =
  | { k: 'raft'; g: string; m: Message }
  | { k: 'meta'; p: unknown }
  | { k: 'fwd'; id: number; g: 'cdb' | 'monitor'; d: string }
  | { k: 'fwdr'; id: number; r: ForwardResult };

/** A forwarded proposal's outcome: the state machine's result, or why it was not proposed. */
export type ForwardResult = { ok: boolean; [k: string]: unknown };

const MAX_FORWARD_BYTES = 1 << 20;

const GROUPS = ['cdb', 'monitor'] as const;
const WATCH_WAIT_MS = 20_000;

// Resources owned by an incarnation of this actor. A crash skips PostStop, so
// the next incarnation in this worker closes what the previous one left.
let leftovers: { transport?: NodeTransport<Frame>; logs: SqliteDurableLog[] } | null = null;

async function closeLeftovers(): Promise<void> {
  const l = leftovers;
  leftovers = null;
  if (!l) return;
  for (const log of l.logs) {
    try {
      log.close();
    } catch {
      /* already closed */
    }
  }
  await l.transport?.stop();
}

/** Validate a frame from the network before it becomes a message. */
export function validateFrame(x: unknown): ValidationResult<Frame> {
  if (typeof x !== 'object' || x === null) return { ok: false, error: 'frame is not an object' };
  const f = x as { k?: unknown; g?: unknown; m?: unknown; p?: unknown };
  if (f.k === 'raft') {
    if (f.g !== 'cdb' && f.g !== 'monitor') return { ok: false, error: `unknown raft group ${JSON.stringify(f.g)}` };
    const r = parseRaftMessage(f.m);
    if (!r.ok) return { ok: false, error: `raft: ${r.error}` };
    return { ok: true, value: { k: 'raft', g: f.g, m: r.msg } };
  }
  if (f.k === 'fwd') {
    const x = f as { id?: unknown; g?: unknown; d?: unknown };
    if (!Number.isSafeInteger(x.id) || (x.id as number) < 0) return { ok: false, error: 'fwd: bad id' };
    if (x.g !== 'cdb' && x.g !== 'monitor') return { ok: false, error: 'fwd: bad group' };
    if (typeof x.d !== 'string' || x.d.length === 0 || x.d.length > MAX_FORWARD_BYTES) return { ok: false, error: 'fwd: bad data' };
    return { ok: true, value: { k: 'fwd', id: x.id as number, g: x.g, d: x.d } };
  }
  if (f.k === 'fwdr') {
    const x = f as { id?: unknown; r?: unknown };
    if (!Number.isSafeInteger(x.id) || (x.id as number) < 0) return { ok: false, error: 'fwdr: bad id' };
    if (typeof x.r !== 'object' || x.r === null || typeof (x.r as { ok?: unknown }).ok !== 'boolean') return { ok: false, error: 'fwdr: bad result' };
    return { ok: true, value: { k: 'fwdr', id: x.id as number, r: x.r as ForwardResult } };
  }
  if (f.k === 'meta') {
    const r = parseMetaPublication(f.p);
    if (!r.ok) return { ok: false, error: r.error };
    return { ok: true, value: { k: 'meta', p: r.value } };
  }
  return { ok: false, error: `unknown frame kind ${JSON.stringify(f.k)}` };
}

export const cdbService = defineBehavior(import.meta.url, 'cdbService', (args: CdbArgs) =>
  withStrategy(
    setup<CdbMsg>((ctx) => new CdbService(ctx, args.node).behavior()),
    // A Raft host that keeps failing takes the whole CDB down with it: the node's supervisor decides.
    { kind: 'one_for_all', intensity: 2, periodMs: 10_000 },
  ),
);

interface Watcher {
  id: number;
  from: number;
  filter: ObjectFilter;
  limit: number;
  replyTo: ReplyTo<ApiReply>;
}

class CdbService {
  readonly #ctx: ActorContext<CdbMsg>;
  readonly #cfg: NodeConfig;
  readonly #store = new CdbStore();
  readonly #ledger = new AlarmLedger();
  readonly #meta: MetaTable;
  #transport: NodeTransport<Frame> | null = null;
  readonly #hosts: Record<string, ActorRef<RaftHostMsg<unknown>>> = {};
  readonly #leaders: Record<string, { lead: string; term: number }> = { cdb: { lead: '', term: 0 }, monitor: { lead: '', term: 0 } };
  #watchers = new Map<number, Watcher>();
  #watchSeq = 0;
  #applyPending = false;
  #registered = false;
  #started = false;
  #forwards = new Map<number, (r: ForwardResult) => void>();
  /** Which leader each pending forward went to, so a leadership change settles them at once. */
  #forwardTo = new Map<number, { group: string; to: string }>();
  #forwardSeq = 0;

  constructor(ctx: ActorContext<CdbMsg>, cfg: NodeConfig) {
    this.#ctx = ctx;
    this.#cfg = cfg;
    // Each incarnation publishes under a new incarnation number so peers drop what the old one said.
    this.#meta = new MetaTable({ self: cfg.name, incarnation: Math.floor(ctx.now()), staleAfterMs: cfg.meta.staleAfterMs });
  }

  behavior() {
    void this.#start();
    return receive<CdbMsg>(
      (_ctx, msg) => this.#handle(msg),
      (_ctx, sig) => {
        if (sig.signal === 'PostStop') return closeLeftovers();
      },
    );
  }

  async #start(): Promise<void> {
    const ctx = this.#ctx;
    const cfg = this.#cfg;
    await closeLeftovers();
    const mine: { transport?: NodeTransport<Frame>; logs: SqliteDurableLog[] } = { logs: [] };
    leftovers = mine;
    try {
      mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
      const creds = loadNodeCredentials(join(cfg.pkiDir), cfg.name);
      const peers: Record<string, { host: string; port: number }> = {};
      for (const p of cfg.peers) if (p.name !== cfg.name) peers[p.name] = { host: p.host, port: p.port };
      const transport = new NodeTransport<Frame>({
        self: cfg.name,
        listen: cfg.listen,
        creds,
        peers,
        validate: validateFrame,
        onFrame: (from, f) => {
          if (f.k === 'raft') this.#hosts[f.g]?.tell({ type: 'raft', msg: f.m });
          else if (f.k === 'meta') ctx.self.tell({ type: 'meta-frame', from, pub: f.p });
          else if (f.k === 'fwd') ctx.self.tell({ type: 'forwarded', from, id: f.id, group: f.g, data: f.d });
          else this.#settleForward(f.id, f.r);
        },
        log: {
          debug: () => {},
          info: () => {},
          warn: (m, f) => ctx.log.warn(m, f),
          error: (m, f) => ctx.log.error(m, f),
        },
        backoff: { baseMs: 20, maxMs: 1000 },
      });
      mine.transport = transport;
      this.#transport = transport;
      await transport.start();
      const voters = cfg.peers.map((p) => p.name);
      const send = (to: string, group: string, m: Message): void => {
        transport.send(to, { k: 'raft', g: group, m });
      };
      for (const group of GROUPS) {
        const log = new SqliteDurableLog(join(cfg.dataDir, `${group}.raft.sqlite`));
        mine.logs.push(log);
        const sm: StateMachine<unknown> = group === 'cdb' ? this.#cdbMachine() : this.#ledgerMachine();
        this.#hosts[group] = ctx.spawn(
          raftHost<unknown>({
            group,
            id: cfg.name,
            peers: voters,
            storage: log,
            transport: { send },
            stateMachine: sm,
            tickMs: cfg.raft.tickMs,
            electionTick: cfg.raft.electionTicks,
            heartbeatTick: cfg.raft.heartbeatTicks,
            snapshotEvery: cfg.raft.snapshotEvery,
          }),
          `raft-${group}`,
          { restart: 'permanent', mailbox: { capacity: 100_000 } },
        );
        this.#hosts[group]!.tell({ type: 'watch-leader', ref: ctx.self as unknown as ActorRef<LeaderEvent> });
      }
      ctx.self.tell({ type: 'started', ok: true });
    } catch (e) {
      ctx.self.tell({ type: 'started', ok: false, error: (e as Error).message });
    }
  }

  /** The CDB store as a Raft state machine that also wakes watchers. */
  #cdbMachine(): StateMachine<unknown> {
    const store = this.#store;
    return {
      apply: (index, data) => {
        const r = store.apply(index, data);
        this.#wake();
        return r;
      },
      snapshot: () => store.snapshot(),
      restore: (data) => {
        if (data === '') store.restore(new CdbStore().snapshot());
        else store.restore(data);
        this.#wake();
      },
    };
  }

  #ledgerMachine(): StateMachine<unknown> {
    const ledger = this.#ledger;
    return {
      apply: (_index, data) => {
        let raw: unknown;
        try {
          raw = JSON.parse(data);
        } catch {
          return { ok: false, code: 'invalid', reason: 'not JSON' } satisfies LedgerResult;
        }
        return ledger.apply(raw);
      },
      snapshot: () => ledger.snapshot(),
      restore: (data) => ledger.restore(data === '' ? new AlarmLedger().snapshot() : data),
    };
  }

  #wake(): void {
    if (this.#applyPending || this.#watchers.size === 0) return;
    this.#applyPending = true;
    this.#ctx.self.tell({ type: 'applied' });
  }

  // Handlers never return their promises: a handler that awaited a Raft
  // commit would hold this mailbox for the whole round trip, serializing
  // every client (and deadlocking on replies that come through the mailbox).
  // The awaited work runs concurrently; state is touched only in the
  // synchronous parts, so it stays consistent.
  #handle(msg: CdbMsg): void {
    switch (msg.type) {
      case 'started':
        if (!msg.ok) throw new Error(`cdb cannot start: ${msg.error}`);
        this.#started = true;
        this.#ctx.timers.startPeriodic('publish', { type: 'publish' }, this.#cfg.meta.publishMs);
        this.#report();
        return;
      case 'leader':
        if (msg.lead !== this.#leaders[msg.group]!.lead) {
          // The node we forwarded to is no longer the leader: its answer may never come.
          // The proposal may still commit under the new leader, so the outcome is unknown.
          for (const [id, { group, to }] of [...this.#forwardTo]) {
            if (group === msg.group && to !== msg.lead) this.#settleForward(id, { ok: false, code: 'indeterminate', message: `leadership moved from ${to}; the write may or may not have happened` });
          }
        }
        this.#leaders[msg.group] = { lead: msg.lead, term: msg.term };
        if (msg.group === 'cdb' && msg.lead !== '' && !this.#registered) this.#ctx.self.tell({ type: 'register' });
        return;
      case 'register':
        void this.#register();
        return;
      case 'publish':
        this.#report();
        this.#publish();
        return;
      case 'report':
        this.#meta.report(this.#cfg.name, msg.key, { ...(msg.meta ? { meta: msg.meta } : {}), ...(msg.stats ? { stats: msg.stats } : {}) }, Math.floor(this.#ctx.now()));
        return;
      case 'meta-frame': {
        const r = this.#meta.receive(msg.pub, Math.floor(this.#ctx.now()));
        if (r.ok && r.need !== undefined) {
          // A gap in what that peer told us: ask for a full publication by sending ours (it answers in kind).
          this.#transport?.send(msg.from, { k: 'meta', p: this.#meta.publication(Math.floor(this.#ctx.now()), 0) });
        }
        return;
      }
      case 'forwarded':
        void this.#serveForwarded(msg.from, msg.id, msg.group, msg.data);
        return;
      case 'applied':
        this.#applyPending = false;
        this.#serveWatchers();
        return;
      case 'watch-timeout': {
        const w = this.#watchers.get(msg.id);
        if (w) {
          this.#watchers.delete(msg.id);
          this.#ctx.reply(w.replyTo, { ok: true, compacted: false, changes: [], revision: Math.max(w.from, this.#store.revision), more: false });
        }
        return;
      }
      case 'health-input': {
        const now = Math.floor(this.#ctx.now());
        const views: Record<string, ObjectView> = {};
        for (const v of this.#meta.views(now)) views[v.key] = v;
        this.#ctx.reply(msg.replyTo, { now, objects: this.#store.list(), views, monitor: this.#leaders.monitor!, ledgerActive: this.#ledger.active() });
        return;
      }
      case 'alarm':
        void this.#proposeAlarm(msg.pub, msg.replyTo);
        return;
      case 'status':
        void this.#status(msg.replyTo);
        return;
      case 'api':
        void this.#api(msg.method, msg.params, msg.replyTo).catch((e: Error) => this.#ctx.reply(msg.replyTo, { ok: false, code: 'internal', message: e.message }));
        return;
    }
  }

  // ---- meta and stats ------------------------------------------------------

  #report(): void {
    const now = Math.floor(this.#ctx.now());
    const mem = process.memoryUsage();
    this.#meta.report(
      this.#cfg.name,
      objectKey('service', `${this.#cfg.name}-cdb`),
      { meta: { state: 'running', updatedBy: { node: this.#cfg.name, service: 'cdb' }, updatedAt: now }, stats: { revision: this.#store.revision, objects: this.#store.size, heapUsedBytes: mem.heapUsed } },
      now,
    );
  }

  #publish(): void {
    const t = this.#transport;
    if (!t) return;
    const pub = this.#meta.publication(Math.floor(this.#ctx.now()), 0);
    for (const p of this.#cfg.peers) if (p.name !== this.#cfg.name) t.send(p.name, { k: 'meta', p: pub });
    this.#meta.prune(Math.floor(this.#ctx.now()));
  }

  /** Once the cluster has a leader, make sure this node and its services exist as objects. */
  async #register(): Promise<void> {
    if (this.#registered) return;
    const name = this.#cfg.name;
    const me = this.#cfg.peers.find((p) => p.name === name)!;
    const defs: ObjectDef[] = [
      { type: 'node', id: name, spec: { name, address: `${me.host}:${me.port}`, roles: ['cdb', 'monitor', 'management'] } } as ObjectDef,
      { type: 'service', subtype: 'cdb', id: `${name}-cdb`, spec: { node: name, raftGroup: 'cdb' } } as ObjectDef,
      { type: 'service', subtype: 'monitor', id: `${name}-monitor`, spec: { node: name } } as ObjectDef,
    ];
    let done = true;
    for (const object of defs) {
      const r = await this.#propose(encodeStoreCommand({ op: 'put', object, expectRevision: 0 }));
      if (!('ok' in r) || (r.ok === false && r.code !== 'conflict')) done = false;
    }
    this.#registered = done;
    if (!done) this.#ctx.timers.startSingle('register', { type: 'register' }, 500);
  }

  // ---- Raft ------------------------------------------------------------------

  /**
   * Replicate `data` through `group`. On a follower the proposal is forwarded
   * to the leader (one hop: a leader that lost leadership meanwhile answers
   * not-leader and the client retries), as etcd does.
   */
  async #propose(data: string, group: 'cdb' | 'monitor' = 'cdb', timeoutMs = 5000): Promise<ApiReply | StoreResult> {
    const r = await this.#proposeLocal(data, group, timeoutMs);
    if (r.ok !== false || (r as ApiReply & { code: string }).code !== 'not-leader') return r;
    const leader = (r as { leader?: string }).leader;
    if (!leader || leader === this.#cfg.name || !this.#transport) return r;
    // No live link to the leader: fail now (definitely not sent) rather than park the
    // request in the transport's buffer until the client's timeout.
    if (!this.#transport.isConnected(leader)) return { ok: false, code: 'unavailable', message: `the leader ${leader} is not reachable from ${this.#cfg.name}` };
    const id = ++this.#forwardSeq;
    const env = this.#ctx.env;
    return new Promise((resolve) => {
      const timer = env.setTimer(timeoutMs, () =>
        this.#settleForward(id, { ok: false, code: 'indeterminate', message: 'the leader did not answer in time; the write may or may not have happened' }),
      );
      this.#forwardTo.set(id, { group, to: leader });
      this.#forwards.set(id, (res) => {
        env.clearTimer(timer);
        resolve(res as ApiReply);
      });
      if (!this.#transport!.send(leader, { k: 'fwd', id, g: group, d: data })) this.#settleForward(id, r as ForwardResult);
    });
  }

  #settleForward(id: number, r: ForwardResult): void {
    const done = this.#forwards.get(id);
    if (!done) return;
    this.#forwards.delete(id);
    this.#forwardTo.delete(id);
    done(r);
  }

  async #serveForwarded(from: string, id: number, group: 'cdb' | 'monitor', data: string): Promise<void> {
    const r = await this.#proposeLocal(data, group, 5000);
    this.#transport?.send(from, { k: 'fwdr', id, r: r as ForwardResult });
  }

  async #proposeLocal(data: string, group: 'cdb' | 'monitor', timeoutMs: number): Promise<ApiReply | StoreResult> {
    const host = this.#hosts[group];
    if (!host) return { ok: false, code: 'unavailable', message: 'the cluster database is starting' };
    let r: ProposeResponse<unknown>;
    try {
      r = await host.ask<ProposeResponse<unknown>>((replyTo) => ({ type: 'propose', data, replyTo }), { timeoutMs });
    } catch (e) {
      // No answer in time: the host may have appended the entry, which may still commit. That
      // is `indeterminate`, never `unavailable` (which promises "not executed", so the CLI and
      // clients retry it elsewhere — a second write, or a CAS reported as a conflict although
      // the first one succeeded).
      return { ok: false, code: 'indeterminate', message: `no answer from the ${group} Raft group within ${timeoutMs} ms; the write may or may not have happened (${(e as Error).message})` };
    }
    if ('error' in r) {
      if (r.error === 'not-leader') return { ok: false, code: 'not-leader', message: r.leader ? `not the leader; the leader is ${r.leader}` : 'no leader right now', leader: r.leader };
      return { ok: false, code: r.error, message: r.message };
    }
    return r.result as StoreResult;
  }

  async #barrier(timeoutMs = 5000): Promise<ApiReply | null> {
    const host = this.#hosts.cdb;
    if (!host) return { ok: false, code: 'unavailable', message: 'the cluster database is starting' };
    let r: ReadResponse;
    try {
      r = await host.ask<ReadResponse>((replyTo) => ({ type: 'read', replyTo }), { timeoutMs });
    } catch (e) {
      return { ok: false, code: 'unavailable', message: (e as Error).message };
    }
    if ('error' in r) {
      if (r.error === 'not-leader') return { ok: false, code: 'not-leader', message: 'no leader right now', leader: r.leader };
      return { ok: false, code: r.error, message: r.message };
    }
    return null;
  }

  async #proposeAlarm(pub: AlarmPublication, replyTo: ReplyTo<ApiReply>): Promise<void> {
    const r = await this.#propose(JSON.stringify(pub), 'monitor');
    this.#ctx.reply(replyTo, r as ApiReply);
  }

  async #status(replyTo: ReplyTo<CdbStatusReply>): Promise<void> {
    const ask = (g: string): Promise<HostStatus> =>
      this.#hosts[g]
        ? this.#hosts[g]!.ask<HostStatus>((r) => ({ type: 'status', replyTo: r }), { timeoutMs: 1000 }).catch(() => down(g, this.#cfg.name))
        : Promise.resolve(down(g, this.#cfg.name));
    const [cdb, monitor] = await Promise.all([ask('cdb'), ask('monitor')]);
    const transport: CdbStatusReply['transport'] = {};
    const st = this.#transport?.stats();
    for (const [name, p] of Object.entries(st?.peers ?? {})) transport[name] = { connected: p.connected, reconnects: p.reconnects, framesIn: p.framesIn, framesOut: p.framesOut, rejected: p.rejected };
    this.#ctx.reply(replyTo, { cdb, monitor, transport, activeAlarms: this.#ledger.active().length });
  }

  // ---- the client API -----------------------------------------------------------

  async #api(method: string, params: unknown, replyTo: ReplyTo<ApiReply>): Promise<void> {
    const reply = (r: ApiReply | StoreResult): void => this.#ctx.reply(replyTo, r as ApiReply);
    if (!this.#started) return reply({ ok: false, code: 'unavailable', message: 'the cluster database is starting' });
    if (method === 'alerts') {
      const p = (params ?? {}) as { all?: unknown };
      const b = await this.#barrierOn('monitor');
      if (b) return reply(b);
      return reply({ ok: true, active: this.#ledger.active(), history: p.all === true ? this.#ledger.history() : [], fence: this.#ledger.highest, holder: this.#ledger.holder ?? null });
    }
    if (method !== 'cdb') return reply({ ok: false, code: 'invalid', message: `unknown method ${method}` });
    const parsed = parseRequest(params);
    if (!parsed.ok) return reply({ ok: false, code: 'invalid', message: parsed.error });
    const req = parsed.value as CdbRequest;
    switch (req.op) {
      case 'put':
      case 'delete': {
        // Exactly-once across retries needs the client's own session (client + seq in the
        // request), which toStoreCommand passes through; the service adds none of its own,
        // since concurrent requests from one node would look out of order to a shared session.
        const r = await this.#propose(encodeStoreCommand(toStoreCommand(req)!));
        return reply(r);
      }
      case 'get': {
        if (req.consistency !== 'stale') {
          const b = await this.#barrier();
          if (b) return reply(b);
        }
        const object = this.#store.get(req.type, req.id);
        return reply({ ok: true, revision: this.#store.revision, ...(object ? { object } : {}) });
      }
      case 'ls': {
        if (req.consistency !== 'stale') {
          const b = await this.#barrier();
          if (b) return reply(b);
        }
        return reply({ ok: true, revision: this.#store.revision, objects: this.#store.list(filterOf(req)) });
      }
      case 'meta': {
        const view = this.#meta.view(objectKey(req.type, req.id), Math.floor(this.#ctx.now()));
        return reply({ ok: true, view });
      }
      case 'watch': {
        const filter = filterOf(req);
        const limit = req.limit ?? 1000;
        const r = this.#store.changesSince(req.fromRevision, filter, limit);
        if (r.compacted || r.changes.length > 0) return reply({ ok: true, ...r });
        const id = ++this.#watchSeq;
        this.#watchers.set(id, { id, from: req.fromRevision, filter, limit, replyTo });
        this.#ctx.timers.startSingle(`watch-${id}`, { type: 'watch-timeout', id }, Math.min(WATCH_WAIT_MS, req.waitMs ?? WATCH_WAIT_MS));
        return;
      }
    }
  }

  async #barrierOn(group: 'monitor'): Promise<ApiReply | null> {
    const host = this.#hosts[group];
    if (!host) return { ok: false, code: 'unavailable', message: 'starting' };
    try {
      const r = await host.ask<ReadResponse>((replyTo) => ({ type: 'read', replyTo }), { timeoutMs: 3000 });
      if ('error' in r) return { ok: false, code: r.error, message: 'error' in r && r.error === 'not-leader' ? 'no Monitor primary right now' : (r as { message: string }).message };
      return null;
    } catch (e) {
      return { ok: false, code: 'unavailable', message: (e as Error).message };
    }
  }

  #serveWatchers(): void {
    for (const w of [...this.#watchers.values()]) {
      const r = this.#store.changesSince(w.from, w.filter, w.limit);
      if (!r.compacted && r.changes.length === 0) continue;
      this.#watchers.delete(w.id);
      this.#ctx.timers.cancel(`watch-${w.id}`);
      this.#ctx.reply(w.replyTo, { ok: true, ...r });
    }
  }
}

function down(group: string, id: string): HostStatus {
  return { group, id, role: 'follower' as HostStatus['role'], term: 0, lead: '', commit: 0, applied: 0, voters: [], learners: [] };
}

export { parseAlarmPublication };
