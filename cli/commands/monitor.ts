// `acp monitor alerts`: the alarms the Monitor primary has raised.
import type { Command } from 'commander';
import { CliError, exitForReplyCode } from '../errors.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, table, type OutputOptions } from '../output.ts';

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

export function register(mon: Command): void {
  mon.addHelpText('after', '\nExamples:\n  $ acp monitor alerts\n  $ acp monitor alerts --all -o wide');
  const alerts = mon.command('alerts').description('active alarms (and, with --all, the recent history)');
  dirOption(alerts);
  apiKeyOption(alerts);
  alerts.option('--all', 'include cleared alarms');
  outputOptions(alerts)
    .addHelpText(
      'after',
      `
Examples:
  $ acp monitor alerts
  $ acp monitor alerts --all -o wide        # with alarm ids and when they were raised
  $ acp monitor alerts -o json | jq '.active | length'`,
    )
    .action(async (o: KeyOptions & OutputOptions & { all?: boolean }) => {
      const format = formatOf(o);
      const { call, target } = await import('../client.ts');
      const t = target(o);
      const r = (await call(t, 'alerts', { all: o.all === true })) as { ok: boolean; code?: string; message?: string; active: Alarm[]; history: Alarm[]; fence: { term: number; seq: number } };
      if (!r.ok) throw new CliError(`${r.code}: ${r.message}`, exitForReplyCode(r.code));
      const { ok: _ok, ...value } = r;
      await emit(format, value, (wide) => {
        const list = o.all ? [...r.active, ...r.history.filter((h) => h.state !== 'active')] : r.active;
        if (list.length === 0) return `no ${o.all ? '' : 'active '}alarms (ledger fence term ${r.fence.term})`;
        const head = ['SEVERITY', 'STATE', 'OBJECT', 'REASON', 'RAISED BY@FENCE'];
        if (wide) head.push('RAISED AT', 'ID');
        const rows = list.map((a) => {
          const row = [a.severity.toUpperCase(), a.state, a.object, a.reason, `${a.raisedBy}@${a.fence.term}.${a.fence.seq}`];
          if (wide) row.push(a.raisedAt > 1e12 ? new Date(a.raisedAt).toISOString() : String(a.raisedAt), a.id);
          return row;
        });
        return table(head, rows);
      });
    });
}
