// The CDB client API: requests the CLI (and services) send, validated by the server before use.
//
//   get     { op: 'get', type, id }                                  → { ok, revision, object? }
//   put     { op: 'put', object, expectRevision? }                   → StoreResult (goes through Raft)
//   delete  { op: 'delete', type, id, expectRevision? }              → StoreResult (goes through Raft)
//   ls      { op: 'ls', type?, subtype?, prefix? }                   → { ok, revision, objects }
//   watch   { op: 'watch', fromRevision, type?, subtype?, id?, prefix?, limit? }
//                                                                    → ChangesResult (then streamed changes)
//   meta    { op: 'meta', type, id }                                 → { ok, view } (merged meta/stats)
//
// A put's store command (the object's JSON and a few fields) may take at most
// raftSizeLimits(frame limit).maxJsonProposalBytes (about 511 KiB with 1 MiB
// frames): one write must fit one Raft message between nodes. A larger one is
// refused as `invalid` (service.ts).
//
// put / delete may carry (client, seq) for exactly-once retries (see store.ts). Every request may
// carry a `requestId` the server echoes in its response.
import { z } from 'zod';
import { ID_PATTERN, OBJECT_TYPES, SUBTYPES, check, idSchema, validateObject } from './schema.ts';
import type { CdbObject, ObjectDef, Validation } from './schema.ts';
import type { ChangesResult, ObjectFilter, StoreCommand, StoreResult } from './store.ts';
import type { ObjectView } from './meta.ts';

const revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const ALL_SUBTYPES = [...new Set(Object.values(SUBTYPES).flat())] as [string, ...string[]];
const common = { requestId: z.string().min(1).max(128).optional() };
const session = {
  client: z.string().min(1).max(128).optional(),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
};
const prefix = z.string().max(63).regex(/^[a-z0-9._-]*$/, 'must be an id prefix (a-z 0-9 . _ -)');

function subtypeFits(r: { type?: string; subtype?: string }): boolean {
  if (r.subtype === undefined) return true;
  if (r.type === undefined) return true;
  return (SUBTYPES[r.type as keyof typeof SUBTYPES] as readonly string[]).includes(r.subtype);
}
const subtypeMsg = { message: 'does not belong to the type', path: ['subtype'] };

/** `linearizable` (default): a ReadIndex barrier first; `stale`: this node's copy, possibly behind. */
const consistency = { consistency: z.enum(['linearizable', 'stale']).optional() };

export const getRequestSchema = z.strictObject({ op: z.literal('get'), type: z.enum(OBJECT_TYPES), id: idSchema, ...consistency, ...common });

/** A put without its object's schema (parseRequest runs validateObject on the object once). */
const putEnvelopeSchema = z
  .strictObject({ op: z.literal('put'), object: z.unknown(), expectRevision: revision.optional(), ...session, ...common })
  .refine((r) => (r.client === undefined) === (r.seq === undefined), { message: 'must be given together with client', path: ['seq'] });

export const putRequestSchema = z
  .strictObject({ op: z.literal('put'), object: z.unknown(), expectRevision: revision.optional(), ...session, ...common })
  .superRefine((r, ctx) => {
    const v = validateObject(r.object);
    if (!v.ok) ctx.addIssue({ code: 'custom', path: ['object'], message: v.error });
    if ((r.client === undefined) !== (r.seq === undefined)) ctx.addIssue({ code: 'custom', path: ['seq'], message: 'must be given together with client' });
  });

export const deleteRequestSchema = z
  .strictObject({ op: z.literal('delete'), type: z.enum(OBJECT_TYPES), id: idSchema, expectRevision: revision.optional(), ...session, ...common })
  .refine((r) => (r.client === undefined) === (r.seq === undefined), { message: 'must be given together with client', path: ['seq'] });

export const lsRequestSchema = z
  .strictObject({ op: z.literal('ls'), type: z.enum(OBJECT_TYPES).optional(), subtype: z.enum(ALL_SUBTYPES).optional(), prefix: prefix.optional(), ...consistency, ...common })
  .refine(subtypeFits, subtypeMsg);

