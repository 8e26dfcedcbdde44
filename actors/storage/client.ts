// The Storage service as other parts of the node see it (the Hypervisor will
// find its shares' paths and NBD endpoints through it): its registry key and
// messages. Everything else in actors/storage/ is internal.
import type { ReplyTo } from '../../runtime/actor/index.ts';
import { serviceKey } from '../../runtime/registry/registry.ts';
import type { ReconcilerMsg, ReconcilerStatus } from '../reconciler/service.ts';

export type { ReconcilerStatus } from '../reconciler/service.ts';

/** Where a share can be reached on this node (what a workload is given). */
export type ShareLocation =
  | {
      ok: true;
      share: string;
      protocol: string;
      /** The directory on this machine (local: what the Hypervisor bind-mounts into a workload). */
      dir: string;
      /** nfs / nbd: host:port of the server, and the export path or name. */
      endpoint?: string;
      export?: string;
    }
  | { ok: false; code: 'not-found' | 'not-ready'; message: string };

export type StorageRequest =
  /** Where share `share` is on this node, once it is ready. */
  { type: 'locate'; share: string; replyTo: ReplyTo<ShareLocation> };

export type StorageMsg = ReconcilerMsg<StorageRequest>;

/** The node's Storage service. */
export const STORAGE = serviceKey<StorageMsg>('storage');

export function locate(share: string, replyTo: ReplyTo<ShareLocation>): StorageMsg {
  return { type: 'locate', share, replyTo };
}

export function storageStatus(replyTo: ReplyTo<ReconcilerStatus>): StorageMsg {
  return { type: 'reconciler-status', replyTo };
}
