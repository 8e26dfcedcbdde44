// Validation of untrusted Raft messages (frames from the network). Every
// field is checked, unknown fields are rejected (strict objects), so the core
// can trust the shapes it is given. Semantic checks the core cannot do
// cheaply later (entry indexes contiguous, termless only for forwards) are
// done here too.
//
// Hand-written (no schema library) because it runs on every frame: it is the
// hot path of a busy node and of the simulator. It returns a fresh copy built
// from the checked fields only, so the caller never shares structure with the
// sender (the simulator relies on that instead of deep-copying Raft frames).
// `raftMessageSchema` (zod) is the same contract, declaratively; tests check
// the two agree.
import { z } from 'zod';
import type { ConfState, Entry, Message, Snapshot } from './types.ts';

const MAX_ID = 256;
const MAX_CTX = 1024;

class Invalid extends Error {}

function fail(path: string, what: string): never {
  throw new Invalid(`invalid raft message at ${path}: ${what}`);
}

function obj(x: unknown, path: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(path, 'expected object');
  return x as Record<string, unknown>;
}

/** Strict objects: exactly the expected keys (all required). */
function keys(o: Record<string, unknown>, n: number, path: string): void {
  let k = 0;
  for (const _ in o) k++;
  if (k !== n) fail(path, `expected exactly ${n} fields, got ${k} (unrecognized or missing keys)`);
}

function nat(o: Record<string, unknown>, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(path ? `${path}.${k}` : k, 'expected a non-negative integer');
  return v;
}

function bool(o: Record<string, unknown>, k: string, path: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') fail(path ? `${path}.${k}` : k, 'expected boolean');
  return v;
}

function str(o: Record<string, unknown>, k: string, path: string, min: number, max: number): string {
  const v = o[k];
  if (typeof v !== 'string') fail(path ? `${path}.${k}` : k, 'expected string');
  if (v.length < min || v.length > max) fail(path ? `${path}.${k}` : k, `length must be in [${min}, ${max}]`);
  return v;
}

function ids(x: unknown, path: string): string[] {
  if (!Array.isArray(x)) fail(path, 'expected array');
  const out: string[] = new Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v: unknown = x[i];
    if (typeof v !== 'string' || v.length < 1 || v.length > MAX_ID) fail(`${path}.${i}`, 'expected node id');
    out[i] = v;
  }
  return out;
}

function entries(x: unknown, path: string): Entry[] {
  if (!Array.isArray(x)) fail(path, 'expected array');
  const out: Entry[] = new Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = `${path}.${i}`;
    const e = obj(x[i], p);
    keys(e, 4, p);
    const type = e.type;
    if (type !== 'normal' && type !== 'conf') fail(`${p}.type`, "expected 'normal' or 'conf'");
    out[i] = { term: nat(e, 'term', p), index: nat(e, 'index', p), type, data: str(e, 'data', p, 0, Infinity) };
  }
  return out;
}

function snapshot(x: unknown): Snapshot {
  const s = obj(x, 'snapshot');
  keys(s, 2, 'snapshot');
  const m = obj(s.meta, 'snapshot.meta');
  keys(m, 3, 'snapshot.meta');
  const c = obj(m.conf, 'snapshot.meta.conf');
  keys(c, 2, 'snapshot.meta.conf');
  const conf: ConfState = { voters: ids(c.voters, 'snapshot.meta.conf.voters'), learners: ids(c.learners, 'snapshot.meta.conf.learners') };
  return { meta: { index: nat(m, 'index', 'snapshot.meta'), term: nat(m, 'term', 'snapshot.meta'), conf }, data: str(s, 'data', 'snapshot', 0, Infinity) };
}

/** Every field was read (missing ones fail by name); now refuse extra ones. */
function strict<T>(o: Record<string, unknown>, n: number, m: T): T {
  keys(o, n, '(root)');
  return m;
}

