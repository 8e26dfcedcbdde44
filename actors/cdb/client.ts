// The CDB as other services see it: its key in the node's registry and typed
// message builders. A service imports this module, never the CDB's internals.
import type { ActorRef, ReplyTo } from '../../runtime/actor/index.ts';
import { serviceKey } from '../../runtime/registry/registry.ts';
import type { CdbMsg, CdbWatchEvent, CdbMetaEvent, ApiReply } from './protocol.ts';
import type { CdbRequest } from './commands.ts';
import type { Meta, Stats, ObjectKey } from './schema.ts';

export type { CdbMsg, CdbWatchEvent, CdbMetaEvent, ApiReply, CdbStatusReply } from './protocol.ts';
export type { CdbRequest } from './commands.ts';
export type { Change } from './store.ts';
export type { ObjectView } from './meta.ts';
export { objectKey, parseObjectKey } from './schema.ts';
export type { CdbObject, ObjectDef, ObjectKey, ObjectType, Meta, Stats } from './schema.ts';

/** The node's CDB service. */
export const CDB = serviceKey<CdbMsg>('cdb');

/** A request as the CLI sends it (validated by the CDB). */
export function request(req: CdbRequest | Record<string, unknown>, replyTo: ReplyTo<ApiReply>): CdbMsg {
  return { type: 'request', req, replyTo };
}

export function report(key: ObjectKey, update: { meta?: Meta; stats?: Stats }): CdbMsg {
  return { type: 'report', key, ...update };
}

export function watch(id: string, req: Record<string, unknown>, sink: ActorRef<CdbWatchEvent>, list = false): CdbMsg {
  return { type: 'watch', id, req: { op: 'watch', ...req }, sink, ...(list ? { list } : {}) };
}

export function watchMeta(sink: ActorRef<CdbMetaEvent>): CdbMsg {
  return { type: 'watch-meta', sink };
}
