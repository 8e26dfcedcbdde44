// The Network service as other parts of the node see it (the Hypervisor will
// attach its workloads through this): its registry key and typed requests.
import type { ReplyTo } from '../../runtime/actor/index.ts';
import { serviceKey } from '../../runtime/registry/registry.ts';
import type { ReconcilerMsg, ReconcilerStatus } from '../reconciler/service.ts';

export type { ReconcilerStatus } from '../reconciler/service.ts';

export type AttachReply =
  | {
      ok: true;
      /** The lease object's id (network/<lease>): the address is the workload's until it detaches. */
      lease: string;
      /** a.b.c.d/len, as configured inside the workload's namespace. */
      address: string;
      /** The workload's interface (in its namespace) and the veth end on the bridge. */
      ifname: string;
      veth: string;
      bridge: string;
    }
  | { ok: false; code: NetworkErrorCode; message: string };

export type DetachReply = { ok: true; detached: string[] } | { ok: false; code: NetworkErrorCode; message: string };

export type NetworkErrorCode = 'invalid' | 'not-found' | 'conflict' | 'exhausted' | 'failed' | 'unavailable' | 'timeout';

export type NetworkRequest =
  /**
   * Attach the workload in network namespace `netns` to `network` on this node: a lease (an
   * address from the network's pool, or `address`) written to the CDB create-only, so no address
   * is handed out twice cluster-wide, then a veth pair: one end on the bridge, the other in the
   * workload as `ifname` (default eth0) with the address. Answered once the veth is up (or failed).
   * Attaching the same (network, netns, ifname) again answers with the existing lease.
   */
  | { type: 'attach'; network: string; netns: string; ifname?: string; address?: string; timeoutMs?: number; replyTo: ReplyTo<AttachReply> }
  /** Detach: delete the workload's leases on `network` (all its interfaces, or `ifname`), answered once its veths are gone. */
  | { type: 'detach'; network: string; netns: string; ifname?: string; timeoutMs?: number; replyTo: ReplyTo<DetachReply> };

export type NetworkMsg = ReconcilerMsg<NetworkRequest>;

/** The node's Network service. */
export const NETWORK = serviceKey<NetworkMsg>('network');

export function attach(network: string, netns: string, replyTo: ReplyTo<AttachReply>, o: { ifname?: string; address?: string; timeoutMs?: number } = {}): NetworkMsg {
  return { type: 'attach', network, netns, replyTo, ...o };
}

export function detach(network: string, netns: string, replyTo: ReplyTo<DetachReply>, o: { ifname?: string; timeoutMs?: number } = {}): NetworkMsg {
  return { type: 'detach', network, netns, replyTo, ...o };
}

export function networkStatus(replyTo: ReplyTo<ReconcilerStatus>): NetworkMsg {
  return { type: 'reconciler-status', replyTo };
}