/** Shape check and copy; throws Invalid. */
function shape(x: unknown): Message {
  const o = obj(x, '(root)');
  const type = o.type;
  const from = str(o, 'from', '', 1, MAX_ID);
  const to = str(o, 'to', '', 1, MAX_ID);
  const term = nat(o, 'term', '');
  switch (type) {
    case 'append':
      return strict(o, 8, { type, from, to, term, index: nat(o, 'index', ''), logTerm: nat(o, 'logTerm', ''), entries: entries(o.entries, 'entries'), commit: nat(o, 'commit', '') });
    case 'appendResp':
      return strict(o, 8, { type, from, to, term, index: nat(o, 'index', ''), reject: bool(o, 'reject', ''), rejectHint: nat(o, 'rejectHint', ''), logTerm: nat(o, 'logTerm', '') });
    case 'vote':
    case 'preVote':
      return strict(o, 7, { type, from, to, term, index: nat(o, 'index', ''), logTerm: nat(o, 'logTerm', ''), transfer: bool(o, 'transfer', '') });
    case 'voteResp':
    case 'preVoteResp':
      return strict(o, 5, { type, from, to, term, reject: bool(o, 'reject', '') });
    case 'heartbeat':
      return strict(o, 6, { type, from, to, term, commit: nat(o, 'commit', ''), context: str(o, 'context', '', 0, MAX_CTX) });
    case 'heartbeatResp':
      return strict(o, 5, { type, from, to, term, context: str(o, 'context', '', 0, MAX_CTX) });
    case 'snapshot':
      return strict(o, 5, { type, from, to, term, snapshot: snapshot(o.snapshot) });
    case 'timeoutNow':
      return strict(o, 4, { type, from, to, term });
    case 'readIndex':
      return strict(o, 5, { type, from, to, term, context: str(o, 'context', '', 1, MAX_CTX) });
    case 'readIndexResp':
      return strict(o, 6, { type, from, to, term, context: str(o, 'context', '', 0, MAX_CTX), index: nat(o, 'index', '') });
    case 'transferLeader':
      return strict(o, 5, { type, from, to, term, target: str(o, 'target', '', 1, MAX_ID) });
    case 'propose': {
      const es = entries(o.entries, 'entries');
      if (es.length === 0) fail('entries', 'expected at least one entry');
      return strict(o, 5, { type, from, to, term, entries: es });
    }
    default:
      return fail('type', 'unknown message type');
  }
}

const TERMLESS = new Set(['propose', 'readIndex', 'transferLeader']);

export type ParseResult = { ok: true; msg: Message } | { ok: false; error: string };

export function parseRaftMessage(x: unknown): ParseResult {
  let m: Message;
  try {
    m = shape(x);
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
  if (m.from === m.to) return { ok: false, error: 'invalid raft message: from === to' };
  // Only forwarded requests may be termless: a term-0 append would bypass term checks.
  if (m.term === 0 && !TERMLESS.has(m.type)) return { ok: false, error: `invalid raft message: ${m.type} with term 0` };
  if (m.type === 'append') {
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i];
      if (e.index !== m.index + 1 + i) return { ok: false, error: `invalid raft message: entries[${i}].index ${e.index}, expected ${m.index + 1 + i}` };
      if (e.term > m.term || e.term < (i === 0 ? m.logTerm : m.entries[i - 1].term)) {
        return { ok: false, error: `invalid raft message: entries[${i}].term ${e.term} out of order` };
      }
    }
    if (m.logTerm > m.term) return { ok: false, error: 'invalid raft message: logTerm above term' };
  }
  if ((m.type === 'vote' || m.type === 'preVote') && m.logTerm > m.term) return { ok: false, error: 'invalid raft message: logTerm above term' };
  if (m.type === 'snapshot' && m.snapshot.meta.index === 0) return { ok: false, error: 'invalid raft message: empty snapshot' };
  return { ok: true, msg: m };
}

// ---- the same shapes, declaratively (reference for tests and documentation) ----

const nodeId = z.string().min(1).max(MAX_ID);
const zNat = z.number().int().nonnegative();
const ctx = z.string().max(MAX_CTX);
const entry = z.strictObject({ term: zNat, index: zNat, type: z.enum(['normal', 'conf']), data: z.string() });
const confState = z.strictObject({ voters: z.array(nodeId), learners: z.array(nodeId) });
const zSnapshot = z.strictObject({ meta: z.strictObject({ index: zNat, term: zNat, conf: confState }), data: z.string() });
const base = { from: nodeId, to: nodeId, term: zNat };

export const raftMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('append'), ...base, index: zNat, logTerm: zNat, entries: z.array(entry), commit: zNat }),
  z.strictObject({ type: z.literal('appendResp'), ...base, index: zNat, reject: z.boolean(), rejectHint: zNat, logTerm: zNat }),
  z.strictObject({ type: z.enum(['vote', 'preVote']), ...base, index: zNat, logTerm: zNat, transfer: z.boolean() }),
  z.strictObject({ type: z.enum(['voteResp', 'preVoteResp']), ...base, reject: z.boolean() }),
  z.strictObject({ type: z.literal('heartbeat'), ...base, commit: zNat, context: ctx }),
  z.strictObject({ type: z.literal('heartbeatResp'), ...base, context: ctx }),
  z.strictObject({ type: z.literal('snapshot'), ...base, snapshot: zSnapshot }),
  z.strictObject({ type: z.literal('timeoutNow'), ...base }),
  z.strictObject({ type: z.literal('readIndex'), ...base, context: ctx.min(1) }),
  z.strictObject({ type: z.literal('readIndexResp'), ...base, context: ctx, index: zNat }),
  z.strictObject({ type: z.literal('transferLeader'), ...base, target: nodeId }),
  z.strictObject({ type: z.literal('propose'), ...base, entries: z.array(entry).min(1) }),
]);
