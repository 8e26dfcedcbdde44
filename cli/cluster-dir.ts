// The cluster directory (`--dir`, default ./.acp): how every command that
// talks to a running cluster finds it.
//
//   DIR/cluster.json        the nodes: name, address, data and socket dirs
//   DIR/run.json            pids and start times of the node processes `acp up` started
//   DIR/pki/                cluster CA, node certificates, api.key (0600)
//   DIR/nodes/<name>/       config.json, node.log, Raft data, control socket
//
// The directory must be private: run.json tells `acp down` which processes to
// signal, and pki/ holds the CA key. `acp up` creates it mode 0700 and
// refuses one that other users can write.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { CliError, NotFoundError, UsageError } from './errors.ts';

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

export const runFileSchema = z.strictObject({
  v: z.literal(1),
  pids: z.record(z.string(), z.number().int().positive()),
  /** Start time of each node process (field 22 of /proc/PID/stat), checked by `acp down` before it signals. */
  starts: z.record(z.string(), z.number().int().nonnegative()).optional(),
  detached: z.boolean(),
  startedAt: z.string(),
});
export type RunFile = z.output<typeof runFileSchema>;

/** The cluster directory: --dir (whose default is $ACP_DIR, else ./.acp). */
export function clusterDir(dir: string | undefined): string {
  return resolve(dir || process.env.ACP_DIR || '.acp');
}

/**
 * Check (and with `create`, make) the cluster directory: a directory, ours,
 * that no other user can write. Returns false when it does not exist and
 * was not to be created.
 */
export function checkClusterDir(dir: string, o: { create?: boolean } = {}): boolean {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UsageError(`--dir ${dir}: a part of the path is a file, not a directory`);
    if (code !== 'ENOENT') throw new CliError(`cannot use --dir ${dir}: ${(e as Error).message}`);
    if (!o.create) return false;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e2) {
      throw new CliError(`cannot create --dir ${dir}: ${(e2 as Error).message}`);
    }
    st = statSync(dir);
  }
  if (!st.isDirectory()) throw new UsageError(`--dir ${dir} is a file, not a directory; give a directory (it is created if missing)`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new UsageError(`--dir ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); use a directory of your own`);
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new UsageError(`--dir ${dir} has mode ${mode}: other users could write the cluster's files (run.json names the processes acp down signals); make it private with: chmod 700 ${dir}`);
  }
  return true;
}

export function pkiDir(dir: string): string {
  return join(dir, 'pki');
}

export function readClusterFile(dir: string): ClusterFile {
  const f = join(dir, 'cluster.json');
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--dir ${dir} is a file, not a cluster directory`);
  if (!existsSync(f)) throw new NotFoundError(`no cluster in ${dir} (start one with: acp up --dir ${dir})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new CliError(`${f} is not valid JSON: ${(e as Error).message}`);
  }
  const r = clusterFileSchema.safeParse(raw);
  if (!r.success) throw new CliError(`${f} is not a cluster file: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
  return r.data;
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode });
  renameSync(tmp, file);
}

export function readRunFile(dir: string): RunFile | undefined {
  const r = loadRunFile(dir);
  return 'run' in r ? r.run : undefined;
}

/** run.json, or why there is none to go by. */
export function loadRunFile(dir: string): { run: RunFile } | { missing: true } | { garbled: string } {
  const f = join(dir, 'run.json');
  if (!existsSync(f)) return { missing: true };
  try {
    const r = runFileSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
    if (r.success) return { run: r.data };
    const i = r.error.issues[0]!;
    return { garbled: `${f}: ${i.path.join('.') || '(top)'}: ${i.message}` };
  } catch (e) {
    return { garbled: `${f}: ${(e as Error).message}` };
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
