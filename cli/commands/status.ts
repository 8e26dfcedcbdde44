// `acp status`: nodes, Raft leader and term, Monitor primary, health score,
// and every node's actors with their restart counts.
import type { Command } from 'commander';
import { clusterStatus, renderStatus } from '../status-view.ts';
import { target } from '../client.ts';
import { UsageError } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('status')
    .description('show the cluster: nodes, Raft leader and term, Monitor primary, health, actors')
    .option('--dir <dir>', 'cluster directory', '.acp')
    .option('--api-key <key>', 'API key (default: DIR/pki/api.key or $ACP_API_KEY)')
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; apiKey?: string; json?: boolean }) => {
      const t = target(o.dir, o.apiKey);
      const s = await clusterStatus(t.dir, t.cluster, 3000, t.apiKey);
      // A rejected key is one line: not a table claiming every node is down.
      if (s.nodes.every((n) => !n.up && n.error?.includes('API key rejected'))) throw new UsageError('API key rejected', 1);
      if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else process.stdout.write(renderStatus(s, t.dir) + '\n');
      if (s.nodes.every((n) => !n.up)) {
        const why = s.nodes[0]?.error ?? 'no node answered';
        throw new UsageError(why.includes('API key') ? 'API key rejected' : `no node of the cluster in ${t.dir} is running (${why})`, 1);
      }
    });
}
