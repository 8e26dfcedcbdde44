// The ports of a real node: the mutual-TLS transport to its peers, one SQLite
// log per Raft group in its data directory, and the process's own metrics.
// Built inside the worker that runs the node's services (a socket or a
// database cannot cross threads), by the worker entry `nodeCore` below, which
// then starts the same tree a simulated node runs.
import os from 'node:os';
import { join } from 'node:path';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { defineBehavior, setup, type ActorContext, type ActorRef, type Behavior, type Logger } from '../../runtime/actor/index.ts';
import { NodeTransport } from '../../runtime/net/node-transport.ts';
import { loadNodeCredentials } from '../../runtime/net/pki.ts';
import { LinkTracker, PeerPort, type PeerFrame, type PeerLinkStats } from '../../runtime/ports/peers.ts';
import type { HostMetrics, NodePorts } from '../../runtime/ports/ports.ts';
import { SqliteDurableLog } from '../../runtime/raft/sqlite-storage.ts';
import type { RegistryMsg } from '../../runtime/registry/registry.ts';
import { LinuxNetDriver } from '../network/linux.ts';
import { LinuxStorageDriver } from '../storage/linux.ts';
import type { NodeConfig } from './config.ts';
import { nodeTree, type NodeSpec } from './tree.ts';
import { LinuxHypervisor } from '../hypervisor/linux.ts';

export interface LinuxPorts extends NodePorts {
  /** Resolves once the peer port listens. */
  readonly started: Promise<void>;
  close(): Promise<void>;
}

export function processMetrics(): HostMetrics {
  let last = process.cpuUsage();
  let lastAt = performance.now();
  return {
    cpuPct() {
      const now = performance.now();
      const cpu = process.cpuUsage(last);
      last = process.cpuUsage();
      const pct = Math.min(100, ((cpu.user + cpu.system) / 1000 / Math.max(1, now - lastAt)) * 100);
      lastAt = now;
      return pct;
    },
    rssBytes: () => process.memoryUsage.rss(),
    heapUsedBytes: () => process.memoryUsage().heapUsed,
    memUsedPct: () => (1 - os.freemem() / os.totalmem()) * 100,
    load1: () => os.loadavg()[0]!,
    capacity: () => ({ vcpus: os.availableParallelism(), memoryMb: Math.floor(os.totalmem() / 2 ** 20) }),
  };
}

export function openLinuxPorts(cfg: NodeConfig, log: Logger): LinuxPorts {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const creds = loadNodeCredentials(cfg.pkiDir, cfg.name);
  const boot = nextBoot(join(cfg.dataDir, 'boot'));
  const peers = new PeerPort(
    cfg.name,
    cfg.peers.map((p) => p.name),
    { instance: boot },
  );
  const addrs: Record<string, { host: string; port: number }> = {};
  for (const p of cfg.peers) if (p.name !== cfg.name) addrs[p.name] = { host: p.host, port: p.port };
  // Link states on the monotonic clock. A link the transport closed because nothing came for its
  // idle timeout (its idleTimeouts count moved) is 'silent'; any other close came from the other
  // side or its socket: 'closed' (a killed process's kernel closes its connections at once).
  const links = new LinkTracker(peers.peers, () => performance.now());
  const idleSeen = new Map<string, number>();
  const transport: NodeTransport<PeerFrame> = new NodeTransport<PeerFrame>({
    self: cfg.name,
    listen: cfg.listen,
    creds,
    peers: addrs,
    validate: (x) => peers.validate(x),
    onFrame: (from, f) => peers.deliver(from, f),
    onPeerState: (peer, up) => {
      // To the services (a Raft follower whose link to its leader closes campaigns early)…
      peers.peerState(peer, up);
      // …and to the Monitor's evidence: how the link went down (closed by the peer, or silent).
      if (up) return links.up(peer);
      const idle = transport.stats().peers[peer]?.idleTimeouts ?? 0;
      const silent = idle > (idleSeen.get(peer) ?? 0);
      idleSeen.set(peer, idle);
      links.down(peer, silent ? 'silent' : 'closed');
    },
    log: { debug: () => {}, info: () => {}, warn: (m, f) => log.warn(m, f), error: (m, f) => log.error(m, f) },
  });
  peers.attach({
    send: (to, f) => transport.send(to, f),
    maxFrameBytes: transport.maxFrameBytes,
    isConnected: (to) => transport.isConnected(to),
    links: () => links.all(),
    stats: () => {
      const out: Record<string, PeerLinkStats> = {};
      for (const [name, p] of Object.entries(transport.stats().peers)) {
        const l = links.state(name);
        out[name] = { connected: p.connected, reconnects: p.reconnects, framesIn: p.framesIn, framesOut: p.framesOut, rejected: p.rejected, ...(l.up ? {} : { down: { cause: l.cause, forMs: Math.round(l.forMs) } }) };
      }
      return out;
    },
    listener: () => transport.stats().listener,
  });
  const logs: SqliteDurableLog[] = [];
  const started = transport.start().then(() => undefined);
  return {
    node: cfg.name,
    boot,
    peers,
    host: processMetrics(),
    started,
    openLog(group) {
      const l = new SqliteDurableLog(join(cfg.dataDir, `${group}.raft.sqlite`));
      logs.push(l);
      return l;
    },
    async close() {
      for (const l of logs) {
        try {
          l.close();
        } catch {
          /* already closed by its group */
        }
      }
      await started.catch(() => {});
      await transport.stop();
    },
  };
}

