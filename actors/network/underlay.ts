// A local cluster's data plane (`acp up` as root, the real-kernel tests, the
// benchmark): each node gets a network namespace of its own as its machine's
// data plane, joined by an underlay bridge in one more namespace:
//
//   acp-<id>-ul      bridge "ul" (MTU 9000), one port per node
//   acp-<id>-n1      "ul0" (veth to the underlay bridge), 10.77.0.1/24
//   acp-<id>-n2      "ul0", 10.77.0.2/24           … no other address, no route out
//
// The node processes stay in the host namespace (control traffic on
// loopback, as before); their Network service creates bridges and VXLAN
// segments inside their own namespace. Nothing is created in the host
// namespace, so removing the namespaces removes everything (`acp down --purge`).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';

export const UNDERLAY_DEV = 'ul0';
export const UNDERLAY_PREFIX = '10.77.0.';
export const UNDERLAY_MTU = 9000;

export interface UnderlayNode {
  name: string;
  netns: string;
  dev: string;
  address: string;
}

export interface Underlay {
  id: string;
  /** The namespace holding the underlay bridge. */
  netns: string;
  nodes: UnderlayNode[];
}

/** A short id for a cluster directory: its namespaces' names carry it. */
export function clusterNetId(dir: string): string {
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    /* not created yet */
  }
  return createHash('sha256').update(real).digest('hex').slice(0, 6);
}

export function underlayPlan(id: string, nodes: readonly string[]): Underlay {
  if (nodes.length > 250) throw new Error('at most 250 nodes on a local underlay');
  return {
    id,
    netns: `acp-${id}-ul`,
    nodes: nodes.map((name, i) => ({ name, netns: `acp-${id}-${name}`, dev: UNDERLAY_DEV, address: `${UNDERLAY_PREFIX}${i + 1}` })),
  };
}

function ip(args: string[], input?: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const c = execFile('ip', args, { env: { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) c.stdin!.end(input);
  });
}

async function must(args: string[], input?: string): Promise<string> {
  const r = await ip(args, input);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout;
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

async function links(ns: string): Promise<Set<string>> {
  const out = await must(['-n', ns, '-j', 'link', 'show']);
  return new Set((JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname));
}

/** Create what is missing of the plan (idempotent: a second call changes nothing). */
export async function ensureUnderlay(u: Underlay): Promise<void> {
  if (!netnsExists(u.netns)) await must(['netns', 'add', u.netns]);
  const have = await links(u.netns);
  if (!have.has('ul')) await must(['-n', u.netns, '-batch', '-'], `link add ul mtu ${UNDERLAY_MTU} type bridge\nlink set ul up\nlink set lo up\n`);
  for (const n of u.nodes) {
    if (!netnsExists(n.netns)) await must(['netns', 'add', n.netns]);
    const port = n.name.slice(0, 15);
    const mine = await links(n.netns);
    if (!mine.has(n.dev)) {
      if (have.has(port)) await must(['-n', u.netns, 'link', 'del', port]);
      await must(['-n', n.netns, 'link', 'add', n.dev, 'mtu', String(UNDERLAY_MTU), 'type', 'veth', 'peer', 'name', port, 'netns', u.netns, 'mtu', String(UNDERLAY_MTU)]);
      await must(['-n', u.netns, 'link', 'set', port, 'master', 'ul', 'up']);
    }
    await must(['-n', n.netns, '-force', '-batch', '-'], `link set lo up\nlink set ${n.dev} up\naddr replace ${n.address}/24 dev ${n.dev}\n`);
  }
}

/** Delete the plan's namespaces (and so every link in them); returns the ones deleted. */
export async function removeUnderlay(u: Underlay): Promise<string[]> {
  const gone: string[] = [];
  for (const ns of [...u.nodes.map((n) => n.netns), u.netns]) {
    if (!netnsExists(ns)) continue;
    await must(['netns', 'del', ns]);
    gone.push(ns);
  }
  return gone;
}

/** Namespaces of a cluster id that exist (also ones of nodes no longer in its plan). */
export function clusterNamespaces(id: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`acp-${id}-`));
  } catch {
    return [];
  }
}