export const watchRequestSchema = z
  .strictObject({
    op: z.literal('watch'),
    /** changes after this revision are delivered (0: from the beginning of the retained history) */
    fromRevision: revision,
    type: z.enum(OBJECT_TYPES).optional(),
    subtype: z.enum(ALL_SUBTYPES).optional(),
    id: idSchema.optional(),
    prefix: prefix.optional(),
    /** max changes per response batch */
    limit: z.number().int().min(1).max(10_000).optional(),
    /** how long the server may hold the request open waiting for a change (long poll) */
    waitMs: z.number().int().min(0).max(60_000).optional(),
    ...common,
  })
  .refine(subtypeFits, subtypeMsg);

export const metaRequestSchema = z.strictObject({ op: z.literal('meta'), type: z.enum(OBJECT_TYPES), id: idSchema, ...common });

export const requestSchema = z.discriminatedUnion('op', [getRequestSchema, putRequestSchema, deleteRequestSchema, lsRequestSchema, watchRequestSchema, metaRequestSchema]);

export type GetRequest = z.output<typeof getRequestSchema>;
/** `object` is validated (an ObjectDef) once parseRequest succeeds. */
export type PutRequest = Omit<z.output<typeof putRequestSchema>, 'object'> & { object: ObjectDef };
export type DeleteRequest = z.output<typeof deleteRequestSchema>;
export type LsRequest = z.output<typeof lsRequestSchema>;
export type WatchRequest = z.output<typeof watchRequestSchema>;
export type MetaRequest = z.output<typeof metaRequestSchema>;
export type CdbRequest = GetRequest | PutRequest | DeleteRequest | LsRequest | WatchRequest | MetaRequest;

/**
 * Validate a client request; the error is one line naming the field. The common requests (get,
 * put, delete) take a hand-written check of their envelope first, which accepts well-formed
 * ones and copies them as the schema would (same fields, same order); anything it does not
 * accept goes through the schemas (parseRequestBySchema), which have the last word. A put's
 * object is always checked by its schema (validateObject).
 */
export function parseRequest(x: unknown): Validation<CdbRequest> {
  const env = wellFormedEnvelope(x);
  if (env === undefined) return parseRequestBySchema(x);
  if (env.op !== 'put') return { ok: true, value: env as CdbRequest };
  const v = validateObject(env.object);
  if (!v.ok) return { ok: false, error: `put: ${v.error}` };
  env.object = v.value;
  return { ok: true, value: env as CdbRequest };
}

const CONSISTENCY: readonly unknown[] = ['linearizable', 'stale'];
const ENVELOPE_FIELDS: Record<string, readonly string[]> = {
  get: ['op', 'type', 'id', 'consistency', 'requestId'],
  put: ['op', 'object', 'expectRevision', 'client', 'seq', 'requestId'],
  delete: ['op', 'type', 'id', 'expectRevision', 'client', 'seq', 'requestId'],
};
const isText = (x: unknown): x is string => typeof x === 'string' && x.length >= 1 && x.length <= 128;
const isInt = (x: unknown, min: number): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;

