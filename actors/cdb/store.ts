// The CDB persistent-definition state machine: what the Raft host applies committed entries to.
//
// Determinism: the state after applying a sequence of (index, data) entries depends only on that
// sequence — no clocks, no randomness, no iteration-order dependence (maps are sorted whenever
// their order is observable). Two replicas applying the same entries produce identical snapshots.
//
// Revisions: the store revision is the Raft index of the last applied entry (every entry, including
// no-ops and failed commands, advances it, so replicas agree on it). A successful mutation stamps
// the object with `revision = index` (and `createdRevision = index` on creation), so revisions are
// strictly increasing and a revision identifies one change.
//
// Compare-and-set: `expectRevision` on put/delete must equal the object's current revision
// (0 = the object must not exist: create-only); otherwise the result is `conflict` with the
// actual revision (0 when absent), so the client can re-read and retry.
//
// Exactly-once: a command may carry (client, seq) — each client numbers its requests and retries
// with the same seq. A duplicate of the client's latest seq returns the original result without
// effect (a retried CAS that actually committed does not come back as a conflict); an older seq
// is rejected as invalid. One outstanding request per client is assumed (Raft dissertation §6.3).
// The session table is bounded (least recently used sessions are evicted, deterministically).
//
// Validation: a command is validated in full (envelope and object schema) once, at the edge: the
// CDB service of the node that takes the request checks it (commands.ts parseRequest) before it
// proposes it (a follower's Raft group forwards the checked command to the leader); what is in
// the log was validated when it was proposed. apply() only checks the envelope's shape by
// hand (cheap, and what the store's own bookkeeping relies on: op, key, revisions, session), never
// an object's schema: a replica's result must not depend on which schema version it runs, and no
// replica should pay for a check the proposer already made.
//
// Watches: every successful mutation appends a Change to a bounded history (default 10 000).
// `changesSince(rev, filter)` returns the changes with revision > rev matching the filter, or
// `{compacted: true}` when some change after rev has been dropped — the watcher then re-lists
// (list() + revision) and resumes from that revision.
import { ID_PATTERN, OBJECT_TYPES, SUBTYPES, objectKey } from './schema.ts';
import type { CdbObject, ObjectDef, ObjectKey, ObjectType } from './schema.ts';

// ---------------------------------------------------------------------------------------------
// Commands (plain JSON, carried as the `data` string of a Raft entry)

export type PutCommand = { op: 'put'; object: ObjectDef; expectRevision?: number; client?: string; seq?: number };
export type DeleteCommand = { op: 'delete'; type: ObjectType; id: string; expectRevision?: number; client?: string; seq?: number };
export type StoreCommand = PutCommand | DeleteCommand;

export type StoreErrorCode = 'conflict' | 'not-found' | 'invalid';
export type StoreResult =
  | { ok: true; revision: number }
  /** `actual`: on conflict / not-found, the object's current revision (0 = absent). */
  | { ok: false; code: StoreErrorCode; message: string; actual?: number };

export function encodeStoreCommand(cmd: StoreCommand): string {
  return JSON.stringify(cmd);
}

// ---------------------------------------------------------------------------------------------
// Changes and filters

export type Change =
  | { revision: number; op: 'put'; key: ObjectKey; type: ObjectType; subtype?: string; id: string; created: boolean; object: CdbObject }
  | { revision: number; op: 'delete'; key: ObjectKey; type: ObjectType; subtype?: string; id: string; prevRevision: number };

/** All given fields must match; `prefix` is an id prefix. */
export interface ObjectFilter {
  type?: ObjectType;
  subtype?: string;
  id?: string;
  prefix?: string;
}

export function matchesFilter(f: ObjectFilter | undefined, o: { type: string; subtype?: string; id: string }): boolean {
  if (!f) return true;
  if (f.type !== undefined && o.type !== f.type) return false;
  if (f.subtype !== undefined && o.subtype !== f.subtype) return false;
  if (f.id !== undefined && o.id !== f.id) return false;
  if (f.prefix !== undefined && !o.id.startsWith(f.prefix)) return false;
  return true;
}

export type ChangesResult =
  /**
   * `revision`: the cursor to resume from next time — the store revision, or, when `more` is set
   * because the limit was reached, the revision of the last change returned.
   */
  | { compacted: false; changes: Change[]; revision: number; more: boolean }
  /** History after `fromRevision` is gone: re-list, then resume from the store revision. `oldest`: the smallest resumable fromRevision. */
  | { compacted: true; oldest: number; revision: number };

