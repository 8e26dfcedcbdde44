// Meta and stats: per-node contributions, merged. Not replicated through Raft.
//
// Seed 001: "for many objects such data is related to multiple Nodes. By example, for a Network
// object all Nodes subscribing to a Network will publish their Statistics and metadata state to
// the respective objects". So the unit of data is a *contribution*: what one node says about one
// object — its latest meta (state, updatedBy, updatedAt) and/or its latest stats map.
//
// Model (one MetaTable per node, pure, time passed in):
//
//  * Each origin node numbers its contributions with a per-node sequence number `seq`, strictly
//    increasing across all its reports (one counter per node, not per object), and a node
//    `incarnation` (a number that grows across restarts: the host passes a persisted boot counter
//    or the boot time). The version of a contribution is (incarnation, seq).
//  * Per (origin, object) the table keeps exactly one contribution: the one with the highest
//    version. A report merges into the previous one of the same origin (a report carrying only
//    stats keeps the previous meta and vice versa; a stats map replaces the previous stats map
//    whole, so a stat that is no longer reported disappears). Merging received contributions is
//    last-writer-wins by version, which is commutative, associative and idempotent: a delayed old
//    report (lower seq) never overwrites a newer one, and duplicates are harmless.
//  * Gossip: each node publishes ONLY ITS OWN contributions (publication(now, sinceSeq)): a
//    `delta` with the contributions whose seq > sinceSeq (retractions included as tombstones), or
//    a `full` state. Receivers merge (receive(pub, now)). A receiver tracks per origin the seq it is
//    complete up to (versionOf); a delta whose sinceSeq is above it reveals a gap: its entries are
//    still merged (safe, LWW), and the result says `need: versionOf` so the receiver can ask the
//    origin for publication(now, need) (or wait for the periodic full state). A full state also
//    removes the origin's contributions that it no longer lists. A higher incarnation of an origin
//    discards everything known from its previous incarnation.
//  * Time and staleness without trusting clock sync: each contribution has `at` on the origin's
//    clock. A publication carries the origin's clock at send time (`sentAt`), so the receiver
//    translates: localAt = receivedAt − (sentAt − at) — the contribution's age measured on the
//    origin's clock, re-anchored on the local clock (transit delay is ignored). For local reports
//    localAt = at. A contribution is *stale* when now − localAt > staleAfterMs (default 15 s): it is
//    flagged in views and excluded from the merged meta and stats. prune(now) drops contributions
//    (and tombstones) older than dropAfterMs (default 10 × staleAfterMs); a received contribution
//    already older than that is ignored on arrival, so pruning cannot let an old report back in.
//
// Merge rules for view(key, now):
//  * meta: the freshest non-stale contribution's meta (highest localAt; ties → highest
//    meta.updatedAt, then lowest node id). No fresh meta → meta undefined, state 'unknown'.
//  * stats: per-node values are always shown (stale ones flagged). The aggregate `stats` covers
//    non-stale contributions only, per stat name by rule:
//      sum — counters that partition across nodes: names starting with rx/tx or ending with
//            Packets, Errors, Drops, Count, Ops (e.g. rxPackets of a vlan-bridge on 3 nodes);
//      max — everything else (gauges: cpu, memUsedBytes, usedBytes, latency…) — safe when several
//            nodes report the same gauge, and conservative for thresholds;
//      overridable per name (options.aggregate), also with 'min' and 'avg'.
import { z } from 'zod';
import { ID_PATTERN, OBJECT_KEY_PATTERN, STAT_NAME_PATTERN, check, idSchema, metaSchema, objectKeySchema, statsSchema } from './schema.ts';
import type { Meta, ObjectKey, Stats, Validation } from './schema.ts';

export type AggregateRule = 'sum' | 'max' | 'min' | 'avg';

/** The default aggregate rule for a stat name (see the header). */
export function defaultAggregateRule(stat: string): AggregateRule {
  if (/^(rx|tx)[A-Z_.]/.test(stat) || /(Packets|Errors|Drops|Count|Ops)$/.test(stat)) return 'sum';
  return 'max';
}

const defaultRules = new Map<string, AggregateRule>();
/** defaultAggregateRule, remembered per stat name (bounded): views ask for it constantly. */
function cachedDefaultRule(stat: string): AggregateRule {
  let r = defaultRules.get(stat);
  if (r === undefined) {
    r = defaultAggregateRule(stat);
    if (defaultRules.size < 10_000) defaultRules.set(stat, r);
  }
  return r;
}

