// Gathering and showing a cluster's status: every node in the cluster
// directory is asked over its control socket; a node that does not answer is
// shown as down, not waited on forever.
import { loadApiKey } from '../runtime/net/pki.ts';
import { callLocal } from '../runtime/net/local-api.ts';
import { pkiDir, type ClusterFile } from './cluster-dir.ts';
import type { NodeStatus } from '../actors/node/status.ts';

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
}

export async function clusterStatus(dir: string, cluster: ClusterFile, timeoutMs: number, key?: string): Promise<ClusterStatus> {
  let apiKey = key ?? '';
  if (!apiKey) {
    try {
      apiKey = loadApiKey(pkiDir(dir));
    } catch {
      apiKey = '';
    }
  }
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
  const out: ClusterStatus = { nodes: rows };
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
  out.health = primaryRow?.status?.monitor.score ?? rows.find((r) => r.status?.monitor.score !== undefined)?.status?.monitor.score;
  return out;
}

export function renderStatus(s: ClusterStatus, dir: string): string {
  const head = ['NODE', 'ADDRESS', 'STATE', 'RAFT', 'TERM', 'MONITOR', 'ACTORS (restarts)', 'CONTROL SOCKET'];
  const rows = s.nodes.map((r) => {
    const st = r.status;
    const actors = st ? st.actors.filter((a) => a.path !== '/user').map((a) => `${a.path.split('/').pop()}${a.restarts ? `×${a.restarts}` : ''}`).join(' ') : '';
    return [
      r.name,
      r.address,
      r.up ? 'up' : 'down',
      st?.raft.cdb.role ?? '-',
      st ? String(st.raft.cdb.term) : '-',
      st ? (st.monitor.primary === r.name ? 'primary' : 'standby') : '-',
      actors || (r.error ? `(${r.error})` : ''),
      r.socket.startsWith(dir) ? r.socket.slice(dir.length + 1) : r.socket,
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
  const lines = [line(head), ...rows.map(line)];
  lines.push('');
  lines.push(`Raft leader: ${s.leader ?? 'none'}${s.term !== undefined ? ` (term ${s.term})` : ''}   Monitor primary: ${s.monitorPrimary ?? 'none'}   Health: ${s.health !== undefined ? `${s.health}/100` : 'unknown'}`);
  lines.push(`Reach a node: acp status --dir ${dir} · acp cdb ls --dir ${dir} · control sockets under ${dir}/nodes/<name>/sock`);
  return lines.join('\n');
}
