// `acp down`: stop a cluster started with `acp up --detach`.
import type { Command } from 'commander';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { alive, clusterDir, readRunFile } from '../cluster-dir.ts';
import { intOption } from '../options.ts';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop the cluster running in --dir (started with acp up --detach)')
    .option('--dir <dir>', 'cluster directory', '.acp')
    .option('--timeout <ms>', 'how long to wait for a clean stop before SIGKILL', '10000')
    .action(async (o: { dir: string; timeout: string }) => {
      const timeoutMs = intOption('--timeout', o.timeout, 100, 600_000);
      const dir = clusterDir(o.dir);
      const run = readRunFile(dir);
      const pids = run ? Object.entries(run.pids).filter(([, pid]) => alive(pid)) : [];
      if (pids.length === 0) {
        rmSync(join(dir, 'run.json'), { force: true });
        process.stdout.write(`no cluster running in ${dir}\n`);
        return;
      }
      for (const [, pid] of pids) process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (pids.some(([, pid]) => alive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const forced = pids.filter(([, pid]) => alive(pid));
      for (const [, pid] of forced) process.kill(pid, 'SIGKILL');
      rmSync(join(dir, 'run.json'), { force: true });
      process.stdout.write(`stopped ${pids.length} node${pids.length === 1 ? '' : 's'}${forced.length ? ` (${forced.map(([n]) => n).join(', ')} killed after ${timeoutMs} ms)` : ''}\n`);
    });
}
