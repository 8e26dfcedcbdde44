// The cluster directory (`--dir`, default ./.acp): how every command that
// talks to a running cluster finds it.
//
//   DIR/cluster.json        the nodes: name, address, data and socket dirs
//   DIR/run.json            pids of the node processes `acp up` started
//   DIR/pki/                cluster CA, node certificates, api.key (0600)
//   DIR/nodes/<name>/       config.json, node.log, Raft data, control socket
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.ts';

export const clusterFileSchema = z.strictObject({
  v: z.literal(1),
  nodes: z
    .array(
      z.strictObject({
        name: z.string(),
        host: z.string(),
        port: z.number().int(),
        dir: z.string(),
        config: z.string(),
        socketDir: z.string(),
      }),
    )
    .min(1),
});
export type ClusterFile = z.output<typeof clusterFileSchema>;
export type ClusterNode = ClusterFile['nodes'][number];

export const runFileSchema = z.strictObject({ v: z.literal(1), pids: z.record(z.string(), z.number().int()), detached: z.boolean(), startedAt: z.string() });
export type RunFile = z.output<typeof runFileSchema>;

export function clusterDir(dir: string | undefined): string {
  return resolve(dir ?? '.acp');
}

export function pkiDir(dir: string): string {
  return join(dir, 'pki');
}

export function readClusterFile(dir: string): ClusterFile {
  const f = join(dir, 'cluster.json');
  if (!existsSync(f)) throw new UsageError(`no cluster in ${dir} (start one with: acp up --dir ${dir})`, 1);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new UsageError(`${f} is not valid JSON: ${(e as Error).message}`, 1);
  }
  const r = clusterFileSchema.safeParse(raw);
  if (!r.success) throw new UsageError(`${f} is not a cluster file: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`, 1);
  return r.data;
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode });
  renameSync(tmp, file);
}

export function readRunFile(dir: string): RunFile | undefined {
  const f = join(dir, 'run.json');
  if (!existsSync(f)) return undefined;
  try {
    const r = runFileSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

/** Is a process with this pid alive (and ours to signal)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
