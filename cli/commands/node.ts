// `acp node start`: run one node in this process (what `acp up` starts N of).
import type { Command } from 'commander';
import type { NodeConfig } from '../../actors/node/config.ts';
import type { LogEntry } from '../../runtime/actor/index.ts';
import { CliError, UsageError } from '../errors.ts';
import { intOption } from '../options.ts';

interface StartOptions {
  config?: string;
  name?: string;
  listen?: string;
  peer: string[];
  dataDir?: string;
  pkiDir?: string;
  verbose?: boolean;
}

export function register(node: Command): void {
  node.addHelpText('after', '\nExamples:\n  $ acp node start --config /etc/acp/n1.json');
  node
    .command('start')
    .description('start this machine\'s node in the foreground (SIGTERM or Ctrl-C stops it cleanly)')
    .option('--config <file>', 'node config file (JSON)')
    .option('--name <name>', 'node name (without --config)')
    .option('--listen <host:port>', 'address for the other nodes (without --config)')
    .option('--peer <name=host:port>', 'a founding member, this node included; repeat for each', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--data-dir <dir>', 'Raft logs and snapshots (without --config)')
    .option('--pki-dir <dir>', 'cluster CA, node certificates and api.key (from acp init)')
    .option('-v, --verbose', 'log info lines too')
    .addHelpText(
      'after',
      `
The node logs JSON lines on stderr; it prints nothing on stdout.

Examples:
  $ acp node start --config n1.json                 # a config written by acp init
  $ acp node start --name n1 --listen 10.0.0.1:7400 --peer n2=10.0.0.2:7400 \\
      --data-dir /var/lib/acp --pki-dir /var/lib/acp/pki`,
    )
    .action(async (o: StartOptions) => {
      const { ConfigError, loadNodeConfig, parseNodeConfig } = await import('../../actors/node/config.ts');
      const { NodeStartError, startNode } = await import('../../actors/node/node.ts');
      let cfg: NodeConfig;
      try {
        cfg = configFrom(o, loadNodeConfig, parseNodeConfig);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      const log = (e: LogEntry): void => {
        if (e.level === 'debug' || (e.level === 'info' && !o.verbose)) return;
        process.stderr.write(JSON.stringify({ t: new Date().toISOString(), node: cfg.name, ...e }) + '\n');
      };
      let handle;
      try {
        handle = await startNode(cfg, log);
      } catch (e) {
        if (e instanceof NodeStartError) throw new CliError(e.message);
        throw e;
      }
      process.stderr.write(`node ${cfg.name} started: peers on ${cfg.listen.host}:${cfg.listen.port}, control socket in ${cfg.socketDir ?? `${cfg.dataDir}/sock`}\n`);
      const stop = (): void => {
        process.stderr.write(`node ${cfg.name} stopping\n`);
        void handle.stop();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const { fatal } = await handle.stopped;
      process.removeListener('SIGTERM', stop);
      process.removeListener('SIGINT', stop);
      if (fatal) process.exitCode = 1;
      else process.stderr.write(`node ${cfg.name} stopped\n`);
    });
}

type Config = typeof import('../../actors/node/config.ts');

function configFrom(o: StartOptions, loadNodeConfig: Config['loadNodeConfig'], parseNodeConfig: Config['parseNodeConfig']): NodeConfig {
  if (o.config) {
    if (o.name || o.listen || o.peer.length || o.dataDir) throw new UsageError('give either --config or --name/--listen/--peer/--data-dir, not both');
    return loadNodeConfig(o.config);
  }
  if (!o.name || !o.listen || !o.dataDir || !o.pkiDir) throw new UsageError('without --config, --name, --listen, --data-dir and --pki-dir are required');
  const listen = hostPort('--listen', o.listen);
  const peers = o.peer.map((p) => {
    const m = /^([^=]+)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`--peer must look like name=host:port, got "${p}"`);
    return { name: m[1]!, ...hostPort('--peer', m[2]!) };
  });
  if (!peers.some((p) => p.name === o.name)) peers.push({ name: o.name, ...listen });
  return parseNodeConfig({ name: o.name, listen, peers, dataDir: o.dataDir, pkiDir: o.pkiDir }, process.cwd(), 'flags');
}

function hostPort(opt: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`${opt} must look like host:port, got "${v}"`);
  return { host: v.slice(0, i), port: intOption(opt, v.slice(i + 1), 1, 65535) };
}
