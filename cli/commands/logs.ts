// `acp logs SYSTEM [-f] [--tail N]`: a system's stdout and stderr as the Hypervisor of the node
// that runs it writes them (workloads/<id>/stdout.log, stderr.log), read through that node's
// control socket (`system.logs`). -f polls for more every half second until Ctrl-C.
import type { Command } from 'commander';
import { CliError, exitForReplyCode, UnreachableError } from '../errors.ts';
import { apiKeyOption, dirOption, intOption, type KeyOptions } from '../options.ts';
import { emit, emitEvent, formatOf, outputOptions, type OutputOptions } from '../output.ts';
import type { Reply, Session } from '../objects.ts';
import { getSystem, hostOf, systemId } from './system-target.ts';

type Options = KeyOptions & OutputOptions & { follow?: boolean; tail?: string };
type Stream = 'stdout' | 'stderr';
const STREAMS: readonly Stream[] = ['stdout', 'stderr'];
const POLL_MS = 500;

/** The last `n` lines of `text` (a last line without its newline counts). */
export function lastLines(text: string, n: number | undefined): string {
  if (n === undefined) return text;
  if (n === 0) return '';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const lines = body.split('\n');
  return lines.length <= n ? text : lines.slice(-n).join('\n') + (text.endsWith('\n') ? '\n' : '');
}

async function chunk(s: Session, id: string, stream: Stream, at: { offset: number } | { tail: number }): Promise<{ data: string; next: number }> {
  const r: Reply = await s.call('system.logs', { id, stream, ...at });
  if (!r.ok) throw new CliError(`node ${s.node}: ${r.code}: ${r.message}`, exitForReplyCode(r.code));
  return { data: r.data as string, next: r.next as number };
}

export function register(cmd: Command): void {
  cmd.argument('<system>', 'the system: vm1 or system/vm1');
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd
    .option('-f, --follow', 'keep printing what the system writes until Ctrl-C')
    .option('--tail <n>', 'only the last N lines of each log (default: the last 64 KiB)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
The logs are read from the node the system runs on (spec.node, else its
placement): what it wrote to stdout is printed on stdout, what it wrote to
stderr on stderr. They are kept across restarts of the workload (appended)
and removed with the system. -o json prints { system, node, stdout, stderr };
with -f, one JSON line { stream, data } per chunk.

Exit codes: 2 bad arguments, 3 no such system, 4 its node does not answer.

Examples:
  $ acp logs web1
  $ acp logs web1 --tail 20
  $ acp logs system/web1 -f          # follow; Ctrl-C ends it
  $ acp logs web1 -o json`,
    )
    .action(async (arg: string, o: Options) => {
      const format = formatOf(o);
      const id = systemId(arg);
      const tail = o.tail === undefined ? undefined : intOption('--tail', o.tail, 0, 1_000_000);
      const { target } = await import('../client.ts');
      const { Session } = await import('../objects.ts');
      const t = target(o);
      const s = await Session.open(t);
      let host: Session | undefined;
      try {
        const node = await hostOf(s, (await getSystem(s, id)).object);
        host = node === s.node ? s : await Session.open(t, node);
        // The first read: the end of each log (64 KiB, or 256 KiB when cut to lines).
        const first = await Promise.all(STREAMS.map((st) => chunk(host!, id, st, { tail: tail === undefined ? 64 * 1024 : 256 * 1024 })));
        const text = first.map((c) => lastLines(c.data, tail));
        if (!o.follow) {
          if (format === 'json' || format === 'yaml') await emit(format, { system: id, node, stdout: text[0], stderr: text[1] }, () => '');
          else {
            process.stdout.write(text[0]!);
            process.stderr.write(text[1]!);
          }
          return;
        }
        const print = async (st: Stream, data: string): Promise<void> => {
          if (data === '') return;
          if (format === 'json' || format === 'yaml') await emitEvent(format, { stream: st, data }, () => data);
          else (st === 'stdout' ? process.stdout : process.stderr).write(data);
        };
        const next = first.map((c) => c.next);
        for (let i = 0; i < STREAMS.length; i++) await print(STREAMS[i]!, text[i]!);
        let stopped = false;
        let wake: () => void = () => {};
        const quit = (): void => {
          stopped = true;
          wake();
        };
        process.once('SIGINT', quit);
        process.once('SIGTERM', quit);
        try {
          while (!stopped) {
            for (let i = 0; i < STREAMS.length && !stopped; i++) {
              // Everything new, in chunks of at most 256 KiB.
              for (;;) {
                let c: { data: string; next: number };
                try {
                  c = await chunk(host, id, STREAMS[i]!, { offset: next[i]! });
                } catch (e) {
                  if (e instanceof CliError && e.exitCode !== 1) throw e;
                  throw new UnreachableError(`following the logs ended: ${(e as Error).message}`);
                }
                if (c.next < next[i]!) next[i] = 0; // the log started again (the system was re-created)
                await print(STREAMS[i]!, c.data);
                const more = c.data.length > 0 && c.next > next[i]!;
                next[i] = c.next;
                if (!more || stopped) break;
              }
            }
            if (!stopped) await new Promise<void>((r) => ((wake = r), setTimeout(r, POLL_MS)));
          }
        } finally {
          process.removeListener('SIGINT', quit);
          process.removeListener('SIGTERM', quit);
        }
      } finally {
        if (host && host !== s) host.close();
        s.close();
      }
    });
}