export interface Contribution {
  node: string;
  key: ObjectKey;
  incarnation: number;
  seq: number;
  /** report time on the origin's clock */
  at: number;
  /** the same instant on the local clock */
  localAt: number;
  meta?: Meta;
  stats?: Stats;
  /** tombstone: the origin withdrew its contribution (kept until pruned so deltas carry it) */
  retracted?: boolean;
}

export interface NodeContributionView {
  node: string;
  seq: number;
  at: number;
  localAt: number;
  /** now − localAt */
  age: number;
  stale: boolean;
  meta?: Meta;
  stats?: Stats;
}

export interface ObjectView {
  key: ObjectKey;
  /** freshest non-stale meta */
  meta?: Meta;
  /** node whose meta was chosen */
  metaFrom?: string;
  /** meta.state, or 'unknown' when no fresh meta */
  state: string;
  /** true when there is no non-stale contribution (or none at all) */
  stale: boolean;
  /** newest localAt over all contributions (undefined: never reported) */
  lastSeen?: number;
  /** merged stats of the non-stale contributions */
  stats: Stats;
  /** per-node contributions, sorted by node */
  nodes: NodeContributionView[];
}

// ---------------------------------------------------------------------------------------------
// Wire message

export const metaEntrySchema = z.strictObject({
  key: objectKeySchema,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  at: z.number().int().min(0),
  meta: metaSchema.optional(),
  stats: statsSchema.optional(),
  retracted: z.literal(true).optional(),
});

/** What a node multicasts: its own contributions (a delta since a seq, or its full state). */
export const metaPublicationSchema = z
  .strictObject({
    v: z.literal(1),
    from: idSchema,
    incarnation: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** the origin's clock when sent (ms) */
    sentAt: z.number().int().min(0),
    kind: z.enum(['delta', 'full']),
    /** delta: entries are those with seq > sinceSeq; full: 0 */
    sinceSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** the origin's current seq: after merging, the receiver is complete up to it */
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    entries: z.array(metaEntrySchema).max(100_000),
  })
  .superRefine((p, ctx) => {
    if (p.kind === 'full' && p.sinceSeq !== 0) ctx.addIssue({ code: 'custom', path: ['sinceSeq'], message: 'must be 0 for a full publication' });
    if (p.sinceSeq > p.seq) ctx.addIssue({ code: 'custom', path: ['sinceSeq'], message: 'must be <= seq' });
    const keys = new Set<string>();
    p.entries.forEach((e, i) => {
      if (e.seq <= p.sinceSeq || e.seq > p.seq) ctx.addIssue({ code: 'custom', path: ['entries', i, 'seq'], message: `must be in (sinceSeq, seq] = (${p.sinceSeq}, ${p.seq}]` });
      if (e.at > p.sentAt) ctx.addIssue({ code: 'custom', path: ['entries', i, 'at'], message: 'must be <= sentAt' });
      if (keys.has(e.key)) ctx.addIssue({ code: 'custom', path: ['entries', i, 'key'], message: `duplicate key ${e.key}` });
      keys.add(e.key);
      if (e.retracted && (e.meta || e.stats)) ctx.addIssue({ code: 'custom', path: ['entries', i], message: 'a retraction carries no meta or stats' });
      if (e.meta && e.meta.updatedBy.node !== p.from) ctx.addIssue({ code: 'custom', path: ['entries', i, 'meta', 'updatedBy', 'node'], message: `must be the publishing node ${p.from}` });
    });
  });

export type MetaEntry = z.output<typeof metaEntrySchema>;
export type MetaPublication = z.output<typeof metaPublicationSchema>;

/**
 * Validate a received publication (one-line error naming the field). Every node gets one from
 * each peer several times a second, so a hand-written check accepts the well-formed ones and
 * copies them as the schema would (same fields, same order); anything it does not accept at once
 * goes through the schema, which has the last word (and names what is wrong).
 */
export function parseMetaPublication(x: unknown): Validation<MetaPublication> {
  const fast = wellFormedPublication(x);
  if (fast !== undefined) return { ok: true, value: fast };
  const r = check(metaPublicationSchema, x);
  return r.ok ? r : { ok: false, error: `meta publication: ${r.error}` };
}

