// The Monitor as other parts of the node see it: its registry key and protocol.
import type { ReplyTo } from '../../runtime/actor/index.ts';
import { serviceKey } from '../../runtime/registry/registry.ts';
import type { HostStatus } from '../../runtime/raft-host/index.ts';
import type { Alarm, AlarmPublication, FenceToken } from './alarms.ts';
import type { NodeDown } from './health.ts';

export type { NodeDown, NodeDownWhy } from './health.ts';

export type MonitorReply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string; leader?: string };

export interface MonitorStatus {
  /** The node whose Monitor is primary, as this node sees it (leader of the monitor group). */
  primary: string | undefined;
  term: number;
  score: number | undefined;
  findings: number;
  /** The findings' ids ("code:objectKey"), critical first. */
  findingIds?: string[];
  /** The node objects the last evaluation counted, and how many of them are up. */
  nodes?: { total: number; up: number };
  /** The nodes this node's Monitor counts down at its last evaluation, and why (e.g. unreachable). */
  nodesDown?: NodeDown[];
  published: number;
  rejected: number;
  activeAlarms: number;
  raft: HostStatus | undefined;
}

export interface AlertsReply {
  ok: true;
  active: Alarm[];
  history: Alarm[];
  fence: FenceToken;
  holder: string | null;
}

export type MonitorMsg =
  | { type: 'status'; replyTo: ReplyTo<MonitorStatus> }
  /** Active alarms (and the history with `all`), after a read barrier on the alarm ledger. */
  | { type: 'alerts'; all: boolean; replyTo: ReplyTo<AlertsReply | MonitorReply> }
  /**
   * Propose an alarm publication to the ledger exactly as the primary does: the ledger's fencing
   * decides (a deposed primary's term is `fenced`, another node in the current term
   * `conflicting-holder`).
   */
  | { type: 'publish'; pub: unknown; replyTo: ReplyTo<MonitorReply> };

export const MONITOR = serviceKey<MonitorMsg>('monitor');