// ---------------------------------------------------------------------------------------------

export interface StoreOptions {
  /** Changes kept for watchers (default 10 000). */
  historyLimit?: number;
  /** Client sessions kept for duplicate detection (default 10 000). */
  maxSessions?: number;
}

interface Session {
  seq: number;
  result: StoreResult;
  /** index of the last command of this client (LRU eviction key) */
  lastIndex: number;
}

interface SnapshotV1 {
  v: 1;
  appliedIndex: number;
  historyLimit: number;
  maxSessions: number;
  compactedThrough: number;
  objects: CdbObject[];
  history: Change[];
  sessions: [string, Session][];
}

const PUT_FIELDS = new Set(['op', 'object', 'expectRevision', 'client', 'seq']);
const DELETE_FIELDS = new Set(['op', 'type', 'id', 'expectRevision', 'client', 'seq']);

const isRecord = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const isRevision = (x: unknown, min: number): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;

/** What the store needs of a type / subtype / id to key and filter an object; undefined when fine. */
function keyError(type: unknown, subtype: unknown, id: unknown): string | undefined {
  if (typeof type !== 'string' || !(OBJECT_TYPES as readonly string[]).includes(type)) return `type must be one of ${OBJECT_TYPES.join(', ')}`;
  const subs: readonly string[] = SUBTYPES[type as ObjectType];
  if (subs.length === 0 ? subtype !== undefined : typeof subtype !== 'string' || !subs.includes(subtype)) return `subtype of ${type} must be ${subs.length === 0 ? 'absent' : `one of ${subs.join(', ')}`}`;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) return 'id must be an object id';
  return undefined;
}

/**
 * The command envelope, checked by hand: op, the fields of that op and nothing else, revisions
 * and the session. Of a put's object only what keys it (type, subtype, id): its schema was
 * checked when the command was proposed. Undefined when the envelope is fine.
 */
function envelopeError(cmd: unknown): string | undefined {
  if (!isRecord(cmd)) return 'must be a JSON object';
  const op = cmd.op;
  if (op !== 'put' && op !== 'delete') return 'op must be one of put, delete';
  const fields = op === 'put' ? PUT_FIELDS : DELETE_FIELDS;
  for (const k in cmd) if (!fields.has(k)) return `unknown field ${JSON.stringify(k)}`;
  if (cmd.expectRevision !== undefined && !isRevision(cmd.expectRevision, 0)) return 'expectRevision must be an integer >= 0';
  if (cmd.client !== undefined && (typeof cmd.client !== 'string' || cmd.client.length === 0 || cmd.client.length > 128)) return 'client must be 1-128 characters';
  if (cmd.seq !== undefined && !isRevision(cmd.seq, 1)) return 'seq must be an integer >= 1';
  if (op === 'delete') {
    if (typeof cmd.type !== 'string' || !(OBJECT_TYPES as readonly string[]).includes(cmd.type)) return `type must be one of ${OBJECT_TYPES.join(', ')}`;
    return typeof cmd.id === 'string' && ID_PATTERN.test(cmd.id) ? undefined : 'id must be an object id';
  }
  const o = cmd.object;
  if (!isRecord(o)) return 'object must be a JSON object';
  const k = keyError(o.type, o.subtype, o.id);
  return k === undefined ? undefined : `object ${k}`;
}

/** Changes per chunk of the history's JSON kept between snapshots. */
const HISTORY_CHUNK = 256;

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** JSON with object keys sorted at every level: equal states give byte-identical strings. */
export function canonicalJson(v: unknown): string {
  // Plain JSON data (the store's state, snapshots) takes the hand-written path, several times
  // faster than a JSON.stringify replacer; anything else (toJSON, class instances, index-like
  // keys, whose order JavaScript fixes) is left to JSON.stringify, which defines the output.
  const fast = plainJson(v);
  return fast !== NOT_PLAIN ? (fast as string) : replacerJson(v);
}

