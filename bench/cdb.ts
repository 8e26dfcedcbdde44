// npm run bench:cdb [-- --json FILE] [--quick]
//
// A 3-node ACP cluster on loopback (real processes, mutual TLS, fsync on a
// majority before a write is acknowledged) against a 3-member etcd on
// loopback in the same run, under the same closed-loop write workload:
// throughput and p99 at 1/16/64/256 concurrent clients, then failover —
// SIGKILL of the leader until the cluster accepts writes again — over
// repeated trials.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { LocalClient } from '../runtime/net/local-api.ts';
import { loadApiKey } from '../runtime/net/pki.ts';
import { createCluster, spawnNode } from '../cli/launcher.ts';
import { pkiDir, type ClusterFile } from '../cli/cluster-dir.ts';
import type { NodeStatus } from '../actors/node/status.ts';
import { EtcdCluster, etcdAvailable } from './etcd.ts';
import { closedLoop, summarize, type LoadResult } from './load.ts';

const { values } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' }, trials: { type: 'string' } } });
const QUICK = values.quick === true;
const LEVELS = [1, 16, 64, 256];
const LOAD_MS = QUICK ? 1500 : 3000;
const TRIALS = Number(values.trials ?? (QUICK ? 4 : 10));

interface Result {
  writesPerSec: Record<string, number>;
  writeP99ms: Record<string, number>;
  failoverMs: { median: number; max: number; trials: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- ACP -----------------------------------------------------------------------

class AcpCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'acp-bench-'));
  cluster!: ClusterFile;
  procs = new Map<string, ChildProcess>();
  clients = new Map<string, LocalClient>();
  apiKey = '';

  async start(): Promise<void> {
    this.cluster = await createCluster(this.dir, 3);
    this.apiKey = loadApiKey(pkiDir(this.dir));
    for (const n of this.cluster.nodes) this.procs.set(n.name, spawnNode(n));
    await this.waitWritable(30_000);
  }

  async client(name: string): Promise<LocalClient> {
    let c = this.clients.get(name);
    if (c) return c;
    const node = this.cluster.nodes.find((n) => n.name === name)!;
    c = await LocalClient.connect(node.socketDir, { apiKey: this.apiKey, timeoutMs: 2000 });
    this.clients.set(name, c);
    return c;
  }

  dropClient(name: string): void {
    this.clients.get(name)?.close();
    this.clients.delete(name);
  }

  async put(name: string, id: string, seq: number, timeoutMs = 5000): Promise<void> {
    const c = await this.client(name);
    const r = (await c.call('cdb', { op: 'put', object: { type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 16 + (seq % 4096) } } }, { timeoutMs })) as { ok: boolean; message?: string };
    if (!r.ok) throw new Error(r.message);
  }

  alive(): string[] {
    return [...this.procs.entries()].filter(([, p]) => p.exitCode === null && p.signalCode === null).map(([n]) => n);
  }

  async status(name: string): Promise<NodeStatus | undefined> {
    try {
      return (await (await this.client(name)).call('status', {}, { timeoutMs: 1000 })) as NodeStatus;
    } catch {
      this.dropClient(name);
      return undefined;
    }
  }

  async leader(): Promise<string> {
    for (let i = 0; i < 200; i++) {
      for (const n of this.alive()) {
        const s = await this.status(n);
        if (s?.raft.cdb.role === 'leader') return n;
      }
      await sleep(20);
    }
    throw new Error('no ACP leader');
  }

  /** Time until any surviving node acknowledges a write. */
  async waitWritable(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; ; i++) {
      const nodes = this.alive();
      const n = nodes[i % nodes.length]!;
      try {
        await this.put(n, 'probe', i, 300);
        return performance.now() - t0;
      } catch {
        if (performance.now() - t0 > timeoutMs) throw new Error('ACP did not become writable');
      }
    }
  }

  kill(name: string): Promise<void> {
    const p = this.procs.get(name)!;
    this.dropClient(name);
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async restart(name: string): Promise<void> {
    const node = this.cluster.nodes.find((n) => n.name === name)!;
    this.procs.set(name, spawnNode(node));
    // Caught up: the restarted node has applied what the leader had committed when we looked.
    const lead = await this.leader();
    const target = (await this.status(lead))!.raft.cdb.commit;
    for (let i = 0; i < 500; i++) {
      const s = await this.status(name);
      if (s && s.raft.cdb.applied >= target) return;
      await sleep(20);
    }
    throw new Error(`${name} did not catch up`);
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    await Promise.all(
      [...this.procs.values()].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function runLoad(put: (client: number, seq: number) => Promise<unknown>): Promise<Pick<Result, 'writesPerSec' | 'writeP99ms'>> {
  const writesPerSec: Record<string, number> = {};
  const writeP99ms: Record<string, number> = {};
  for (const k of LEVELS) {
    await closedLoop(k, 300, put); // warm-up at this level
    const r: LoadResult = await closedLoop(k, LOAD_MS, put);
    writesPerSec[k] = Math.round(r.perSec);
    writeP99ms[k] = Math.round(r.p99ms * 10) / 10;
    process.stderr.write(`  ${k} clients: ${writesPerSec[k]} writes/s, p99 ${writeP99ms[k]} ms${r.errors ? `, ${r.errors} errors` : ''}\n`);
  }
  return { writesPerSec, writeP99ms };
}

async function benchAcp(): Promise<Result> {
  process.stderr.write('ACP (3 nodes):\n');
  const c = new AcpCluster();
  try {
    await c.start();
    const names = c.cluster.nodes.map((n) => n.name);
    const load = await runLoad((client, seq) => c.put(names[client % names.length]!, `w${client}`, seq));
    const failovers: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const lead = await c.leader();
      const t0 = performance.now();
      await c.kill(lead);
      await c.waitWritable(20_000);
      failovers.push(Math.round(performance.now() - t0));
      process.stderr.write(`  failover ${t + 1}/${TRIALS}: ${failovers.at(-1)} ms (killed ${lead})\n`);
      await c.restart(lead);
    }
    return { ...load, failoverMs: summarize(failovers) };
  } finally {
    await c.stop();
  }
}

async function benchEtcd(): Promise<Result> {
  process.stderr.write('etcd (3 members):\n');
  const e = new EtcdCluster(23790 + Math.floor(Math.random() * 1000) * 2);
  try {
    await e.startAll();
    const load = await runLoad((client, seq) => e.put(e.members[client % 3]!, `w${client}`, `v${seq}`));
    const failovers: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const lead = await e.leader();
      const t0 = performance.now();
      await e.kill(lead);
      await e.waitWritable(20_000);
      failovers.push(Math.round(performance.now() - t0));
      process.stderr.write(`  failover ${t + 1}/${TRIALS}: ${failovers.at(-1)} ms\n`);
      e.start(lead, 'existing');
      await e.waitWritable(20_000);
      await sleep(500);
    }
    return { ...load, failoverMs: summarize(failovers) };
  } finally {
    await e.stop();
  }
}

const acp = await benchAcp();
const out: Result & { etcd?: Result; etcdNote?: string } = { ...acp };
if (etcdAvailable()) out.etcd = await benchEtcd();
else out.etcdNote = 'etcd is not installed (apt-get install etcd-server): ACP figures only';

const row = (label: string, a: number, b: number | undefined, better: 'higher' | 'lower'): string =>
  `${label.padEnd(26)} ${String(a).padStart(9)}  ${b === undefined ? '        -' : String(b).padStart(9)}  ${b === undefined ? '' : `${(better === 'higher' ? a / b : b / a).toFixed(2)}×`}`;
console.log(`${'metric'.padEnd(26)} ${'acp'.padStart(9)}  ${'etcd'.padStart(9)}  acp advantage`);
for (const k of LEVELS) console.log(row(`writes/s @${k}`, acp.writesPerSec[k]!, out.etcd?.writesPerSec[k], 'higher'));
for (const k of LEVELS) console.log(row(`write p99 ms @${k}`, acp.writeP99ms[k]!, out.etcd?.writeP99ms[k], 'lower'));
console.log(row('failover median ms', acp.failoverMs.median, out.etcd?.failoverMs.median, 'lower'));
console.log(row('failover max ms', acp.failoverMs.max, out.etcd?.failoverMs.max, 'lower'));
if (out.etcdNote) console.log(out.etcdNote);
if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
