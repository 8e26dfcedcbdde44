// Per-actor figures for the inspector and `acp status`.
import type { ThreadRuntime } from './thread-runtime.ts';

export interface ActorStats {
  path: string;
  thread: string;
  status: string;
  /** Messages waiting in the mailbox (plus parked ones under backpressure). */
  depth: number;
  processed: number;
  incarnation: number;
  children: number;
}

export function cellStats(rt: ThreadRuntime): ActorStats[] {
  const out: ActorStats[] = [];
  for (const c of rt.cells.values()) {
    out.push({
      path: c.path,
      thread: rt.thread,
      status: c.status,
      depth: c.mailbox.size + (c.parked?.size ?? 0),
      processed: c.processed,
      incarnation: c.incarnation,
      children: c.kids.size,
    });
  }
  return out;
}