const NOT_PLAIN = Symbol('not plain JSON');
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/** canonicalJson of plain data; undefined where JSON.stringify gives undefined; NOT_PLAIN to fall back. */
function plainJson(v: unknown): string | undefined | typeof NOT_PLAIN {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return NOT_PLAIN;
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          const x = plainJson(v[i]);
          if (x === NOT_PLAIN) return NOT_PLAIN;
          out += (i === 0 ? '' : ',') + (x === undefined ? 'null' : x);
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const o = v as Record<string, unknown>;
      if (typeof o.toJSON === 'function') return NOT_PLAIN;
      const keys = Object.keys(o);
      // Insertion sort: objects have few keys, and this beats sort() with a comparator.
      for (let i = 1; i < keys.length; i++) {
        const k = keys[i];
        let j = i - 1;
        while (j >= 0 && keys[j] > k) {
          keys[j + 1] = keys[j];
          j--;
        }
        keys[j + 1] = k;
      }
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const c = k.charCodeAt(0);
        if (c >= 48 && c <= 57 && INDEX_LIKE.test(k)) return NOT_PLAIN;
        const x = plainJson(o[k]);
        if (x === NOT_PLAIN) return NOT_PLAIN;
        if (x === undefined) continue;
        out += (out.length === 1 ? '' : ',') + keyJson(k) + x;
      }
      return out + '}';
    }
    default:
      return NOT_PLAIN;
  }
}

/** `"key":` for object keys seen before (the store's keys repeat endlessly); bounded. */
const keyJsonCache = new Map<string, string>();
function keyJson(k: string): string {
  let j = keyJsonCache.get(k);
  if (j === undefined) {
    j = JSON.stringify(k) + ':';
    if (keyJsonCache.size < 4096) keyJsonCache.set(k, j);
  }
  return j;
}

function replacerJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val !== null && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o).sort(cmp)) out[k] = o[k];
      return out;
    }
    return val;
  });
}

/**
 * canonicalJson of a frozen value, computed once: stored objects and changes never change once
 * made, so a snapshot re-serializes only what was added since the last one and copies the rest.
 */
const frozenJson = new WeakMap<object, string>();
function canonicalJsonOfFrozen(v: object): string {
  let s = frozenJson.get(v);
  if (s === undefined) {
    s = storedJson(v) ?? canonicalJson(v);
    if (Object.isFrozen(v)) frozenJson.set(v, s);
  }
  return s;
}

const J = JSON.stringify;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string';

function keyCount(o: object): number {
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k)) n++;
  return n;
}

/**
 * canonicalJson of a stored object or a put change, written out with their keys in sorted order
 * (twice as fast as the generic walk; these are most of a snapshot). Anything not of exactly
 * these shapes (e.g. restored from an odd snapshot) gives undefined: the generic walk then.
 */
function storedJson(v: object): string | undefined {
  const c = v as Record<string, unknown>;
  if (c.op === 'put' && c.object !== null && typeof c.object === 'object') {
    const sub = c.subtype;
    if (keyCount(c) !== (sub === undefined ? 7 : 8) || !isNum(c.revision) || typeof c.created !== 'boolean' || !isStr(c.id) || !isStr(c.key) || !isStr(c.type) || (sub !== undefined && !isStr(sub))) return undefined;
    const obj = objectJson(c.object as Record<string, unknown>);
    if (obj === undefined) return undefined;
    return `{"created":${c.created},"id":${J(c.id)},"key":${J(c.key)},"object":${obj},"op":"put","revision":${c.revision}${sub === undefined ? '' : `,"subtype":${J(sub)}`},"type":${J(c.type)}}`;
  }
  return c.spec !== undefined ? objectJson(c) : undefined;
}

/** canonicalJson of a stored object (type, subtype?, id, spec, revision, createdRevision), or undefined. */
function objectJson(o: Record<string, unknown>): string | undefined {
  const sub = o.subtype;
  if (keyCount(o) !== (sub === undefined ? 5 : 6) || !isNum(o.createdRevision) || !isNum(o.revision) || !isStr(o.id) || !isStr(o.type) || (sub !== undefined && !isStr(sub))) return undefined;
  if (o.spec === null || typeof o.spec !== 'object') return undefined;
  const spec = plainJson(o.spec);
  if (typeof spec !== 'string') return undefined;
  return `{"createdRevision":${o.createdRevision},"id":${J(o.id)},"revision":${o.revision},"spec":${spec}${sub === undefined ? '' : `,"subtype":${J(sub)}`},"type":${J(o.type)}}`;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) deepFreeze(v[i]);
    } else {
      const o = v as Record<string, unknown>;
      for (const k in o) if (Object.hasOwn(o, k)) deepFreeze(o[k]);
    }
  }
  return v;
}

