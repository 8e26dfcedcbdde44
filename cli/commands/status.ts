// `acp status`: nodes, Raft leader and term, Monitor primary, health score,
// and every node's actors with their restart counts. Like `etcdctl endpoint
// health`, its exit code says how the cluster is: 0 healthy, 5 degraded (a
// node down, no Raft leader or no Monitor primary), 4 no node answering.
import type { Command } from 'commander';
import { clusterStatus, renderStatus } from '../status-view.ts';
import { target } from '../client.ts';
import { CliError, EXIT, UnreachableError } from '../errors.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';

export function register(cmd: Command): void {
  dirOption(cmd);
  apiKeyOption(cmd);
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Exit code: 0 healthy; 5 degraded (a node down, no Raft leader or no Monitor
primary; the table still prints, with a DEGRADED line); 4 no node answered.

Examples:
  $ acp status
  $ acp status -o wide              # with pid, uptime, commit/applied index, alarms
  $ acp status -o json | jq .leader
  $ acp status >/dev/null || echo "cluster not healthy ($?)"`,
    )
    .action(async (o: KeyOptions & OutputOptions) => {
      const format = formatOf(o);
      const t = target(o);
      const s = await clusterStatus(t.cluster, 3000, t.apiKey);
      // A rejected key is one line: not a table claiming every node is down.
      if (s.nodes.every((n) => !n.up && n.error?.includes('API key rejected'))) throw new CliError('API key rejected');
      await emit(format, s, (wide) => renderStatus(s, t.dir, wide));
      if (s.nodes.every((n) => !n.up)) {
        const why = s.nodes[0]?.error ?? 'no node answered';
        if (why.includes('API key')) throw new CliError('API key rejected');
        throw new UnreachableError(`no node of the cluster in ${t.dir} is running (${why})`);
      }
      if (!s.healthy) process.exitCode = EXIT.degraded;
    });
}
