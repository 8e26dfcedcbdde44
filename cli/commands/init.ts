// `acp init`: set up a cluster for real machines — the cluster CA, a
// certificate per node (valid for the node's address), the API key, and one
// config file per node to copy to that machine.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initCluster } from '../../runtime/net/pki.ts';
import { parseNodeConfig, ConfigError } from '../../actors/node/config.ts';
import { UsageError } from '../errors.ts';
import { clusterDir, ensureDir, pkiDir, writeJsonAtomic } from '../cluster-dir.ts';
import { intOption } from '../options.ts';

export function register(program: Command): void {
  program
    .command('init')
    .description('create a cluster CA, node certificates, the API key and node configs for real machines')
    .requiredOption('--node <name=host:port>', 'a founding member; repeat for each node', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dir <dir>', 'where to write pki/ and nodes/<name>.json', '.acp')
    .option('--data-dir <dir>', 'data directory on each machine', '/var/lib/acp')
    .action(async (o: { node: string[]; dir: string; dataDir: string }) => {
      const dir = clusterDir(o.dir);
      if (o.node.length === 0) throw new UsageError('give at least one --node name=host:port');
      const peers = o.node.map((spec) => {
        const m = /^([^=]+)=(.+):(\d+)$/.exec(spec);
        if (!m) throw new UsageError(`--node must look like name=host:port, got "${spec}"`);
        return { name: m[1]!, host: m[2]!, port: intOption('--node port', m[3]!, 1, 65535) };
      });
      if (existsSync(join(pkiDir(dir), 'ca.crt'))) throw new UsageError(`${dir} already holds a cluster CA; use a new --dir`, 1);
      const configs = peers.map((p) => {
        try {
          return parseNodeConfig({ name: p.name, listen: { host: p.host, port: p.port }, peers, dataDir: o.dataDir, pkiDir: join(o.dataDir, 'pki') }, '/', `node ${p.name}`);
        } catch (e) {
          if (e instanceof ConfigError) throw new UsageError(e.message);
          throw e;
        }
      });
      ensureDir(dir);
      try {
        await initCluster(pkiDir(dir), { nodes: peers.map((p) => p.name), hosts: Object.fromEntries(peers.map((p) => [p.name, [p.host]])) });
      } catch (e) {
        throw new UsageError(`cannot create the cluster PKI: ${(e as Error).message}`, 1);
      }
      ensureDir(join(dir, 'nodes'));
      for (const c of configs) {
        writeJsonAtomic(join(dir, 'nodes', `${c.name}.json`), { name: c.name, listen: c.listen, peers: c.peers, dataDir: o.dataDir, pkiDir: join(o.dataDir, 'pki') });
      }
      process.stdout.write(`cluster CA, ${peers.length} node certificate${peers.length === 1 ? '' : 's'} and the API key are in ${pkiDir(dir)}\n`);
      process.stdout.write(`On each machine: copy ${pkiDir(dir)}/{ca.crt,api.key,nodes/<name>.crt,nodes/<name>.key} to ${join(o.dataDir, 'pki')}/ (keep ca.key off the nodes),\n`);
      process.stdout.write(`then run: acp node start --config ${join(dir, 'nodes', '<name>.json')}\n`);
    });
}
