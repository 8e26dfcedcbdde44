// `acp up`: a local cluster of N real node processes on loopback, with its
// own CA and certificates, waited on until it has a Raft leader and a Monitor
// primary. Foreground by default (Ctrl-C stops every node cleanly);
// `--detach` leaves it running for `acp down`.
import type { Command } from 'commander';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';
import { alive, clusterDir, readClusterFile, readRunFile, writeJsonAtomic, type ClusterFile } from '../cluster-dir.ts';
import { createCluster, portFree, spawnNode } from '../launcher.ts';
import { clusterStatus, renderStatus, type ClusterStatus } from '../status-view.ts';
import { intOption } from '../options.ts';

export function register(program: Command): void {
  program
    .command('up')
    .description('start a local cluster of real node processes on loopback')
    .option('--nodes <n>', 'number of nodes (1-9)', '3')
    .option('--dir <dir>', 'cluster directory (data, certificates, sockets)', '.acp')
    .option('--detach', 'leave the cluster running in the background (stop it with acp down)')
    .option('--timeout <ms>', 'how long to wait for a leader and a Monitor primary', '30000')
    .option('--json', 'print the cluster status as JSON')
    .action(async (o: { nodes: string; dir: string; detach?: boolean; timeout: string; json?: boolean }) => {
      const n = intOption('--nodes', o.nodes, 1, 9);
      const timeoutMs = intOption('--timeout', o.timeout, 1000, 600_000);
      await up(clusterDir(o.dir), n, { detach: o.detach === true, timeoutMs, json: o.json === true });
    });
}

interface UpOptions {
  detach: boolean;
  timeoutMs: number;
  json: boolean;
}

export async function up(dir: string, n: number, o: UpOptions): Promise<void> {
  const running = readRunFile(dir);
  if (running && Object.values(running.pids).some(alive)) {
    throw new UsageError(`a cluster is already running in ${dir} (stop it with: acp down --dir ${dir})`, 1);
  }
  const cluster = existsSync(join(dir, 'cluster.json')) ? reuse(dir, n) : await createCluster(dir, n);
  for (const node of cluster.nodes) {
    if (!(await portFree(node.host, node.port))) throw new UsageError(`node ${node.name} cannot start: port ${node.host}:${node.port} is taken`, 1);
  }

  const children = new Map<string, ChildProcess>();
  const exits = new Map<string, string>();
  for (const node of cluster.nodes) {
    const child = spawnNode(node, { detached: o.detach });
    child.on('exit', (code, sig) => exits.set(node.name, sig ? `killed by ${sig}` : `exited with code ${code}`));
    children.set(node.name, child);
  }
  const pids: Record<string, number> = {};
  for (const [name, c] of children) if (c.pid !== undefined) pids[name] = c.pid;
  writeJsonAtomic(join(dir, 'run.json'), { v: 1, pids, detached: o.detach, startedAt: new Date().toISOString() });

  let status: ClusterStatus;
  try {
    status = await waitReady(dir, cluster, o.timeoutMs, () => {
      for (const [name, why] of exits) return `node ${name} ${why}: ${lastLogLine(cluster, name)}`;
      return undefined;
    });
  } catch (e) {
    await stopChildren(children);
    rmSync(join(dir, 'run.json'), { force: true });
    throw e;
  }

  if (o.json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
  else process.stdout.write(renderStatus(status, dir) + '\n');

  if (o.detach) {
    for (const c of children.values()) c.unref();
    process.stdout.write(`\ncluster running in the background; stop it with: acp down --dir ${dir}\n`);
    return;
  }
  process.stdout.write('\nPress Ctrl-C to stop every node.\n');
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

/** Start an existing cluster again, with its data: it must be the same size. */
function reuse(dir: string, n: number): ClusterFile {
  const c = readClusterFile(dir);
  if (c.nodes.length !== n) {
    throw new UsageError(`${dir} holds a ${c.nodes.length}-node cluster; use --nodes ${c.nodes.length}, or a new --dir for ${n} nodes`, 2);
  }
  return c;
}

async function waitReady(dir: string, cluster: ClusterFile, timeoutMs: number, failed: () => string | undefined): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterStatus | undefined;
  for (;;) {
    const why = failed();
    if (why) throw new UsageError(why, 1);
    last = await clusterStatus(dir, cluster, 1000);
    if (last.leader && last.monitorPrimary) return last;
    if (Date.now() > deadline) {
      const missing = !last.leader ? 'a Raft leader' : 'a Monitor primary';
      throw new UsageError(`the cluster did not get ${missing} within ${timeoutMs} ms (see ${join(dir, 'nodes', '*', 'node.log')})`, 1);
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

