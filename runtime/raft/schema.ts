// Validation of untrusted Raft messages (frames from the network). Every
// field is checked, unknown fields are rejected (strict objects), so the core
// can trust the shapes it is given. Semantic checks the core cannot do
// cheaply later (entry indexes contiguous, termless only for forwards) are
// done here too.
import { z } from 'zod';
import type { Message } from './types.ts';

const nodeId = z.string().min(1).max(256);
const nat = z.number().int().nonnegative();
const ctx = z.string().max(1024);

const entry = z.strictObject({
  term: nat,
  index: nat,
  type: z.enum(['normal', 'conf']),
  data: z.string(),
});

const confState = z.strictObject({
  voters: z.array(nodeId),
  learners: z.array(nodeId),
});

const snapshot = z.strictObject({
  meta: z.strictObject({ index: nat, term: nat, conf: confState }),
  data: z.string(),
});

const base = { from: nodeId, to: nodeId, term: nat };

const messageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('append'), ...base, index: nat, logTerm: nat, entries: z.array(entry), commit: nat }),
  z.strictObject({ type: z.literal('appendResp'), ...base, index: nat, reject: z.boolean(), rejectHint: nat, logTerm: nat }),
  z.strictObject({ type: z.enum(['vote', 'preVote']), ...base, index: nat, logTerm: nat, transfer: z.boolean() }),
  z.strictObject({ type: z.enum(['voteResp', 'preVoteResp']), ...base, reject: z.boolean() }),
  z.strictObject({ type: z.literal('heartbeat'), ...base, commit: nat, context: ctx }),
  z.strictObject({ type: z.literal('heartbeatResp'), ...base, context: ctx }),
  z.strictObject({ type: z.literal('snapshot'), ...base, snapshot }),
  z.strictObject({ type: z.literal('timeoutNow'), ...base }),
  z.strictObject({ type: z.literal('readIndex'), ...base, context: ctx.min(1) }),
  z.strictObject({ type: z.literal('readIndexResp'), ...base, context: ctx, index: nat }),
  z.strictObject({ type: z.literal('transferLeader'), ...base, target: nodeId }),
  z.strictObject({ type: z.literal('propose'), ...base, entries: z.array(entry).min(1) }),
]);

const TERMLESS = new Set(['propose', 'readIndex', 'transferLeader']);

export type ParseResult = { ok: true; msg: Message } | { ok: false; error: string };

export function parseRaftMessage(x: unknown): ParseResult {
  const r = messageSchema.safeParse(x);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return { ok: false, error: `invalid raft message at ${path}: ${issue ? issue.message : 'unknown error'}` };
  }
  const m = r.data as Message;
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
