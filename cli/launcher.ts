// Creating a local cluster's files and starting its node processes: shared
// by `acp up`, the benchmarks and the end-to-end tests, so all three run
// exactly what a user runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDir, pkiDir, writeJsonAtomic, type ClusterFile, type ClusterNode } from './cluster-dir.ts';

const CLI = fileURLToPath(new URL('./acp.ts', import.meta.url));

export interface CreateOptions {
  /** Extra config merged into every node's config (e.g. raft timing for tests). */
  extra?: Record<string, unknown>;
}

/** A fresh cluster: ports, certificates, one config per node. */
export async function createCluster(dir: string, n: number, o: CreateOptions = {}): Promise<ClusterFile> {
  ensureDir(dir);
  const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const ports = await freePorts(n);
  // Loaded here, not at the top: the X.509 library is a large part of a short command's start-up.
  const { initCluster } = await import('../runtime/net/pki.ts');
  await initCluster(pkiDir(dir), { nodes: names });
  const peers = names.map((name, i) => ({ name, host: '127.0.0.1', port: ports[i]! }));
  const nodes = names.map((name, i) => {
    const ndir = join(dir, 'nodes', name);
    ensureDir(ndir);
    const config = join(ndir, 'config.json');
    writeJsonAtomic(config, { name, listen: { host: '127.0.0.1', port: ports[i]! }, peers, dataDir: join(ndir, 'data'), pkiDir: pkiDir(dir), socketDir: join(ndir, 'sock'), ...o.extra });
    return { name, host: '127.0.0.1', port: ports[i]!, dir: ndir, config, socketDir: join(ndir, 'sock') };
  });
  const file: ClusterFile = { v: 1, nodes };
  writeJsonAtomic(join(dir, 'cluster.json'), file);
  return file;
}


/** Start one node process; its output is appended to DIR/nodes/<name>/node.log. */
export function spawnNode(node: ClusterNode, o: { detached?: boolean } = {}): ChildProcess {
  const log = openSync(join(node.dir, 'node.log'), 'a', 0o600);
  try {
    return spawn(process.execPath, [CLI, 'node', 'start', '--config', node.config], {
      stdio: ['ignore', log, log],
      detached: o.detached === true,
      env: { ...process.env, ACP_NODE: node.name },
    });
  } finally {
    closeSync(log);
  }
}

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}
