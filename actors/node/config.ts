// A node's configuration: a JSON file (or flags) validated before anything
// starts, so a typo is one clear line instead of a half-started node.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit');
const host = z.string().min(1).max(253);
const port = z.number().int().min(1).max(65535);

export const nodeConfigSchema = z.strictObject({
  name,
  listen: z.strictObject({ host, port }),
  /** Every founding member, including this node: Raft bootstraps from this list. */
  peers: z.array(z.strictObject({ name, host, port })).min(1).max(15),
  /** Where this node keeps its Raft logs and snapshots. */
  dataDir: z.string().min(1),
  /** Cluster PKI directory: ca.crt, nodes/<name>.crt|key, api.key. */
  pkiDir: z.string().min(1),
  /** Directory of the local control socket (owner-only). Default: dataDir. */
  socketDir: z.string().min(1).optional(),
  // 5 ms ticks with a 24-tick election timeout (120–240 ms; the host keeps ticks to the clock):
  // fine-grained randomization makes split votes between the two survivors of a 3-node failover
  // rare (15 ms ticks collided ~10%), and a dead leader is replaced in ~150 ms (median of the
  // first of two survivors to time out) plus an election round. Heartbeats every 20 ms: six per
  // shortest timeout. A leader's disk no longer holds up its heartbeats (its own log syncs in the
  // background), so the timeout has to cover only a stalled or starved thread.
  raft: z
    .strictObject({
      tickMs: z.number().int().min(1).max(1000).default(5),
      electionTicks: z.number().int().min(3).max(200).default(24),
      heartbeatTicks: z.number().int().min(1).max(50).default(4),
      snapshotEvery: z.number().int().min(10).default(5000),
    })
    .prefault({}),
  monitor: z.strictObject({ intervalMs: z.number().int().min(50).max(60_000).default(500) }).prefault({}),
  meta: z.strictObject({ publishMs: z.number().int().min(20).max(60_000).default(250), staleAfterMs: z.number().int().min(100).default(3000) }).prefault({}),
  /**
   * The node's data plane (the Network service): the namespace its bridges and segments live in
   * (absent: the host's), the prefix of the link names it generates, the underlay VXLAN segments
   * start from (a link and its IPv4 address: the node object's dataAddress), the uplink 802.1Q
   * sub-interfaces hang off. `acp up` as root fills it in; without it networks spanning nodes are
   * unsupported on this node.
   */
  network: z
    .strictObject({
      netns: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/).optional(),
      prefix: z.string().regex(/^[a-z][a-z0-9]{0,5}$/, 'must be 1-6 lowercase letters or digits, starting with a letter').default('acp'),
      underlay: z.strictObject({ dev: z.string().min(1).max(15), address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address') }).optional(),
      uplink: z.string().min(1).max(15).optional(),
    })
    .prefault({}),
});

export type NodeConfig = z.output<typeof nodeConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validate a config object; paths are resolved against `base`. */
export function parseNodeConfig(raw: unknown, base = process.cwd(), source = 'config'): NodeConfig {
  const r = nodeConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new ConfigError(`${source}: ${where}: ${issue.message}`);
  }
  const c = r.data;
  if (!c.peers.some((p) => p.name === c.name)) throw new ConfigError(`${source}: peers must include this node ("${c.name}")`);
  const names = new Set<string>();
  for (const p of c.peers) {
    if (names.has(p.name)) throw new ConfigError(`${source}: peer "${p.name}" is listed twice`);
    names.add(p.name);
  }
  if (c.raft.heartbeatTicks >= c.raft.electionTicks) throw new ConfigError(`${source}: raft.heartbeatTicks must be below raft.electionTicks`);
  return {
    ...c,
    dataDir: resolve(base, c.dataDir),
    pkiDir: resolve(base, c.pkiDir),
    ...(c.socketDir ? { socketDir: resolve(base, c.socketDir) } : {}),
  };
}

export function loadNodeConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseNodeConfig(raw, dirname(resolve(file)), file);
}
