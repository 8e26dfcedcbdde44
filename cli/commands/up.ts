// `acp up`: a local cluster of N real node processes on loopback, with its
// own CA and certificates, waited on until it has a Raft leader and a Monitor
// primary. Foreground by default (Ctrl-C stops every node cleanly);
// `--detach` leaves it running for `acp down`.
import type { Command } from 'commander';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { clusterKey } from '../api-key.ts';
import { call } from '../client.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { checkClusterDir, clusterDir, readClusterFile, readRunFile, writeJsonAtomic, type ClusterFile } from '../cluster-dir.ts';
import { createCluster, portFree, spawnNode } from '../launcher.ts';
import { clusterStatus, renderStatus, type ClusterStatus } from '../status-view.ts';
import { dirOption, intOption } from '../options.ts';
import { emit, formatOf, outputOptions, type Format, type OutputOptions } from '../output.ts';
import { processStartTime, verifyNode } from '../proc.ts';
import { isRoot, setUpDataPlane, type DataPlane } from '../dataplane.ts';

export function register(cmd: Command): void {
  cmd.option('--nodes <n>', 'number of nodes (1-9)', '3');
  dirOption(cmd, 'cluster directory (data, certificates, sockets); created mode 0700');
  cmd
    .option('--detach', 'leave the cluster running in the background (stop it with acp down)')
    .option('--timeout <ms>', 'how long to wait for a leader and a Monitor primary', '30000')
    .option('--loop-devices <n[:size]>', 'give each node N sparse file-backed loop devices as storage/device objects (size e.g. 1G, 512M; default 1G; needs root)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
The directory must be yours and not writable by other users (chmod 700); a new
one is created mode 0700. Started again on the same directory, the cluster
keeps its data.

Run as root, each node gets a network namespace of its own as its machine's
data plane (acp-ID-NODE, joined by an underlay bridge in acp-ID-ul, addresses
10.77.0.N inside them only, no route out): networks then span nodes for real
(VXLAN between the namespaces). Control traffic stays on loopback. Without
root, networks are unsupported on every node. acp down leaves the namespaces
(and the workloads' networks) as they are; acp down --purge removes them.

Examples:
  $ acp up                          # 3 nodes in ./.acp, in the foreground; Ctrl-C stops them
  $ acp up --detach --nodes 5       # in the background; stop it with: acp down
  $ acp up --detach --dir /tmp/c1 -o json
  $ acp up --loop-devices 2:1G      # each node gets n1-loop0, n1-loop1 … (sparse files in its data dir)`,
    )
    .action(async (o: { nodes: string; dir: string; detach?: boolean; timeout: string; loopDevices?: string } & OutputOptions) => {
      const format = formatOf(o);
      const n = intOption('--nodes', o.nodes, 1, 9);
      const timeoutMs = intOption('--timeout', o.timeout, 1000, 600_000);
      const loopDevices = o.loopDevices === undefined ? undefined : parseLoopDevices(o.loopDevices);
      await up(clusterDir(o.dir), n, { detach: o.detach === true, timeoutMs, format, ...(loopDevices ? { loopDevices } : {}) });
    });
}

interface UpOptions {
  detach: boolean;
  timeoutMs: number;
  format: Format;
  /** Loop devices per node, and their size. */
  loopDevices?: { count: number; sizeBytes: number };
}

/** "N[:SIZE]" with SIZE like 512M, 1G, 1073741824. */
export function parseLoopDevices(v: string): { count: number; sizeBytes: number } {
  const m = /^(\d{1,2})(?::(\d+)([KMGT]i?B?)?)?$/i.exec(v.trim());
  const count = m ? Number(m[1]) : NaN;
  if (!m || count < 1 || count > 16) throw new UsageError(`--loop-devices must be N[:SIZE] with N 1-16 and SIZE like 512M or 2G (got "${v}")`);
  const mult: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  const sizeBytes = m[2] === undefined ? 2 ** 30 : Number(m[2]) * (m[3] ? mult[m[3][0]!.toUpperCase()]! : 1);
  if (sizeBytes < 128 * 2 ** 20) throw new UsageError(`--loop-devices: each device needs at least 128M (got ${v.split(':')[1]})`);
  return { count, sizeBytes };
}

/** Is a node process listed in run.json still running (verified, not just its pid alive)? */
function runningNodes(dir: string): string[] {
  const run = readRunFile(dir);
  if (!run || !existsSync(join(dir, 'cluster.json'))) return [];
  const cluster = readClusterFile(dir);
  return Object.entries(run.pids)
    .filter(([name, pid]) => {
      const node = cluster.nodes.find((x) => x.name === name);
      return node !== undefined && verifyNode(pid, { name, config: node.config, startTime: run.starts?.[name] }).kind === 'ours';
    })
    .map(([name]) => name);
}

export async function up(dir: string, n: number, o: UpOptions): Promise<void> {
  checkClusterDir(dir, { create: true });
  if (runningNodes(dir).length > 0) {
    throw new CliError(`a cluster is already running in ${dir} (stop it with: acp down --dir ${dir})`);
  }
  const cluster = existsSync(join(dir, 'cluster.json')) ? reuse(dir, n) : await createCluster(dir, n);
  for (const node of cluster.nodes) {
    if (!(await portFree(node.host, node.port))) throw new CliError(`node ${node.name} cannot start: port ${node.host}:${node.port} is taken`);
  }
  const dataPlane: DataPlane | undefined = isRoot() ? await setUpDataPlane(dir, cluster) : undefined;

  const children = new Map<string, ChildProcess>();
  const exits = new Map<string, string>();
  for (const node of cluster.nodes) {
    const child = spawnNode(node, { detached: o.detach });
    child.on('exit', (code, sig) => exits.set(node.name, sig ? `killed by ${sig}` : `exited with code ${code}`));
    children.set(node.name, child);
  }
  // Each pid with its start time: `acp down` signals a pid only while it is still this process.
  const pids: Record<string, number> = {};
  const starts: Record<string, number> = {};
  for (const [name, c] of children) {
    if (c.pid === undefined) continue;
    pids[name] = c.pid;
    const t = processStartTime(c.pid);
    if (t !== undefined) starts[name] = t;
  }
  writeJsonAtomic(join(dir, 'run.json'), { v: 1, pids, starts, detached: o.detach, startedAt: new Date().toISOString() });

  let status: ClusterStatus;
  try {
    status = await waitReady(dir, cluster, clusterKey(dir), o.timeoutMs, () => {
      for (const [name, why] of exits) return `node ${name} ${why}: ${lastLogLine(cluster, name)}`;
      return undefined;
    });
  } catch (e) {
    await stopChildren(children);
    rmSync(join(dir, 'run.json'), { force: true });
    throw e;
  }

  await emit(o.format, status, (wide) => renderStatus(status, dir, wide));
  // Notes go to stderr when stdout carries JSON or YAML.
  const note = (s: string): boolean => (o.format === 'json' || o.format === 'yaml' ? process.stderr : process.stdout).write(s);
  if (o.loopDevices) note(`\n${await putLoopDevices(dir, cluster, o.loopDevices)}\n`);
  note(
    dataPlane
      ? `\ndata plane: namespaces ${Object.values(dataPlane.nodes).map((n) => n.netns).join(', ')} on underlay ${dataPlane.namespaces[0]} (10.77.0.0/24)\n`
      : '\ndata plane: none (not root): networks are unsupported on every node\n',
  );

  if (o.detach) {
    for (const c of children.values()) c.unref();
    note(`\ncluster running in the background; stop it with: acp down --dir ${dir}\n`);
    return;
  }
  note('\nPress Ctrl-C to stop every node.\n');
  for (const [name, c] of children) {
    c.on('exit', () => {
      if (!stopping) process.stderr.write(`acp: node ${name} ${exits.get(name) ?? 'exited'}\n`);
    });
  }
  let stopping = false;
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write('\nstopping the cluster…\n');
      void stopChildren(children).then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  rmSync(join(dir, 'run.json'), { force: true });
}

/**
 * The loop devices as storage/device objects, created only if absent (a cluster started again
 * keeps its devices): each node's Storage service makes the sparse files and loop devices.
 */
async function putLoopDevices(dir: string, cluster: ClusterFile, o: { count: number; sizeBytes: number }): Promise<string> {
  const t = { dir, cluster, apiKey: clusterKey(dir) };
  const ids: string[] = [];
  for (const node of cluster.nodes) {
    for (let i = 0; i < o.count; i++) {
      const id = `${node.name}-loop${i}`;
      const object = { type: 'storage', subtype: 'device', id, spec: { node: node.name, path: join(node.dir, 'data', 'storage', 'disks', `loop${i}.img`), sizeBytes: o.sizeBytes, loop: true } };
      const r = (await call(t, 'cdb', { op: 'put', object, expectRevision: 0 })) as { ok?: boolean; code?: string; message?: string };
      if (!r.ok && r.code !== 'conflict') throw new CliError(`cannot create storage/${id}: ${r.message ?? r.code}`);
      ids.push(id);
    }
  }
  return `storage devices: ${ids.join(', ')} (${o.sizeBytes / 2 ** 20} MiB each, sparse; see acp cdb meta storage/ID)${process.getuid?.() === 0 ? '' : ' — not root: loop devices are unsupported on every node'}`;
}

/** Start an existing cluster again, with its data: it must be the same size. */
function reuse(dir: string, n: number): ClusterFile {
  const c = readClusterFile(dir);
  if (c.nodes.length !== n) {
    throw new UsageError(`${dir} holds a ${c.nodes.length}-node cluster; use --nodes ${c.nodes.length}, or a new --dir for ${n} nodes`);
  }
  return c;
}

async function waitReady(dir: string, cluster: ClusterFile, apiKey: string, timeoutMs: number, failed: () => string | undefined): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterStatus | undefined;
  for (;;) {
    const why = failed();
    if (why) throw new CliError(why);
    last = await clusterStatus(cluster, 1000, apiKey);
    if (last.leader && last.monitorPrimary) return last;
    if (Date.now() > deadline) {
      const missing = !last.leader ? 'a Raft leader' : 'a Monitor primary';
      throw new CliError(`the cluster did not get ${missing} within ${timeoutMs} ms (see ${join(dir, 'nodes', '*', 'node.log')})`, EXIT.unreachable);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopChildren(children: Map<string, ChildProcess>): Promise<void> {
  await Promise.all(
    [...children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

function lastLogLine(cluster: ClusterFile, name: string): string {
  const node = cluster.nodes.find((x) => x.name === name);
  if (!node) return '';
  try {
    const lines = readFileSync(join(node.dir, 'node.log'), 'utf8').trim().split('\n');
    return lines[lines.length - 1] ?? '';
  } catch {
    return '';
  }
}

