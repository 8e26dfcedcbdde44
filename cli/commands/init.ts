// `acp init`: set up a cluster for real machines — the cluster CA, a
// certificate per node (valid for the node's address), the API key, and one
// config file per node to copy to that machine.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, UsageError } from '../errors.ts';
import { checkClusterDir, clusterDir, ensureDir, pkiDir, writeJsonAtomic } from '../cluster-dir.ts';
import { dirOption, intOption } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';

export function register(cmd: Command): void {
  cmd.requiredOption('--node <name=host:port>', 'a founding member; repeat for each node', (v: string, acc: string[]) => [...acc, v], [] as string[]);
  dirOption(cmd, 'where to write pki/ and nodes/<name>.json; created mode 0700');
  cmd.option('--data-dir <dir>', 'data directory on each machine', '/var/lib/acp');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  $ acp init --node n1=10.0.0.1:7400 --node n2=10.0.0.2:7400 --node n3=10.0.0.3:7400 --dir cluster
  $ acp init --node n1=10.0.0.1:7400 --dir cluster --data-dir /srv/acp -o json`,
    )
    .action(async (o: { node: string[]; dir: string; dataDir: string } & OutputOptions) => {
      const format = formatOf(o);
      const dir = clusterDir(o.dir);
      if (o.node.length === 0) throw new UsageError('give at least one --node name=host:port');
      const peers = o.node.map((spec) => {
        const m = /^([^=]+)=(.+):(\d+)$/.exec(spec);
        if (!m) throw new UsageError(`--node must look like name=host:port, got "${spec}"`);
        return { name: m[1]!, host: m[2]!, port: intOption('--node port', m[3]!, 1, 65535) };
      });
      if (existsSync(join(pkiDir(dir), 'ca.crt'))) throw new UsageError(`${dir} already holds a cluster CA; use a new --dir`);
      const { parseNodeConfig, ConfigError } = await import('../../actors/node/config.ts');
      const configs = peers.map((p) => {
        try {
          return parseNodeConfig({ name: p.name, listen: { host: p.host, port: p.port }, peers, dataDir: o.dataDir, pkiDir: join(o.dataDir, 'pki') }, '/', `node ${p.name}`);
        } catch (e) {
          if (e instanceof ConfigError) throw new UsageError(e.message);
          throw e;
        }
      });
      checkClusterDir(dir, { create: true });
      const { initCluster } = await import('../../runtime/net/pki.ts');
      try {
        await initCluster(pkiDir(dir), { nodes: peers.map((p) => p.name), hosts: Object.fromEntries(peers.map((p) => [p.name, [p.host]])) });
      } catch (e) {
        throw new CliError(`cannot create the cluster PKI: ${(e as Error).message}`);
      }
      ensureDir(join(dir, 'nodes'));
      const files: Record<string, string> = {};
      for (const c of configs) {
        const f = join(dir, 'nodes', `${c.name}.json`);
        writeJsonAtomic(f, { name: c.name, listen: c.listen, peers: c.peers, dataDir: o.dataDir, pkiDir: join(o.dataDir, 'pki') });
        files[c.name] = f;
      }
      await emit(format, { pkiDir: pkiDir(dir), configs: files }, () =>
        [
          `cluster CA, ${peers.length} node certificate${peers.length === 1 ? '' : 's'} and the API key are in ${pkiDir(dir)}`,
          `On each machine: copy ${pkiDir(dir)}/{ca.crt,api.key,nodes/<name>.crt,nodes/<name>.key} to ${join(o.dataDir, 'pki')}/ (keep ca.key off the nodes),`,
          `then run: acp node start --config ${join(dir, 'nodes', '<name>.json')}`,
        ].join('\n'),
      );
    });
}