export class CdbStore {
  #objects = new Map<ObjectKey, CdbObject>();
  /** history[historyStart..] are the retained changes, in revision order */
  #history: Change[] = [];
  #historyStart = 0;
  /** Position of #history[0] in the sequence of all changes recorded since the last restore. */
  #historyBase = 0;
  /**
   * The JSON of full chunks of HISTORY_CHUNK consecutive changes (by chunk number: position /
   * HISTORY_CHUNK), made by a snapshot and reused by the later ones while the chunk is retained.
   */
  #chunkJson = new Map<number, string>();
  /** revision of the newest change dropped from the history (0: none dropped) */
  #compactedThrough = 0;
  #sessions = new Map<string, Session>();
  #appliedIndex = 0;
  #historyLimit: number;
  #maxSessions: number;

  constructor(opts: StoreOptions = {}) {
    this.#historyLimit = Math.max(1, opts.historyLimit ?? 10_000);
    this.#maxSessions = Math.max(1, opts.maxSessions ?? 10_000);
  }

  /** The store revision: the Raft index of the last applied entry. */
  get revision(): number {
    return this.#appliedIndex;
  }

  get size(): number {
    return this.#objects.size;
  }

  // -------------------------------------------------------------------------------------------
  // Applying

  /**
   * Apply the committed Raft entry at `index` with payload `data`. Returns undefined for entries
   * already applied (index ≤ revision: replay after restart) and for empty entries (leader no-op,
   * or entries of other kinds the host passes as ''); such entries still advance the revision.
   * Malformed data is deterministic `invalid` (every replica answers the same).
   */
  apply(index: number, data: string): StoreResult | undefined {
    if (!Number.isSafeInteger(index) || index <= this.#appliedIndex) return undefined;
    if (data === '') {
      this.#appliedIndex = index;
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.#appliedIndex = index;
      return { ok: false, code: 'invalid', message: 'command is not valid JSON' };
    }
    return this.#applyCommand(index, parsed, true);
  }

  /** Apply an already-decoded command at `index` (its envelope checked here; see Validation above). */
  applyCommand(index: number, cmd: unknown): StoreResult | undefined {
    return this.#applyCommand(index, cmd, false);
  }

  /** `owned`: the command was parsed here, so a put's object can become the stored object as is. */
  #applyCommand(index: number, cmd: unknown, owned: boolean): StoreResult | undefined {
    if (!Number.isSafeInteger(index) || index <= this.#appliedIndex) return undefined;
    this.#appliedIndex = index;
    const bad = envelopeError(cmd);
    if (bad !== undefined) return { ok: false, code: 'invalid', message: `command: ${bad}` };
    const c = cmd as StoreCommand;
    const client = c.client;
    if (client !== undefined) {
      if (c.seq === undefined) return { ok: false, code: 'invalid', message: 'command: seq is required with client' };
      const s = this.#sessions.get(client);
      if (s && c.seq === s.seq) {
        s.lastIndex = index;
        return s.result;
      }
      if (s && c.seq < s.seq) return { ok: false, code: 'invalid', message: `request ${c.seq} of client ${client} superseded by ${s.seq}` };
    }
    let result: StoreResult;
    if (c.op === 'put') {
      result = this.#put(index, c.object, c.expectRevision, owned);
    } else {
      result = this.#delete(index, c.type, c.id, c.expectRevision);
    }
    if (client !== undefined && c.seq !== undefined) this.#remember(client, c.seq, result, index);
    return result;
  }

  #put(index: number, def: ObjectDef, expect: number | undefined, owned: boolean): StoreResult {
    const key = objectKey(def.type, def.id);
    const cur = this.#objects.get(key);
    const actual = cur?.revision ?? 0;
    if (expect !== undefined && expect !== actual) {
      return {
        ok: false,
        code: 'conflict',
        actual,
        message: expect === 0 ? `${key} already exists (revision ${actual})` : cur ? `${key} is at revision ${actual}, expected ${expect}` : `${key} does not exist, expected revision ${expect}`,
      };
    }
    if (cur && cur.subtype !== def.subtype) {
      return { ok: false, code: 'invalid', message: `${key} is a ${cur.type}/${cur.subtype}; the subtype cannot change (delete it first)` };
    }
    const createdRevision = cur ? cur.createdRevision : index;
    let obj: CdbObject;
    if (owned && !Object.hasOwn(def, 'revision') && !Object.hasOwn(def, 'createdRevision')) {
      // Parsed from the entry by apply(): nobody else holds it, and the fields go last as below.
      const o = def as CdbObject;
      o.revision = index;
      o.createdRevision = createdRevision;
      obj = deepFreeze(o);
    } else {
      const { revision: _r, createdRevision: _c, ...rest } = def;
      obj = deepFreeze({ ...rest, revision: index, createdRevision } as CdbObject);
    }
    this.#objects.set(key, obj);
    const type = obj.type;
    const id = obj.id;
    const created = !cur;
    this.#record(
      Object.freeze(
        obj.subtype !== undefined
          ? { revision: index, op: 'put' as const, key, type, subtype: obj.subtype, id, created, object: obj }
          : { revision: index, op: 'put' as const, key, type, id, created, object: obj },
      ),
    );
    return { ok: true, revision: index };
  }

  #delete(index: number, type: ObjectType, id: string, expect: number | undefined): StoreResult {
    const key = objectKey(type, id);
    const cur = this.#objects.get(key);
    if (!cur) {
      if (expect !== undefined && expect !== 0) return { ok: false, code: 'conflict', actual: 0, message: `${key} does not exist, expected revision ${expect}` };
      return { ok: false, code: 'not-found', actual: 0, message: `${key} does not exist` };
    }
    if (expect !== undefined && expect !== cur.revision) {
      return { ok: false, code: 'conflict', actual: cur.revision, message: `${key} is at revision ${cur.revision}, expected ${expect}` };
    }
    this.#objects.delete(key);
    this.#record(deepFreeze({ revision: index, op: 'delete', key, type, ...(cur.subtype !== undefined ? { subtype: cur.subtype } : {}), id, prevRevision: cur.revision }));
    return { ok: true, revision: index };
  }

  #record(ch: Change): void {
    this.#history.push(ch);
    while (this.#history.length - this.#historyStart > this.#historyLimit) {
      this.#compactedThrough = this.#history[this.#historyStart].revision;
      this.#historyStart++;
    }
    if (this.#historyStart > 1024 && this.#historyStart * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#historyStart);
      this.#historyBase += this.#historyStart;
      this.#historyStart = 0;
    }
  }

  #remember(client: string, seq: number, result: StoreResult, index: number): void {
    this.#sessions.delete(client);
    this.#sessions.set(client, { seq, result, lastIndex: index });
    if (this.#sessions.size > this.#maxSessions) {
      // Evict the least recently used session (smallest lastIndex; ties by client id).
      let victim: string | undefined;
      let best = Infinity;
      for (const [c, s] of this.#sessions) {
        if (s.lastIndex < best || (s.lastIndex === best && victim !== undefined && c < victim)) {
          best = s.lastIndex;
          victim = c;
        }
      }
      if (victim !== undefined) this.#sessions.delete(victim);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  get(type: ObjectType | string, id: string): CdbObject | undefined {
    return this.#objects.get(objectKey(type, id));
  }

  /** Objects matching the filter, sorted by key. The snapshot's revision is `this.revision`. */
  list(filter: ObjectFilter = {}): CdbObject[] {
    const out: CdbObject[] = [];
    const keys = [...this.#objects.keys()].sort(cmp);
    for (const k of keys) {
      const o = this.#objects.get(k)!;
      if (matchesFilter(filter, o)) out.push(o);
    }
    return out;
  }

  /** Smallest fromRevision changesSince can serve (watchers at or after it can resume). */
  get oldestResumable(): number {
    return this.#compactedThrough;
  }

  /** The changes after `fromRevision` (exclusive) matching the filter, at most `limit` of them. */
  changesSince(fromRevision: number, filter: ObjectFilter = {}, limit = Infinity): ChangesResult {
    if (fromRevision < this.#compactedThrough) return { compacted: true, oldest: this.#compactedThrough, revision: this.#appliedIndex };
    // binary search for the first retained change with revision > fromRevision
    let lo = this.#historyStart;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#history[mid].revision <= fromRevision) lo = mid + 1;
      else hi = mid;
    }
    const changes: Change[] = [];
    for (let i = lo; i < this.#history.length; i++) {
      const ch = this.#history[i];
      if (!matchesFilter(filter, ch)) continue;
      if (changes.length >= limit) return { compacted: false, changes, revision: changes[changes.length - 1].revision, more: true };
      changes.push(ch);
    }
    return { compacted: false, changes, revision: Math.max(this.#appliedIndex, fromRevision), more: false };
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots

  /**
   * Deterministic serialization of the whole state (objects, retained history, sessions): the
   * canonicalJson of a SnapshotV1, byte for byte. Objects and changes are frozen, so each one's
   * JSON is made once and reused by every later snapshot (a snapshot carries up to historyLimit
   * changes; only those since the previous one are serialized anew). Sessions are mutable and few.
   */
  snapshot(): string {
    const objects = this.list();
    const objs = new Array<string>(objects.length);
    for (let i = 0; i < objects.length; i++) objs[i] = canonicalJsonOfFrozen(objects[i]);
    const history = this.#historyJson();
    // insertion order is the LRU order, which affects eviction ties only through lastIndex;
    // sorted by client for a canonical form.
    const sessions: SnapshotV1['sessions'] = [...this.#sessions.entries()].sort(([a], [b]) => cmp(a, b));
    // Keys in canonicalJson's (sorted) order.
    return (
      `{"appliedIndex":${JSON.stringify(this.#appliedIndex)},"compactedThrough":${JSON.stringify(this.#compactedThrough)}` +
      `,"history":[${history}],"historyLimit":${JSON.stringify(this.#historyLimit)},"maxSessions":${JSON.stringify(this.#maxSessions)}` +
      `,"objects":[${objs.join(',')}],"sessions":${canonicalJson(sessions)},"v":1}`
    );
  }

  /**
   * The retained history as comma-separated JSON: full chunks come from #chunkJson (made once),
   * only the partial chunks at either end are joined anew. The pieces are concatenated, not
   * copied, until the string is read.
   */
  #historyJson(): string {
    const h = this.#history;
    const base = this.#historyBase;
    const start = base + this.#historyStart;
    const end = base + h.length;
    const firstChunk = Math.floor(start / HISTORY_CHUNK);
    for (const k of this.#chunkJson.keys()) if (k < firstChunk) this.#chunkJson.delete(k);
    const join = (from: number, to: number): string => {
      const parts = new Array<string>(to - from);
      for (let p = from; p < to; p++) parts[p - from] = canonicalJsonOfFrozen(h[p - base]);
      return parts.join(',');
    };
    let out = '';
    for (let p = start; p < end; ) {
      const k = Math.floor(p / HISTORY_CHUNK);
      const chunkEnd = (k + 1) * HISTORY_CHUNK;
      let piece: string;
      if (p === k * HISTORY_CHUNK && chunkEnd <= end) {
        piece = this.#chunkJson.get(k) ?? join(p, chunkEnd);
        this.#chunkJson.set(k, piece);
      } else piece = join(p, Math.min(chunkEnd, end));
      out = p === start ? piece : out + ',' + piece;
      p = Math.min(chunkEnd, end);
    }
    return out;
  }

  /** Replace the state with a snapshot (from snapshot(); '' = empty store). */
  restore(s: string): void {
    if (s === '') {
      this.#objects = new Map();
      this.#history = [];
      this.#historyStart = 0;
      this.#historyBase = 0;
      this.#chunkJson = new Map();
      this.#compactedThrough = 0;
      this.#sessions = new Map();
      this.#appliedIndex = 0;
      return;
    }
    const o = JSON.parse(s) as SnapshotV1;
    if (o.v !== 1) throw new Error(`cdb store: unsupported snapshot version ${String(o.v)}`);
    this.#appliedIndex = o.appliedIndex;
    this.#historyLimit = o.historyLimit;
    this.#maxSessions = o.maxSessions;
    this.#compactedThrough = o.compactedThrough;
    this.#objects = new Map(o.objects.map((x) => [objectKey(x.type, x.id), deepFreeze(x)]));
    // a put change shares its object with the live object when still current (saves memory)
    this.#history = o.history.map((ch) => {
      if (ch.op === 'put') {
        const live = this.#objects.get(ch.key);
        if (live && live.revision === ch.object.revision) return deepFreeze({ ...ch, object: live });
      }
      return deepFreeze(ch);
    });
    this.#historyStart = 0;
    this.#historyBase = 0;
    this.#chunkJson = new Map();
    this.#sessions = new Map(o.sessions.map(([c, sess]) => [c, { ...sess }]));
  }
}
