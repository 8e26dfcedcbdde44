// `acp monitor alerts`: the alarms the Monitor primary has raised.
import type { Command } from 'commander';
import { call, target } from '../client.ts';
import { UsageError } from '../errors.ts';

interface Alarm {
  id: string;
  severity: string;
  object: string;
  reason: string;
  state: string;
  raisedAt: number;
  raisedBy: string;
  fence: { term: number; seq: number };
}

export function register(program: Command): void {
  const mon = program.command('monitor').description('the Monitor: health, alerts and alarms');
  mon
    .command('alerts')
    .description('active alarms (and, with --all, the recent history)')
    .option('--dir <dir>', 'cluster directory', '.acp')
    .option('--api-key <key>', 'API key (default: DIR/pki/api.key or $ACP_API_KEY)')
    .option('--all', 'include cleared alarms')
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; apiKey?: string; all?: boolean; json?: boolean }) => {
      const t = target(o.dir, o.apiKey);
      const r = (await call(t, 'alerts', { all: o.all === true })) as { ok: boolean; code?: string; message?: string; active: Alarm[]; history: Alarm[]; fence: { term: number; seq: number } };
      if (!r.ok) throw new UsageError(`${r.code}: ${r.message}`, 1);
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const list = o.all ? [...r.active, ...r.history.filter((h) => h.state !== 'active')] : r.active;
      if (list.length === 0) {
        process.stdout.write(`no ${o.all ? '' : 'active '}alarms (ledger fence term ${r.fence.term})\n`);
        return;
      }
      const rows = list.map((a) => [a.severity.toUpperCase(), a.state, a.object, a.reason, `${a.raisedBy}@${a.fence.term}.${a.fence.seq}`]);
      const head = ['SEVERITY', 'STATE', 'OBJECT', 'REASON', 'RAISED BY@FENCE'];
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
      // trimEnd: the last column is not padded (no trailing blanks on every line).
      process.stdout.write(head.map((h, i) => h.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
      for (const row of rows) process.stdout.write(row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
    });
}
