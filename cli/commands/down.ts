// `acp down`: stop a cluster started with `acp up --detach`.
//
// run.json lists the node processes' pids, but a pid is only a number: the
// node may have died and its pid gone to another process, or the file may
// have been altered. So every pid is checked first (cli/proc.ts): ours, the
// node entry with this node's config, started when `acp up` recorded. A pid
// that fails the check is never signalled; the command says why and exits 1.
import type { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../errors.ts';
import { checkClusterDir, clusterDir, loadRunFile, readClusterFile } from '../cluster-dir.ts';
import { dirOption, intOption } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';
import { verifyNode, type Expected } from '../proc.ts';
import { purgeDataPlane } from '../dataplane.ts';

interface Result {
  stopped: string[];
  killed: string[];
  refused: { node: string; pid: number; why: string }[];
  /** With --purge: what was removed of the cluster's resources on this machine. */
  purged?: string[];
}

export function register(cmd: Command): void {
  dirOption(cmd);
  cmd.option('--timeout <ms>', 'how long to wait for a clean stop before SIGKILL', '10000');
  cmd.option('--purge', "also remove what the cluster created on this machine: its network namespaces (bridges, VXLAN segments, workloads' veths) and the nodes' ownership records; its data stays");
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Each pid in DIR/run.json is signalled only if it is still that node: a process
of yours running "acp node start --config <the node's config>", started at the
time acp up recorded. Any other pid is left alone and named, with the reason.

Without --purge, what the nodes created on the machine stays: workloads keep
their networks. With --purge (after the nodes stopped) it is removed.

Examples:
  $ acp down
  $ acp down --purge
  $ acp down --dir /tmp/c1 --timeout 30000`,
    )
    .action(async (o: { dir: string; timeout: string; purge?: boolean } & OutputOptions) => {
      const format = formatOf(o);
      const timeoutMs = intOption('--timeout', o.timeout, 100, 600_000);
      const dir = clusterDir(o.dir);
      const r = await down(dir, timeoutMs);
      // Only once every node stopped: a running node would re-create what is removed.
      if (o.purge && r.refused.length === 0) r.purged = await purgeDataPlane(dir, checkClusterDir(dir) && existsSync(join(dir, 'cluster.json')) ? readClusterFile(dir) : undefined);
      await emit(format, r, () => {
        const n = r.stopped.length;
        const purged = r.purged === undefined ? '' : `\npurged ${r.purged.length === 0 ? 'nothing (nothing left on this machine)' : r.purged.join(', ')}`;
        if (n > 0) return `stopped ${n} node${n === 1 ? '' : 's'}${r.killed.length ? ` (${r.killed.join(', ')} killed after ${timeoutMs} ms)` : ''}${purged}`;
        return (r.refused.length === 0 ? `no cluster running in ${dir}` : '') + purged;
      });
      if (r.refused.length > 0) {
        throw new CliError(r.refused.map((x) => `did not signal pid ${x.pid} listed for node ${x.node} in run.json: ${x.why}`).join('; '));
      }
    });
}

export async function down(dir: string, timeoutMs: number): Promise<Result> {
  const res: Result = { stopped: [], killed: [], refused: [] };
  if (!checkClusterDir(dir)) return res;
  const loaded = loadRunFile(dir);
  if ('missing' in loaded) return res;
  if ('garbled' in loaded) throw new CliError(`cannot tell which processes to stop: ${loaded.garbled}; nothing was signalled`);
  const run = loaded.run;
  const cluster = readClusterFile(dir);
  const targets: { name: string; pid: number; expected: Expected }[] = [];
  for (const [name, pid] of Object.entries(run.pids)) {
    const node = cluster.nodes.find((x) => x.name === name);
    if (!node) {
      res.refused.push({ node: name, pid, why: `there is no node ${name} in ${join(dir, 'cluster.json')}` });
      continue;
    }
    const expected: Expected = { name, config: node.config, startTime: run.starts?.[name] };
    const v = verifyNode(pid, expected);
    if (v.kind === 'ours') targets.push({ name, pid, expected });
    else if (v.kind === 'foreign') res.refused.push({ node: name, pid, why: v.why });
  }
  const stillOurs = (t: (typeof targets)[number]): boolean => verifyNode(t.pid, t.expected).kind === 'ours';
  // An exited node stays a zombie until its parent (init, for a detached node) reaps it: wait for that too, within the timeout.
  const notGone = (t: (typeof targets)[number]): boolean => {
    const v = verifyNode(t.pid, t.expected);
    return v.kind === 'ours' || (v.kind === 'gone' && v.zombie === true);
  };
  for (const t of targets) signal(t.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (targets.some(notGone) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // Checked again right before SIGKILL: a node that exited meanwhile may have left its pid to another process.
  for (const t of targets.filter(stillOurs)) {
    signal(t.pid, 'SIGKILL');
    res.killed.push(t.name);
  }
  res.stopped = targets.map((t) => t.name);
  rmSync(join(dir, 'run.json'), { force: true });
  return res;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    // Exited between the check and the signal: nothing to stop.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}