/** A copy of a get/put/delete request whose envelope certainly passes its schema, else undefined. */
function wellFormedEnvelope(x: unknown): Record<string, unknown> | undefined {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || Object.getPrototypeOf(x) !== Object.prototype) return undefined;
  const r = x as Record<string, unknown>;
  const op = r.op;
  if (op !== 'get' && op !== 'put' && op !== 'delete') return undefined;
  const fields = ENVELOPE_FIELDS[op];
  for (const k in r) if (!fields.includes(k) || r[k] === undefined) return undefined;
  if (r.requestId !== undefined && !isText(r.requestId)) return undefined;
  if (op === 'get' || op === 'delete') {
    if (typeof r.type !== 'string' || !(OBJECT_TYPES as readonly string[]).includes(r.type) || typeof r.id !== 'string' || !ID_PATTERN.test(r.id)) return undefined;
  }
  if (op === 'get') {
    if (r.consistency !== undefined && !CONSISTENCY.includes(r.consistency)) return undefined;
  } else {
    if (op === 'put' && r.object === undefined) return undefined;
    if (r.expectRevision !== undefined && !isInt(r.expectRevision, 0)) return undefined;
    if ((r.client === undefined) !== (r.seq === undefined)) return undefined;
    if (r.client !== undefined && (!isText(r.client) || !isInt(r.seq, 1))) return undefined;
  }
  // The schema's output: its fields in its order.
  const out: Record<string, unknown> = {};
  for (const k of fields) if (r[k] !== undefined) out[k] = r[k];
  return out;
}

/** parseRequest by the schemas alone (the reference the fast path is tested against). */
export function parseRequestBySchema(x: unknown): Validation<CdbRequest> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return { ok: false, error: 'request must be a JSON object' };
  const op = (x as { op?: unknown }).op;
  // put: the envelope here, the object below (validateObject once: it is most of the cost)
  const schemas = { get: getRequestSchema, put: putEnvelopeSchema, delete: deleteRequestSchema, ls: lsRequestSchema, watch: watchRequestSchema, meta: metaRequestSchema } as const;
  if (typeof op !== 'string' || !(op in schemas)) return { ok: false, error: `request: op must be one of ${Object.keys(schemas).join(', ')}` };
  const schema = schemas[op as keyof typeof schemas] as z.ZodType<unknown>;
  const r = check(schema, x);
  if (!r.ok) {
    // validateObject already produced a complete line for the object; don't prefix it with the path
    const objErr = op === 'put' ? validateObject((x as { object?: unknown }).object) : undefined;
    if (objErr && !objErr.ok) return { ok: false, error: `put: ${objErr.error}` };
    return { ok: false, error: `${op}: ${r.error}` };
  }
  if (op === 'put') {
    const req = r.value as z.output<typeof putEnvelopeSchema>;
    const v = validateObject(req.object);
    if (!v.ok) return { ok: false, error: `put: ${v.error}` };
    return { ok: true, value: { ...req, object: v.value } };
  }
  return r as Validation<CdbRequest>;
}

/** The Raft command for a mutating request (put/delete); undefined for reads. */
export function toStoreCommand(req: CdbRequest): StoreCommand | undefined {
  const s = req.op === 'put' || req.op === 'delete' ? { ...(req.client !== undefined ? { client: req.client, seq: req.seq } : {}) } : {};
  const exp = (e: number | undefined) => (e !== undefined ? { expectRevision: e } : {});
  if (req.op === 'put') return { op: 'put', object: req.object, ...exp(req.expectRevision), ...s };
  if (req.op === 'delete') return { op: 'delete', type: req.type, id: req.id, ...exp(req.expectRevision), ...s };
  return undefined;
}

/** The store filter of an ls / watch request. */
export function filterOf(req: LsRequest | WatchRequest): ObjectFilter {
  const f: ObjectFilter = {};
  if (req.type !== undefined) f.type = req.type;
  if (req.subtype !== undefined) f.subtype = req.subtype;
  if (req.prefix !== undefined) f.prefix = req.prefix;
  if (req.op === 'watch' && req.id !== undefined) f.id = req.id;
  return f;
}

// Responses (server → client); plain types, the server builds them.
export type GetResponse = { ok: true; revision: number; object?: CdbObject; requestId?: string };
export type LsResponse = { ok: true; revision: number; objects: CdbObject[]; requestId?: string };
export type WriteResponse = StoreResult & { requestId?: string };
export type WatchResponse = ChangesResult & { requestId?: string };
export type MetaResponse = { ok: true; view: ObjectView; requestId?: string };
export type ErrorResponse = { ok: false; code: 'invalid' | 'unavailable' | 'not-leader'; message: string; leader?: string; requestId?: string };
