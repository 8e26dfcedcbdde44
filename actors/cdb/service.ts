// The CDB service actor: the cluster database of one node. It owns
//  - the `cdb` Raft group (through the generic group home), whose state
//    machine is the CdbStore of persistent object definitions;
//  - the MetaTable of fast-changing meta and stats, which never touches Raft:
//    each node publishes its own contributions to every peer on the `meta`
//    channel and merges theirs (bounded staleness);
//  - the watchers, to which changes are pushed as they are applied.
// All its I/O comes from the node's ports; every state change happens while
// handling a message (answers to its own asks come back as messages).
import { receive, setup, withStrategy, type ActorContext, type ActorRef, type Behavior, type ReplyTo } from '../../runtime/actor/index.ts';
import { raftGroup, raftSizeLimits, type ProposeResponse, type RaftGroupMsg, type RaftGroupSettings, type ReadResponse, type HostStatus, type StateMachine } from '../../runtime/raft-host/index.ts';
import type { NodePorts } from '../../runtime/ports/ports.ts';
import type { PeerChannel } from '../../runtime/ports/peers.ts';
import { CdbStore, encodeStoreCommand, type ObjectFilter, type StoreResult } from './store.ts';
import { MetaTable, parseMetaPublication, type MetaPublication, type ObjectView } from './meta.ts';
import { parseRequest, toStoreCommand, filterOf, type CdbRequest, type GetRequest, type LsRequest } from './commands.ts';
import { objectKey, type ObjectKey } from './schema.ts';
import type { ApiReply, CdbMetaEvent, CdbMsg, CdbStatusReply, CdbWatchEvent } from './protocol.ts';

export interface CdbArgs {
  node: string;
  /** Founding voters of the cdb group. */
  voters: string[];
  raft: RaftGroupSettings;
  meta: { publishMs: number; staleAfterMs: number };
  ports: NodePorts;
}

type Internal =
  | { type: 'written'; replyTo: ReplyTo<ApiReply>; r: ProposeResponse<StoreResult | undefined> | { error: 'unavailable'; message: string } }
  | { type: 'read-done'; req: GetRequest | LsRequest; replyTo: ReplyTo<ApiReply>; r: ReadResponse | { error: 'unavailable'; message: string } }
  | { type: 'status-done'; replyTo: ReplyTo<CdbStatusReply>; r: HostStatus | undefined }
  | { type: 'peer-meta'; from: string; pub: MetaPublication }
  | { type: 'applied' }
  | { type: 'publish' };

type Msg = CdbMsg | Internal;

const REQUEST_TIMEOUT_MS = 5000;

export function cdbService(args: CdbArgs): Behavior<CdbMsg> {
  const b = setup<Msg>((ctx) => new CdbService(ctx, args).behavior());
  // A Raft group that keeps failing takes the whole CDB down with it: the node's supervisor decides.
  return withStrategy(b, { kind: 'one_for_all', intensity: 2, periodMs: 10_000 }) as Behavior<CdbMsg>;
}

interface Watcher {
  id: string;
  from: number;
  filter: ObjectFilter;
  limit: number;
  sink: ActorRef<CdbWatchEvent>;
}

class CdbService {
  readonly #ctx: ActorContext<Msg>;
  readonly #a: CdbArgs;
  readonly #store = new CdbStore();
  readonly #meta: MetaTable;
  readonly #metaCh: PeerChannel<MetaPublication>;
  readonly #group: ActorRef<RaftGroupMsg<StoreResult | undefined>>;
  readonly #watchers = new Map<string, Watcher>();
  readonly #metaSinks: ActorRef<CdbMetaEvent>[] = [];
  /** What each meta view looked like when last pushed (to push only what changed), and its MetaTable.viewStamp then. */
  #pushed = new Map<ObjectKey, { stamp: number; sig: string }>();
  #applyPending = false;
  /**
   * Largest write (UTF-8 bytes of its store command, the object's JSON plus a
   * few fields): what certainly fits one Raft message between nodes (about
   * 511 KiB with the default 1 MiB frames). The CLI's own limit (its request
   * frame, 1 MiB) is larger, so this is where an oversized object is refused.
   */
  readonly #maxWriteBytes: number;

