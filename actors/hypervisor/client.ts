// The Hypervisor as other parts of the node see it: its registry key, its requests, and the
// driver interface the node hands it (Linux or simulated). Other folders import this module,
// never the Hypervisor's internals.
import type { ReplyTo } from '../../runtime/actor/index.ts';
import { serviceKey } from '../../runtime/registry/registry.ts';
import type { Driver } from '../reconciler/contract.ts';
import type { ReconcilerMsg } from '../reconciler/service.ts';
import type { Attachment, HypervisorAction, HypervisorObserved } from './types.ts';

export type { Attachment, ExitRecord, HypervisorAction, HypervisorObserved, Workload, WorkloadPhase } from './types.ts';

/** What a Hypervisor driver offers beyond the reconciler contract. */
export interface HypervisorDriver extends Driver<HypervisorObserved, HypervisorAction> {
  /** Pause or resume a running workload (VMs: QMP stop/cont; others: the cgroup freezer). */
  pause(id: string, paused: boolean): Promise<void>;
  /** Where its logs are (stdout, stderr, and the serial console of a VM). */
  logs(id: string): { stdout: string; stderr: string; console?: string };
  /** Network attachments handed over by the Network service, by system id. */
  readonly attachments: Map<string, Attachment>;
  /** Share paths handed over by the Storage service, by share id. */
  readonly shares: Map<string, string>;
}

export type HypervisorReply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string };

/** The Hypervisor's own requests (beside the reconciler shell's `reconcile` and `reconciler-status`). */
export type HypervisorRequest =
  | { type: 'hv-pause'; id: string; paused: boolean; replyTo: ReplyTo<HypervisorReply> }
  | { type: 'hv-logs'; id: string; replyTo: ReplyTo<HypervisorReply> }
  /** The Network service hands over (or, with `attachment` absent, takes back) a system's network attachment. */
  | { type: 'hv-attach'; id: string; attachment?: Attachment }
  /** The Storage service says where a share is on this node (absent path: no longer here). */
  | { type: 'hv-share'; share: string; path?: string }
  /** internal: a pause/resume finished */
  | { type: 'hv-pause-done'; id: string; paused: boolean; replyTo: ReplyTo<HypervisorReply>; error: { message: string; permanent: boolean } | undefined };

export type HypervisorMsg = ReconcilerMsg<HypervisorRequest>;

export const HYPERVISOR = serviceKey<HypervisorMsg>('hypervisor');

/** Where a system's logs are on this node (`hv-logs`): the reply has `stdout`, `stderr` (and `console` for a VM) paths. */
export function logsRequest(id: string, replyTo: ReplyTo<HypervisorReply>): HypervisorRequest {
  return { type: 'hv-logs', id, replyTo };
}
