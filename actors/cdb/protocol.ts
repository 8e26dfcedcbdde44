// What the CDB service speaks: its mailbox protocol and the events it pushes
// to watchers. Other services use it through client.ts.
import type { ActorRef, ReplyTo } from '../../runtime/actor/index.ts';
import type { HostStatus } from '../../runtime/raft-host/index.ts';
import type { PeerLinkStats } from '../../runtime/ports/peers.ts';
import type { ListenerStats } from '../../runtime/net/listener-gate.ts';
import type { Meta, Stats, CdbObject, ObjectKey } from './schema.ts';
import type { Change } from './store.ts';
import type { ObjectView } from './meta.ts';

export type ApiReply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string; leader?: string };

export interface CdbStatusReply {
  cdb: HostStatus;
  transport: Record<string, PeerLinkStats>;
  /** The peer port's listener: limit, counts, refusals. */
  listener?: ListenerStats;
}

/** Pushed to a watcher: the changes after its last revision (or, first, the listing it asked for). */
export type CdbWatchEvent =
  | { type: 'cdb-watch'; id: string; revision: number; changes: Change[]; objects?: CdbObject[] }
  | { type: 'cdb-watch-end'; id: string; code: string; message: string };

/** Pushed to a meta watcher: the views that changed (all of them, the first time) and the keys gone. */
export interface CdbMetaEvent {
  type: 'cdb-meta';
  now: number;
  views: ObjectView[];
  removed: ObjectKey[];
}

export type CdbMsg =
  /** A client request (get, put, delete, ls, meta): validated here, answered with an ApiReply. */
  | { type: 'request'; req: unknown; replyTo: ReplyTo<ApiReply> }
  /**
   * Push the changes matching `req` (a watch request: fromRevision and a filter) to `sink` until
   * `unwatch` or the sink ends. With `list`, the first event carries the matching objects as of
   * its revision (list + watch in one step, no gap).
   */
  | { type: 'watch'; id: string; req: unknown; list?: boolean; sink: ActorRef<CdbWatchEvent> }
  | { type: 'unwatch'; id: string }
  /** Push the meta/stats views that change to `sink` (every publish interval). */
  | { type: 'watch-meta'; sink: ActorRef<CdbMetaEvent> }
  /** A local service reports the meta/stats of an object it is responsible for. */
  | { type: 'report'; key: ObjectKey; meta?: Meta; stats?: Stats }
  | { type: 'status'; replyTo: ReplyTo<CdbStatusReply> };