  constructor(ctx: ActorContext<Msg>, a: CdbArgs) {
    this.#ctx = ctx;
    this.#a = a;
    this.#maxWriteBytes = raftSizeLimits(a.ports.peers.maxFrameBytes).maxJsonProposalBytes;
    // Each incarnation publishes under a new, larger number so peers drop what the old one said:
    // the node's boot count (not its clock, which may have stepped back) and this actor's restarts.
    this.#meta = new MetaTable({ self: a.node, incarnation: a.ports.boot * 1_000_000 + ctx.incarnation, staleAfterMs: a.meta.staleAfterMs });
    this.#metaCh = a.ports.peers.open('meta', parseMetaPublication, (from, pub) => ctx.self.tell({ type: 'peer-meta', from, pub }));
    this.#group = ctx.spawn(
      raftGroup<StoreResult | undefined>({
        group: 'cdb',
        id: a.node,
        voters: a.voters,
        peers: a.ports.peers,
        log: a.ports.openLog('cdb'),
        stateMachine: this.#machine(),
        settings: a.raft,
        ...(a.ports.raftProbe?.('cdb') ? { probe: a.ports.raftProbe('cdb')! } : {}),
      }),
      'raft-cdb',
      { restart: 'permanent', mailbox: { capacity: 100_000 } },
    );
    ctx.timers.startPeriodic('publish', { type: 'publish' }, a.meta.publishMs);
    this.#report();
  }

  behavior(): Behavior<Msg> {
    return receive<Msg>(
      (_ctx, msg) => this.#handle(msg),
      (_ctx, sig) => {
        if (sig.signal === 'PostStop' || sig.signal === 'PreRestart') this.#metaCh.close();
        else if (sig.signal === 'Terminated') this.#dropSink(sig.ref.path);
      },
    );
  }

  /** The CDB store as a Raft state machine that also wakes watchers. */
  #machine(): StateMachine<StoreResult | undefined> {
    const store = this.#store;
    return {
      apply: (index, data) => {
        const r = store.apply(index, data);
        this.#wake();
        return r;
      },
      snapshot: () => store.snapshot(),
      restore: (data) => {
        store.restore(data === '' ? new CdbStore().snapshot() : data);
        this.#wake();
      },
    };
  }

  #wake(): void {
    if (this.#applyPending || this.#watchers.size === 0) return;
    this.#applyPending = true;
    this.#ctx.self.tell({ type: 'applied' });
  }

  #handle(msg: Msg): void {
    const ctx = this.#ctx;
    switch (msg.type) {
      case 'request':
        return this.#request(msg.req, msg.replyTo);
      case 'written': {
        const r = msg.r;
        if ('error' in r) return ctx.reply(msg.replyTo, hostError(r, 'cdb'));
        return ctx.reply(msg.replyTo, (r.result ?? { ok: false, code: 'indeterminate', message: 'a stale duplicate of an earlier request' }) as ApiReply);
      }
      case 'read-done': {
        const r = msg.r;
        if ('error' in r) return ctx.reply(msg.replyTo, hostError(r, 'cdb'));
        return ctx.reply(msg.replyTo, this.#serveRead(msg.req));
      }
      case 'watch':
        return this.#watch(msg.id, msg.req, msg.list === true, msg.sink);
      case 'unwatch':
        this.#watchers.delete(msg.id);
        return;
      case 'watch-meta':
        this.#metaSinks.push(msg.sink);
        ctx.watch(msg.sink as ActorRef<never>);
        msg.sink.tell({ type: 'cdb-meta', now: Math.floor(ctx.now()), views: this.#meta.views(Math.floor(ctx.now())), removed: [] });
        return;
      case 'applied':
        this.#applyPending = false;
        this.#serveWatchers();
        return;
      case 'report':
        this.#meta.report(this.#a.node, msg.key, { ...(msg.meta ? { meta: msg.meta } : {}), ...(msg.stats ? { stats: msg.stats } : {}) }, Math.floor(ctx.now()));
        return;
      case 'peer-meta': {
        const now = Math.floor(ctx.now());
        const r = this.#meta.merge(msg.pub, now);
        // A gap in what that peer told us: ask for a full publication by sending ours (it answers in kind).
        if (r.ok && r.need !== undefined) this.#metaCh.send(msg.from, this.#meta.publication(now, 0));
        return;
      }
      case 'publish':
        this.#report();
        this.#publish();
        return;
      case 'status':
        ctx.ask<RaftGroupMsg<StoreResult | undefined>, HostStatus>(this.#group, (replyTo) => ({ type: 'status', replyTo }), 1000, (a) => ({
          type: 'status-done',
          replyTo: msg.replyTo,
          r: a.ok ? a.value : undefined,
        }));
        return;
      case 'status-done':
        const listener = this.#a.ports.peers.listener();
        ctx.reply(msg.replyTo, { cdb: msg.r ?? downStatus('cdb', this.#a.node), transport: this.#a.ports.peers.stats(), ...(listener ? { listener } : {}) });
        return;
    }
  }

  // ---- requests ------------------------------------------------------------------------------

  #request(raw: unknown, replyTo: ReplyTo<ApiReply>): void {
    const ctx = this.#ctx;
    const parsed = parseRequest(raw);
    if (!parsed.ok) return ctx.reply(replyTo, { ok: false, code: 'invalid', message: parsed.error });
    const req = parsed.value as CdbRequest;
    switch (req.op) {
      case 'put':
      case 'delete': {
        // Exactly-once across retries needs the client's own session (client + seq in the
        // request), which toStoreCommand passes through.
        const data = encodeStoreCommand(toStoreCommand(req)!);
        const bytes = Buffer.byteLength(data);
        if (bytes > this.#maxWriteBytes) {
          const what = req.op === 'put' ? `${req.object.type}/${req.object.id}` : `${req.type}/${req.id}`;
          return ctx.reply(replyTo, {
            ok: false,
            code: 'invalid',
            message: `${req.op}: ${what} is too large: ${bytes} bytes encoded, over the CDB's limit of ${this.#maxWriteBytes} bytes for one write (a write must fit one message between nodes)`,
          });
        }
        ctx.ask<RaftGroupMsg<StoreResult | undefined>, ProposeResponse<StoreResult | undefined>>(
          this.#group,
          (r) => ({ type: 'propose', data, replyTo: r }),
          REQUEST_TIMEOUT_MS + 1000,
          (a) => ({ type: 'written', replyTo, r: a.ok ? a.value : { error: 'indeterminate', message: `the cdb group did not answer: ${a.error.message}; the write may or may not have happened` } }),
        );
        return;
      }
      case 'get':
      case 'ls':
        if (req.consistency === 'stale') return ctx.reply(replyTo, this.#serveRead(req));
        ctx.ask<RaftGroupMsg<StoreResult | undefined>, ReadResponse>(this.#group, (r) => ({ type: 'read', replyTo: r }), REQUEST_TIMEOUT_MS, (a) => ({
          type: 'read-done',
          req,
          replyTo,
          r: a.ok ? a.value : { error: 'unavailable', message: a.error.message },
        }));
        return;
      case 'meta':
        return ctx.reply(replyTo, { ok: true, view: this.#meta.view(objectKey(req.type, req.id), Math.floor(ctx.now())) });
      case 'watch':
        // A one-shot read of the retained change history (never held open: live changes are
        // pushed through the `watch` stream).
        return ctx.reply(replyTo, { ok: true, ...this.#store.changesSince(req.fromRevision, filterOf(req), req.limit ?? 1000) });
    }
  }

  #serveRead(req: GetRequest | LsRequest): ApiReply {
    const store = this.#store;
    if (req.op === 'get') {
      const object = store.get(req.type, req.id);
      return { ok: true, revision: store.revision, ...(object ? { object } : {}) };
    }
    return { ok: true, revision: store.revision, objects: store.list(filterOf(req)) };
  }

  // ---- watches -------------------------------------------------------------------------------

  #watch(id: string, raw: unknown, list: boolean, sink: ActorRef<CdbWatchEvent>): void {
    const parsed = parseRequest(raw);
    if (!parsed.ok || parsed.value.op !== 'watch') {
      sink.tell({ type: 'cdb-watch-end', id, code: 'invalid', message: parsed.ok ? 'not a watch request' : parsed.error });
      return;
    }
    const req = parsed.value;
    const filter = filterOf(req);
    const w: Watcher = { id, from: req.fromRevision, filter, limit: req.limit ?? 1000, sink };
    this.#watchers.set(id, w);
    this.#ctx.watch(sink as ActorRef<never>);
    if (list) {
      // The listing and the revision it is as of: changes after it follow, with no gap.
      w.from = this.#store.revision;
      sink.tell({ type: 'cdb-watch', id, revision: w.from, changes: [], objects: this.#store.list(filter) });
      return;
    }
    this.#push(w);
  }

  #serveWatchers(): void {
    for (const w of this.#watchers.values()) this.#push(w);
  }

  /** Send a watcher everything after its revision (in batches of its limit). */
  #push(w: Watcher): void {
    for (;;) {
      const r = this.#store.changesSince(w.from, w.filter, w.limit);
      if (r.compacted) {
        this.#watchers.delete(w.id);
        w.sink.tell({ type: 'cdb-watch-end', id: w.id, code: 'compacted', message: `history before revision ${r.oldest} is compacted; list again and watch from the current revision` });
        return;
      }
      if (r.changes.length > 0) w.sink.tell({ type: 'cdb-watch', id: w.id, revision: r.revision, changes: r.changes });
      w.from = r.revision;
      if (!r.more) return;
    }
  }

  #dropSink(path: string): void {
    for (const [id, w] of this.#watchers) if (w.sink.path === path) this.#watchers.delete(id);
    for (let i = this.#metaSinks.length - 1; i >= 0; i--) if (this.#metaSinks[i].path === path) this.#metaSinks.splice(i, 1);
  }

  // ---- meta and stats ------------------------------------------------------------------------

  #report(): void {
    const now = Math.floor(this.#ctx.now());
    const node = this.#a.node;
    this.#meta.report(
      node,
      objectKey('service', `${node}-cdb`),
      {
        meta: { state: 'running', updatedBy: { node, service: 'cdb' }, updatedAt: now },
        stats: { revision: this.#store.revision, objects: this.#store.size, heapUsedBytes: this.#a.ports.host.heapUsedBytes() },
      },
      now,
    );
  }

  #publish(): void {
    const now = Math.floor(this.#ctx.now());
    const pub = this.#meta.publication(now, 0);
    for (const p of this.#a.ports.peers.peers) this.#metaCh.send(p, pub);
    this.#meta.prune(now);
    if (this.#metaSinks.length > 0) this.#pushMeta(now);
  }

  /**
   * Push to meta watchers the views that changed since the last push (staleness included). A key
   * whose viewStamp is what it was at the last push has the same signature: its view is not even
   * built (most keys, most of the time).
   */
  #pushMeta(now: number): void {
    const meta = this.#meta;
    const views: ObjectView[] = [];
    const seen = new Map<ObjectKey, { stamp: number; sig: string }>();
    for (const key of meta.keys()) {
      const stamp = meta.viewStamp(key, now);
      const prev = this.#pushed.get(key);
      if (prev !== undefined && prev.stamp === stamp) {
        seen.set(key, prev);
        continue;
      }
      const v = meta.view(key, now);
      const sig = viewSignature(v);
      seen.set(key, { stamp, sig });
      if (prev?.sig !== sig) views.push(v);
    }
    const removed: ObjectKey[] = [];
    for (const k of this.#pushed.keys()) if (!seen.has(k)) removed.push(k);
    this.#pushed = seen;
    if (views.length === 0 && removed.length === 0) return;
    for (const s of this.#metaSinks) s.tell({ type: 'cdb-meta', now, views, removed });
  }
}

/** What a consumer of a view acts on: its state, staleness, meta and merged stats (not ages). */
function viewSignature(v: ObjectView): string {
  return `${v.state}|${v.stale}|${v.metaFrom ?? ''}|${JSON.stringify(v.meta ?? null)}|${JSON.stringify(v.stats)}|${v.nodes.map((n) => `${n.node}:${n.stale}`).join(',')}`;
}

function hostError(r: { error: string; leader?: string; message?: string }, group: string): ApiReply {
  if (r.error === 'not-leader') return { ok: false, code: 'not-leader', message: r.leader ? `not the leader; the leader is ${r.leader}` : `no ${group} leader right now`, ...(r.leader ? { leader: r.leader } : {}) };
  return { ok: false, code: r.error, message: r.message ?? r.error };
}

export function downStatus(group: string, id: string): HostStatus {
  return { group, id, role: 'follower' as HostStatus['role'], term: 0, lead: '', commit: 0, applied: 0, voters: [], learners: [] };
}