/** Read, increment and durably write the node's boot count. */
function nextBoot(file: string): number {
  let n = 0;
  try {
    n = Number.parseInt(readFileSync(file, 'utf8'), 10) || 0;
  } catch {
    /* first start */
  }
  n++;
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${n}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return n;
}

export function nodeSpecOf(cfg: NodeConfig): NodeSpec {
  const me = cfg.peers.find((p) => p.name === cfg.name)!;
  return {
    name: cfg.name,
    address: `${me.host}:${me.port}`,
    voters: cfg.peers.map((p) => p.name),
    raft: { tickMs: cfg.raft.tickMs, electionTicks: cfg.raft.electionTicks, heartbeatTicks: cfg.raft.heartbeatTicks, snapshotEvery: cfg.raft.snapshotEvery },
    meta: cfg.meta,
    monitor: cfg.monitor,
    agent: { reportMs: 1000 },
    ...(cfg.network.underlay ? { dataAddress: cfg.network.underlay.address } : {}),
  };
}

/** The Linux drivers of the node's reconciling services. */
export function linuxDrivers(cfg: NodeConfig) {
  const n = cfg.network;
  return {
    storage: new LinuxStorageDriver({ dataDir: cfg.dataDir }),
    hypervisor: new LinuxHypervisor({ node: cfg.name, dataDir: cfg.dataDir }),
    network: new LinuxNetDriver({
      node: cfg.name,
      dataDir: cfg.dataDir,
      prefix: n.prefix,
      ...(n.netns !== undefined ? { netns: n.netns } : {}),
      ...(n.underlay !== undefined ? { underlay: n.underlay } : {}),
      ...(n.uplink !== undefined ? { uplink: n.uplink } : {}),
    }),
  };
}

// Ports owned by the incarnation of `nodeCore` in this worker. A crash skips
// PostStop, so the next incarnation closes what the previous one left.
let leftover: LinuxPorts | null = null;

/** The worker entry: builds the real ports in this thread, then runs the node's tree on them. */
export const nodeCore = defineBehavior(import.meta.url, 'nodeCore', (args: { cfg: NodeConfig; registry: ActorRef<RegistryMsg> }) =>
  setup<unknown>((ctx: ActorContext<unknown>) => {
    const old = leftover;
    leftover = null;
    void old?.close();
    const ports = openLinuxPorts(args.cfg, ctx.log);
    leftover = ports;
    ports.started.catch((e: Error) => ctx.log.error(`peer port: ${e.message}`));
    // Workloads outlive this incarnation: a new hypervisor driver adopts what the previous one started.
    const drivers = linuxDrivers(args.cfg);
    const tree = nodeTree(nodeSpecOf(args.cfg), ports, args.registry, drivers);
    const inner = tree.setup!(ctx) as Behavior<unknown>;
    return {
      ...inner,
      onSignal: async (c, sig) => {
        const next = await inner.onSignal?.(c, sig);
        if (sig.signal === 'PostStop') {
          if (leftover === ports) leftover = null;
          await drivers.hypervisor.close();
          await drivers.storage.close?.();
          await ports.close();
        }
        return next;
      },
    };
  }),
);
