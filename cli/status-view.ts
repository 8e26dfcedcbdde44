// Gathering and showing a cluster's status: every node in the cluster
// directory is asked over its control socket; a node that does not answer is
// shown as down, not waited on forever. A cluster with a node down, no Raft
// leader or no Monitor primary is degraded: `acp status` then exits 5.
import { callLocal } from '../runtime/net/local-api.ts';
import type { ClusterFile } from './cluster-dir.ts';
import { table } from './output.ts';
import type { NodeStatus } from '../actors/node/status.ts';
import type { NodeDown } from '../actors/monitor/client.ts';

export interface NodeRow {
  name: string;
  address: string;
  socket: string;
  up: boolean;
  error?: string;
  status?: NodeStatus;
}

export interface ClusterStatus {
  nodes: NodeRow[];
  leader?: string;
  term?: number;
  monitorPrimary?: string;
  monitorTerm?: number;
  health?: number;
  /** The nodes the health counts down, and why (the same Monitor as `health`). */
  nodesDown?: NodeDown[];
  /** Every node up, a Raft leader and a Monitor primary. */
  healthy: boolean;
  /** What makes the cluster degraded, one line each. */
  problems: string[];
}

export async function clusterStatus(cluster: ClusterFile, timeoutMs: number, apiKey: string): Promise<ClusterStatus> {
  const rows = await Promise.all(
    cluster.nodes.map(async (n): Promise<NodeRow> => {
      const row: NodeRow = { name: n.name, address: `${n.host}:${n.port}`, socket: n.socketDir, up: false };
      try {
        row.status = (await callLocal(n.socketDir, 'status', {}, { apiKey, timeoutMs })) as NodeStatus;
        row.up = true;
      } catch (e) {
        row.error = (e as Error).message;
      }
      return row;
    }),
  );
  const out: ClusterStatus = { nodes: rows, healthy: false, problems: [] };
  // The leader is the one a node reports as itself leading, at the highest term.
  for (const r of rows) {
    const cdb = r.status?.raft.cdb;
    if (cdb && cdb.role === 'leader' && (out.term === undefined || cdb.term > out.term)) {
      out.leader = r.name;
      out.term = cdb.term;
    }
    const mon = r.status?.monitor;
    if (mon && mon.primary && (out.monitorTerm === undefined || mon.term > out.monitorTerm)) {
      out.monitorPrimary = mon.primary;
      out.monitorTerm = mon.term;
    }
  }
  const primaryRow = rows.find((r) => r.name === out.monitorPrimary);
  const healthRow = primaryRow?.status?.monitor.score !== undefined ? primaryRow : rows.find((r) => r.status?.monitor.score !== undefined);
  out.health = healthRow?.status?.monitor.score;
  if (healthRow?.status?.monitor.nodesDown) out.nodesDown = healthRow.status.monitor.nodesDown;
  out.problems = problemsOf(out);
  out.healthy = out.problems.length === 0;
  return out;
}

/** Why a cluster is degraded (nothing when it is not). */
export function problemsOf(s: Pick<ClusterStatus, 'nodes' | 'leader' | 'monitorPrimary'>): string[] {
  const p: string[] = [];
  for (const r of s.nodes) if (!r.up) p.push(`node ${r.name} is down${r.error ? ` (${r.error})` : ''}`);
  if (!s.leader) p.push('no Raft leader');
  if (!s.monitorPrimary) p.push('no Monitor primary');
  return p;
}

const ago = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)}s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 3_600_000)}h`);

export function renderStatus(s: ClusterStatus, dir: string, wide = false): string {
  const head = ['NODE', 'ADDRESS', 'STATE', 'RAFT', 'TERM', 'MONITOR', 'ACTORS (restarts)', 'CONTROL SOCKET'];
  if (wide) head.splice(6, 0, 'PID', 'UPTIME', 'COMMIT', 'APPLIED', 'ALARMS', 'LISTENERS (control · peer)');
  const unreachable = new Set((s.nodesDown ?? []).filter((d) => d.why === 'unreachable').map((d) => d.node));
  const rows = s.nodes.map((r) => {
    const st = r.status;
    const actors = st ? st.actors.filter((a) => a.path !== '/user').map((a) => `${a.path.split('/').pop()}${a.restarts ? `×${a.restarts}` : ''}`).join(' ') : '';
    const row = [
      r.name,
      r.address,
      // Its control socket answers, but the Monitor's node cannot reach it (cut off from its peers).
      r.up ? (unreachable.has(r.name) ? 'unreachable' : 'up') : 'down',
      st?.raft.cdb.role ?? '-',
      st ? String(st.raft.cdb.term) : '-',
      st ? (st.monitor.primary === r.name ? 'primary' : 'standby') : '-',
      actors || (r.error ? `(${r.error})` : ''),
      r.socket.startsWith(dir) ? r.socket.slice(dir.length + 1) : r.socket,
    ];
    if (wide) {
      // Listeners: open/limit and refusals, control socket then peer port.
      const l = (x: { open: number; limit: number; refusedTotal: number } | undefined) => (x ? `${x.open}/${x.limit} refused ${x.refusedTotal}` : '-');
      row.splice(6, 0, st ? String(st.pid) : '-', st ? ago(st.uptimeMs) : '-', st ? String(st.raft.cdb.commit) : '-', st ? String(st.raft.cdb.applied) : '-', st ? String(st.monitor.activeAlarms) : '-', st ? `${l(st.listeners?.control)} · ${l(st.listeners?.peer)}` : '-');
    }
    return row;
  });
  const lines = [table(head, rows)];
  lines.push('');
  lines.push(`Raft leader: ${s.leader ?? 'none'}${s.term !== undefined ? ` (term ${s.term})` : ''}   Monitor primary: ${s.monitorPrimary ?? 'none'}   Health: ${s.health !== undefined ? `${s.health}/100` : 'unknown'}${s.nodesDown?.length ? ` (${s.nodesDown.map((d) => `${d.node} ${d.why === 'down' ? 'down' : d.why.replace('-', ' ')}`).join(', ')})` : ''}`);
  if (s.problems.length > 0) lines.push(`DEGRADED: ${s.problems.join('; ')}`);
  lines.push(`Reach a node: acp status --dir ${dir} · acp cdb ls --dir ${dir} · control sockets under ${dir}/nodes/<name>/sock`);
  return lines.join('\n');
}
