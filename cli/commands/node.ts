// `acp node start`: run one node in this process (what `acp up` starts N of).
import type { Command } from 'commander';
import { ConfigError, loadNodeConfig, parseNodeConfig, type NodeConfig } from '../../actors/node/config.ts';
import { NodeStartError, startNode } from '../../actors/node/node.ts';
import type { LogEntry } from '../../runtime/actor/index.ts';
import { UsageError } from '../errors.ts';
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

export function register(program: Command): void {
  const node = program.command('node').description('run a node of a cluster');
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
    .action(async (o: StartOptions) => {
      const cfg = configFrom(o);
      const log = (e: LogEntry): void => {
        if (e.level === 'debug' || (e.level === 'info' && !o.verbose)) return;
        process.stderr.write(JSON.stringify({ t: new Date().toISOString(), node: cfg.name, ...e }) + '\n');
      };
      let handle;
      try {
        handle = await startNode(cfg, log);
      } catch (e) {
        if (e instanceof NodeStartError) throw new UsageError(e.message, 1);
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

function configFrom(o: StartOptions): NodeConfig {
  try {
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
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

function hostPort(opt: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`${opt} must look like host:port, got "${v}"`);
  return { host: v.slice(0, i), port: intOption(opt, v.slice(i + 1), 1, 65535) };
}