const ID_RE = ID_PATTERN;
const KEY_RE = OBJECT_KEY_PATTERN;
const STATE_RE = /^[a-z][a-z0-9-]{0,31}$/;
const SERVICE_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const STAT_RE = STAT_NAME_PATTERN;
const PUB_FIELDS = new Set(['v', 'from', 'incarnation', 'sentAt', 'kind', 'sinceSeq', 'seq', 'entries']);

const isPlain = (x: unknown): x is Record<string, unknown> => {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const p = Object.getPrototypeOf(x) as unknown;
  return p === Object.prototype || p === null;
};
const isCount = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;

/** Only these fields, each present with a value (an explicit undefined is left to the schema). */
function onlyFields(o: Record<string, unknown>, allowed: readonly string[] | Set<string>, required: number): boolean {
  let n = 0;
  for (const k in o) {
    if (!(allowed instanceof Set ? allowed.has(k) : allowed.includes(k)) || o[k] === undefined) return false;
    n++;
  }
  return n >= required;
}

function wellFormedMeta(m: unknown, from: string): Meta | undefined {
  if (!isPlain(m) || !onlyFields(m, ['state', 'updatedBy', 'updatedAt'], 3)) return undefined;
  const by = m.updatedBy;
  if (!isPlain(by) || !onlyFields(by, ['node', 'service'], 2)) return undefined;
  if (typeof m.state !== 'string' || !STATE_RE.test(m.state) || !isCount(m.updatedAt, 0)) return undefined;
  if (typeof by.node !== 'string' || !ID_RE.test(by.node) || by.node !== from || typeof by.service !== 'string' || !SERVICE_RE.test(by.service)) return undefined;
  return { state: m.state, updatedBy: { node: by.node, service: by.service }, updatedAt: m.updatedAt };
}

function wellFormedStats(s: unknown): Stats | undefined {
  if (!isPlain(s)) return undefined;
  const out: Stats = {};
  let n = 0;
  for (const k in s) {
    const v = s[k];
    if (!STAT_RE.test(k) || typeof v !== 'number' || !Number.isFinite(v) || ++n > 256) return undefined;
    out[k] = v;
  }
  return out;
}

/** A copy of a publication that certainly passes metaPublicationSchema, else undefined. */
function wellFormedPublication(x: unknown): MetaPublication | undefined {
  if (!isPlain(x) || !onlyFields(x, PUB_FIELDS, PUB_FIELDS.size)) return undefined;
  const { from, incarnation, sentAt, kind, sinceSeq, seq, entries } = x;
  if (x.v !== 1 || typeof from !== 'string' || !ID_RE.test(from) || !isCount(incarnation, 0) || !isCount(sentAt, 0)) return undefined;
  if ((kind !== 'delta' && kind !== 'full') || !isCount(sinceSeq, 0) || !isCount(seq, 0) || sinceSeq > seq || (kind === 'full' && sinceSeq !== 0)) return undefined;
  if (!Array.isArray(entries) || Object.getPrototypeOf(entries) !== Array.prototype || entries.length > 100_000) return undefined;
  const out: MetaEntry[] = new Array<MetaEntry>(entries.length);
  const keys = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i];
    if (!isPlain(e) || !onlyFields(e, ['key', 'seq', 'at', 'meta', 'stats', 'retracted'], 3)) return undefined;
    const key = e.key;
    if (typeof key !== 'string' || !KEY_RE.test(key) || keys.has(key)) return undefined;
    keys.add(key);
    if (!isCount(e.seq, 1) || e.seq <= sinceSeq || e.seq > seq || !isCount(e.at, 0) || e.at > sentAt) return undefined;
    const entry: MetaEntry = { key, seq: e.seq, at: e.at };
    if (e.meta !== undefined) {
      const m = wellFormedMeta(e.meta, from);
      if (m === undefined) return undefined;
      entry.meta = m;
    }
    if (e.stats !== undefined) {
      const st = wellFormedStats(e.stats);
      if (st === undefined) return undefined;
      entry.stats = st;
    }
    if (e.retracted !== undefined) {
      if (e.retracted !== true || entry.meta !== undefined || entry.stats !== undefined) return undefined;
      entry.retracted = true;
    }
    out[i] = entry;
  }
  return { v: 1, from, incarnation, sentAt, kind, sinceSeq, seq, entries: out };
}

export type ReceiveResult =
  | {
      ok: true;
      /** entries that replaced or added a contribution */
      applied: number;
      /** entries not newer than what is known (out of order / duplicate) */
      ignored: number;
      /** entries already older than the drop bound on arrival */
      stale: number;
      /** contributions removed because a full state no longer lists them */
      removed: number;
      /** set when a gap was detected: ask the origin for publication(now, need) */
      need?: number;
    }
  | { ok: false; error: string };

// ---------------------------------------------------------------------------------------------

export interface MetaTableOptions {
  /** this node's id (its own reports are the ones it publishes) */
  self: string;
  /** this node's incarnation (grows across restarts); default 0 */
  incarnation?: number;
  /** default 15 000 ms */
  staleAfterMs?: number;
  /** default 10 × staleAfterMs */
  dropAfterMs?: number;
  /** per-stat aggregate rule overrides */
  aggregate?: Record<string, AggregateRule>;
}

interface Origin {
  incarnation: number;
  /** self: the last seq assigned; others: the seq we are complete up to */
  seq: number;
  /** self: highest seq of a pruned tombstone (deltas from before it must be full states) */
  prunedThrough: number;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class MetaTable {
  readonly self: string;
  readonly staleAfterMs: number;
  readonly dropAfterMs: number;
  #incarnation: number;
  #aggregate: Record<string, AggregateRule>;
  /** key → node → contribution */
  #byKey = new Map<ObjectKey, Map<string, Contribution>>();
  /** key → #version at the last change of its contributions */
  #keyVersion = new Map<ObjectKey, number>();
  #origins = new Map<string, Origin>();
  /** bumps on every change (local report, merge, prune) — for "something changed" checks */
  #version = 0;

  constructor(opts: MetaTableOptions) {
    this.self = opts.self;
    this.#incarnation = opts.incarnation ?? 0;
    this.staleAfterMs = opts.staleAfterMs ?? 15_000;
    this.dropAfterMs = opts.dropAfterMs ?? 10 * this.staleAfterMs;
    this.#aggregate = { ...(opts.aggregate ?? {}) };
    this.#origins.set(this.self, { incarnation: this.#incarnation, seq: 0, prunedThrough: 0 });
  }

  /** Local change counter (not part of the wire protocol). */
  get version(): number {
    return this.#version;
  }

  /** The seq we are complete up to for `node` (for self: the last seq assigned). */
  versionOf(node: string): number {
    return this.#origins.get(node)?.seq ?? 0;
  }

  #origin(node: string): Origin {
    let o = this.#origins.get(node);
    if (!o) {
      o = { incarnation: node === this.self ? this.#incarnation : 0, seq: 0, prunedThrough: 0 };
      this.#origins.set(node, o);
    }
    return o;
  }

  /**
   * Record a contribution of `fromNode` (normally this node: a local service reporting; other
   * nodes' contributions normally arrive through receive()). Meta and stats present in the update
   * replace the previous ones of that node for that object; absent ones are kept.
   */
  report(fromNode: string, key: ObjectKey, update: { meta?: Meta; stats?: Stats }, at: number): Contribution {
    const o = this.#origin(fromNode);
    o.seq++;
    const prev = this.#byKey.get(key)?.get(fromNode);
    const keep = prev && !prev.retracted ? prev : undefined;
    const c: Contribution = {
      node: fromNode,
      key,
      incarnation: o.incarnation,
      seq: o.seq,
      at,
      localAt: at,
      ...((update.meta ?? keep?.meta) ? { meta: update.meta ?? keep?.meta } : {}),
      ...((update.stats ?? keep?.stats) ? { stats: { ...(update.stats ?? keep?.stats) } } : {}),
    };
    this.#set(c);
    return c;
  }

  /** Withdraw `fromNode`'s contribution to `key` (e.g. the object was deleted or moved away). */
  retract(fromNode: string, key: ObjectKey, at: number): void {
    const prev = this.#byKey.get(key)?.get(fromNode);
    if (!prev || prev.retracted) return;
    const o = this.#origin(fromNode);
    o.seq++;
    this.#set({ node: fromNode, key, incarnation: o.incarnation, seq: o.seq, at, localAt: at, retracted: true });
  }

  #set(c: Contribution): void {
    let m = this.#byKey.get(c.key);
    if (!m) {
      m = new Map();
      this.#byKey.set(c.key, m);
    }
    m.set(c.node, c);
    this.#keyVersion.set(c.key, ++this.#version);
  }

  #delete(key: ObjectKey, node: string): void {
    const m = this.#byKey.get(key);
    if (!m) return;
    m.delete(node);
    if (m.size === 0) {
      this.#byKey.delete(key);
      this.#keyVersion.delete(key);
    } else this.#keyVersion.set(key, this.#version + 1);
    this.#version++;
  }

  /**
   * A number that is the same at two instants only if view(key, now) is the same at both except
   * for ages (what a meta watcher's push compares): the key's last change (#version when its
   * contributions last changed) and how many of them are stale. Staleness is a threshold on
   * localAt, so with the same contributions the count decides which ones are stale.
   */
  viewStamp(key: ObjectKey, now: number): number {
    const m = this.#byKey.get(key);
    if (!m) return 0;
    let stale = 0;
    for (const c of m.values()) if (!c.retracted && now - c.localAt > this.staleAfterMs) stale++;
    return (this.#keyVersion.get(key) ?? 0) * 65_536 + Math.min(stale, 65_535);
  }

  /** Keys that have at least one (non-retracted) contribution, sorted. */
  keys(): ObjectKey[] {
    const out: ObjectKey[] = [];
    for (const [k, m] of this.#byKey) {
      for (const c of m.values()) {
        if (c.retracted) continue;
        out.push(k);
        break;
      }
    }
    return out.sort(cmp);
  }

  /** The raw contribution of one node (tombstones excluded). */
  contribution(node: string, key: ObjectKey): Contribution | undefined {
    const c = this.#byKey.get(key)?.get(node);
    return c && !c.retracted ? c : undefined;
  }

  ruleFor(stat: string): AggregateRule {
    return this.#aggregate[stat] ?? cachedDefaultRule(stat);
  }

  /**
   * The merged view of one object at local time `now` (see the header for the rules). Every node
   * computes the views of all keys several times a second (for its meta watchers): written as
   * plain loops, building each object in its final field order.
   */
  view(key: ObjectKey, now: number): ObjectView {
    const m = this.#byKey.get(key);
    const nodes: NodeContributionView[] = [];
    if (m) {
      for (const c of m.values()) {
        if (c.retracted) continue;
        const n: NodeContributionView = { node: c.node, seq: c.seq, at: c.at, localAt: c.localAt, age: now - c.localAt, stale: now - c.localAt > this.staleAfterMs };
        if (c.meta) n.meta = c.meta;
        if (c.stats) n.stats = c.stats;
        nodes.push(n);
      }
      if (nodes.length > 1) nodes.sort((a, b) => cmp(a.node, b.node));
    }
    let best: NodeContributionView | undefined;
    let fresh = 0;
    let lastSeen: number | undefined;
    const acc = new Map<string, number[]>();
    for (const n of nodes) {
      lastSeen = lastSeen === undefined ? n.localAt : Math.max(lastSeen, n.localAt);
      if (n.stale) continue;
      fresh++;
      if (n.meta && (!best || n.localAt > best.localAt || (n.localAt === best.localAt && n.meta.updatedAt > best.meta!.updatedAt))) best = n;
      const st = n.stats;
      if (!st) continue;
      for (const k in st) {
        const xs = acc.get(k);
        if (xs) xs.push(st[k]);
        else acc.set(k, [st[k]]);
      }
    }
    const stats: Stats = {};
    const statKeys = [...acc.keys()];
    if (statKeys.length > 1) statKeys.sort(cmp);
    for (const k of statKeys) {
      const xs = acc.get(k)!;
      const rule = this.ruleFor(k);
      if (rule === 'max') stats[k] = Math.max(...xs);
      else if (rule === 'min') stats[k] = Math.min(...xs);
      else {
        let sum = 0;
        for (const x of xs) sum += x;
        stats[k] = rule === 'sum' ? sum : sum / xs.length;
      }
    }
    const v = { key } as ObjectView;
    if (best) {
      v.meta = best.meta;
      v.metaFrom = best.node;
    }
    v.state = best?.meta?.state ?? 'unknown';
    v.stale = fresh === 0;
    if (lastSeen !== undefined) v.lastSeen = lastSeen;
    v.stats = stats;
    v.nodes = nodes;
    return v;
  }

  /** Views of every key with contributions, sorted by key. */
  views(now: number): ObjectView[] {
    return this.keys().map((k) => this.view(k, now));
  }

  // -------------------------------------------------------------------------------------------
  // Gossip

  /**
   * This node's publication at local time `now`: a delta of its own contributions with
   * seq > sinceSeq, or its full state when sinceSeq is 0 or older than pruned tombstones.
   */
  publication(now: number, sinceSeq = 0): MetaPublication {
    const o = this.#origin(this.self);
    const full = sinceSeq <= 0 || sinceSeq < o.prunedThrough || sinceSeq > o.seq;
    const since = full ? 0 : sinceSeq;
    const entries: MetaEntry[] = [];
    for (const [key, m] of this.#byKey) {
      const c = m.get(this.self);
      if (!c || c.seq <= since) continue;
      if (full && c.retracted) continue;
      entries.push({
        key,
        seq: c.seq,
        at: Math.min(c.at, now),
        ...(c.meta ? { meta: c.meta } : {}),
        ...(c.stats ? { stats: c.stats } : {}),
        ...(c.retracted ? { retracted: true as const } : {}),
      });
    }
    entries.sort((a, b) => a.seq - b.seq);
    return { v: 1, from: this.self, incarnation: o.incarnation, sentAt: now, kind: full ? 'full' : 'delta', sinceSeq: since, seq: o.seq, entries };
  }

  /** Merge a publication received at local time `now` (validated here with the schema). */
  receive(raw: unknown, now: number): ReceiveResult {
    const parsed = parseMetaPublication(raw);
    if (!parsed.ok) return parsed;
    return this.merge(parsed.value, now);
  }

  /** Merge a publication already validated at the edge (parseMetaPublication). */
  merge(pub: MetaPublication, now: number): ReceiveResult {
    if (pub.from === this.self) return { ok: false, error: `meta publication: from is this node (${this.self})` };
    const o = this.#origin(pub.from);
    if (pub.incarnation < o.incarnation) return { ok: false, error: `meta publication: incarnation ${pub.incarnation} of ${pub.from} is older than ${o.incarnation}` };
    let removed = 0;
    if (pub.incarnation > o.incarnation) {
      // the origin restarted: its old contributions and sequence numbers are void
      for (const [key, m] of this.#byKey) {
        if (m.has(pub.from)) {
          this.#delete(key, pub.from);
          removed++;
        }
      }
      o.incarnation = pub.incarnation;
      o.seq = 0;
    }
    let applied = 0;
    let ignored = 0;
    let stale = 0;
    const listed = new Set<string>();
    for (const e of pub.entries) {
      listed.add(e.key);
      const localAt = now - Math.max(0, pub.sentAt - e.at);
      const cur = this.#byKey.get(e.key)?.get(pub.from);
      if (cur && cur.incarnation === pub.incarnation && cur.seq >= e.seq) {
        ignored++;
        continue;
      }
      if (now - localAt > this.dropAfterMs) {
        stale++;
        continue;
      }
      this.#set({
        node: pub.from,
        key: e.key,
        incarnation: pub.incarnation,
        seq: e.seq,
        at: e.at,
        localAt,
        ...(e.meta ? { meta: e.meta } : {}),
        ...(e.stats ? { stats: { ...e.stats } } : {}),
        ...(e.retracted ? { retracted: true } : {}),
      });
      applied++;
    }
    let need: number | undefined;
    if (pub.kind === 'full') {
      for (const [key, m] of this.#byKey) {
        const c = m.get(pub.from);
        if (c && !listed.has(key) && c.seq <= pub.seq) {
          this.#delete(key, pub.from);
          removed++;
        }
      }
      o.seq = Math.max(o.seq, pub.seq);
    } else if (pub.sinceSeq <= o.seq) {
      o.seq = Math.max(o.seq, pub.seq);
    } else {
      need = o.seq;
    }
    return { ok: true, applied, ignored, stale, removed, ...(need !== undefined ? { need } : {}) };
  }

  // (The loops that delete while they iterate a Map need no copy of it: a Map iterator skips
  // entries deleted before it reaches them, and these loops only delete the current one.)

  /** Drop contributions and tombstones older than dropAfterMs. Returns how many were dropped. */
  prune(now: number): number {
    let n = 0;
    for (const [key, m] of this.#byKey) {
      for (const c of m.values()) {
        if (now - c.localAt > this.dropAfterMs) {
          if (c.node === this.self) {
            const o = this.#origin(this.self);
            o.prunedThrough = Math.max(o.prunedThrough, c.seq);
          }
          this.#delete(key, c.node);
          n++;
        }
      }
    }
    return n;
  }
}
