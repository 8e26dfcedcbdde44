// npm run bench:cdb [-- --json FILE] [--quick] [--trials N] [--watchers N] [--cli-trials N]
//
// A 3-node ACP cluster on loopback (real processes, mutual TLS, fsync on a
// majority before a write is acknowledged) against a 3-member etcd on
// loopback in the same run:
//  - CLI latency: one `get` as a fresh process — `node cli/acp.ts cdb get`
//    with the project's Node (and `npx acp …`, for information) against
//    `etcdctl get`, both clusters up, interleaved, median of N;
//  - the same closed-loop write workload: throughput and p99 at 1/16/64/256
//    concurrent clients;
//  - large objects: 64 KiB per write at 16 clients;
//  - many watchers: 1,000 watchers on one prefix of the leader while writing
//    to it at 1,000/s — delivery latency and the node's memory;
//  - failover: SIGKILL of the leader until the cluster accepts writes again,
//    over repeated trials.
// Each system is measured alone on the machine (the other is stopped),
// except for the CLI row, which needs both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { LocalClient, type Subscription } from '../runtime/net/local-api.ts';
import { loadApiKey } from '../runtime/net/pki.ts';
import { createCluster, spawnNode } from '../cli/launcher.ts';
import { pkiDir, type ClusterFile, type ClusterNode } from '../cli/cluster-dir.ts';
import type { NodeStatus } from '../actors/node/status.ts';
import { EtcdCluster, etcdAvailable } from './etcd.ts';
import { closedLoop, summarize, type LoadResult } from './load.ts';
import { manyWatchers, type WatchResult } from './watchers.ts';
import { timeInterleaved, type CliCommand } from './cli-latency.ts';

const { values } = parseArgs({
  options: { json: { type: 'string' }, quick: { type: 'boolean' }, trials: { type: 'string' }, watchers: { type: 'string' }, 'cli-trials': { type: 'string' } },
});
const QUICK = values.quick === true;
const LEVELS = [1, 16, 64, 256];
const LOAD_MS = QUICK ? 1500 : 3000;
const TRIALS = Number(values.trials ?? (QUICK ? 4 : 10));
/** CLI latency: trials of each command (`npx acp`, for information only, fewer when quick). */
const CLI_N = Number(values['cli-trials'] ?? 15);
const NPX_N = QUICK ? 5 : CLI_N;
/** Large objects: bytes per object and concurrent clients. */
const BIG_BYTES = 64 * 1024;
const BIG_CLIENTS = 16;
/** Many watchers: how many, the write rate, for how long, over how many ACP connections. */
const WATCHERS = Number(values.watchers ?? 1000);
const WATCH_RATE = 1000;
const WATCH_MS = QUICK ? 3000 : 5000;
/** A node's control socket accepts 64 connections (local-api.ts); streams multiplex over them. */
const WATCH_CONNS = 20;
const WATCH_DRAIN_MS = 15_000;
/** A node serving 1,000 watchers may answer writes slowly: wait for them rather than count them lost. */
const WATCH_WRITE_TIMEOUT_MS = 30_000;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The project's Node 24, as the README tells users to run the CLI. */
const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');

interface LargeResult {
  /** JSON bytes of one object (ACP) or of one value (etcd). */
  bytes: number;
  clients: number;
  writesPerSec: number;
  p99ms: number;
  errors: number;
  firstError?: string;
  what: string;
}

interface Result {
  writesPerSec: Record<string, number>;
  writeP99ms: Record<string, number>;
  failoverMs: { median: number; max: number; trials: number };
  largeObject: LargeResult;
  manyWatchers: WatchResult | { error: string };
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
    // Probes may take long on a loaded machine while the nodes start: a longer per-probe timeout.
    await this.waitWritable(60_000, 2000);
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

  /** One `cdb` request; rejects unless the reply is ok. */
  async request(name: string, params: Record<string, unknown>, timeoutMs = 5000): Promise<{ ok: true; revision: number; [k: string]: unknown }> {
    const c = await this.client(name);
    const r = (await c.call('cdb', params, { timeoutMs })) as { ok: boolean; revision: number; message?: string };
    if (!r.ok) throw new Error(r.message);
    return r as { ok: true; revision: number };
  }

  /** Write a small system object; resolves with its revision. */
  async put(name: string, id: string, seq: number, timeoutMs = 5000): Promise<number> {
    const r = await this.request(name, { op: 'put', object: { type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 16 + (seq % 4096) } } }, timeoutMs);
    return r.revision;
  }

  node(name: string): ClusterNode {
    return this.cluster.nodes.find((n) => n.name === name)!;
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
  async waitWritable(timeoutMs: number, probeMs = 300): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; ; i++) {
      const nodes = this.alive();
      const n = nodes[i % nodes.length]!;
      try {
        await this.put(n, 'probe', i, probeMs);
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
    // (A status call can time out on a loaded machine: ask again rather than give up.)
    let target: number | undefined;
    for (let i = 0; target === undefined; i++) {
      if (i === 50) throw new Error(`no ACP leader answered while ${name} restarted`);
      target = (await this.status(await this.leader()))?.raft.cdb.commit;
    }
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
    process.stderr.write(`  ${k} clients: ${writesPerSec[k]} writes/s, p99 ${writeP99ms[k]} ms${r.errors ? `, ${r.errors} errors (first: ${r.firstError})` : ''}\n`);
  }
  return { writesPerSec, writeP99ms };
}

// ---- large objects -----------------------------------------------------------------

/**
 * A 64 KiB ACP object. No field of a `system` spec takes it (name ≤ 128 characters, disks and
 * networks ≤ 64 entries: about 11 KiB at most), and the schema is not the benchmark's to change.
 * The one kind of field without a cap is an id list: a `network/vlan-bridge`'s `nodes` (ids of
 * up to 63 characters, unique), so the object is a bridge listing ~1,000 nodes — 64 KiB of JSON
 * that the CDB validates entry by entry, as it would a real one.
 */
function bigBridge(id: string, seq: number): Record<string, unknown> {
  return { type: 'network', subtype: 'vlan-bridge', id, spec: { vlan: 1 + (seq % 4094), bridge: 'br0', nodes: BIG_NODES } };
}
const BIG_NODES: string[] = [];
while (JSON.stringify(bigBridge('big0', 4093)).length < BIG_BYTES) BIG_NODES.push(`n${String(BIG_NODES.length).padStart(5, '0')}-`.padEnd(63, 'x'));
const BIG_ACP_BYTES = JSON.stringify(bigBridge('big0', 4093)).length;

async function runLarge(put: (client: number, seq: number) => Promise<unknown>, what: string, bytes: number): Promise<LargeResult> {
  await closedLoop(BIG_CLIENTS, 300, put);
  const r = await closedLoop(BIG_CLIENTS, LOAD_MS, put);
  const out: LargeResult = { bytes, clients: BIG_CLIENTS, writesPerSec: Math.round(r.perSec), p99ms: Math.round(r.p99ms * 10) / 10, errors: r.errors, what };
  if (r.firstError !== undefined) out.firstError = r.firstError;
  process.stderr.write(`  64 KiB objects, ${BIG_CLIENTS} clients: ${out.writesPerSec} writes/s, p99 ${out.p99ms} ms${r.errors ? `, ${r.errors} errors (first: ${r.firstError})` : ''}\n`);
  return out;
}

async function runWatchers(f: () => Promise<WatchResult>): Promise<WatchResult | { error: string }> {
  try {
    const r = await f();
    process.stderr.write(
      `  ${r.watchers} watchers (${r.how}): ${r.writesPerSec} writes/s, delivered ${r.deliveredEvents}/${r.expectedEvents}, ` +
        `p99 ${r.deliveryP99ms} ms (p50 ${r.deliveryP50ms}, max ${r.deliveryMaxMs}), RSS ${r.rssBeforeMiB} → peak ${r.rssPeakMiB} MiB, opened in ${r.openMs} ms` +
        `${r.writeErrors ? `; ${r.writeErrors} writes failed (first: ${r.firstWriteError})` : ''}\n`,
    );
    return r;
  } catch (e) {
    process.stderr.write(`  many watchers failed: ${(e as Error).message}\n`);
    return { error: (e as Error).message };
  }
}

// ---- ACP -----------------------------------------------------------------------------

function acpWatchers(c: AcpCluster, lead: string, rev0: number): Parameters<typeof manyWatchers>[0] {
  const node = c.node(lead);
  return {
    how: `ACP: ${WATCHERS} watch streams multiplexed over ${WATCH_CONNS} control-socket connections to the leader (a node accepts 64 connections, so 1,000 connections cannot be opened)`,
    pid: c.procs.get(lead)?.pid,
    async open(n, onRevisions) {
      const clients: LocalClient[] = [];
      const subs: Subscription[] = [];
      const close = (): void => {
        for (const s of subs) s.close();
        for (const k of clients) k.close();
      };
      try {
        for (let i = 0; i < WATCH_CONNS; i++) clients.push(await LocalClient.connect(node.socketDir, { apiKey: c.apiKey, timeoutMs: 10_000 }));
        const params = { fromRevision: rev0, type: 'system', prefix: 'mw' };
        const onEvent = (data: unknown): void => onRevisions((data as { changes: { revision: number }[] }).changes.map((ch) => ch.revision));
        for (let i = 0; i < n; i += 100) {
          const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => clients[(i + j) % WATCH_CONNS]!.subscribe('watch', params, onEvent, { timeoutMs: 30_000 })));
          subs.push(...batch);
        }
      } catch (e) {
        close();
        throw e;
      }
      return close;
    },
    write: (seq) => c.put(lead, `mw${seq % 100}`, seq, WATCH_WRITE_TIMEOUT_MS),
  };
}

async function benchAcp(c: AcpCluster): Promise<Result> {
  process.stderr.write('ACP (3 nodes):\n');
  const names = c.cluster.nodes.map((n) => n.name);
  const load = await runLoad((client, seq) => c.put(names[client % names.length]!, `w${client}`, seq));
  const largeObject = await runLarge(
    (client, seq) => c.request(names[client % names.length]!, { op: 'put', object: bigBridge(`big${client}`, seq) }, 10_000),
    `network/vlan-bridge objects listing ${BIG_NODES.length} node ids (${BIG_ACP_BYTES} bytes of JSON): no system field takes 64 KiB`,
    BIG_ACP_BYTES,
  );
  const lead = await c.leader();
  const rev0 = (await c.request(lead, { op: 'get', type: 'system', id: 'mw0' })).revision;
  const watchers = await runWatchers(() => manyWatchers(acpWatchers(c, lead, rev0), { watchers: WATCHERS, writesPerSec: WATCH_RATE, durationMs: WATCH_MS, drainMs: WATCH_DRAIN_MS }));
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
  return { ...load, failoverMs: summarize(failovers), largeObject, manyWatchers: watchers };
}

// ---- etcd ----------------------------------------------------------------------------

const newEtcd = (): EtcdCluster => new EtcdCluster(23790 + Math.floor(Math.random() * 1000) * 2);

async function benchEtcd(): Promise<Result> {
  process.stderr.write('etcd (3 members):\n');
  const e = newEtcd();
  try {
    await e.startAll();
    const load = await runLoad((client, seq) => e.put(e.members[client % 3]!, `w${client}`, `v${seq}`));
    const big = 'x'.repeat(BIG_BYTES - 8);
    const largeObject = await runLarge(
      (client, seq) => e.put(e.members[client % 3]!, `big${client}`, `${String(seq).padStart(8, '0')}${big}`, 10_000),
      `${BIG_BYTES}-byte values (base64 in the JSON gateway's request)`,
      BIG_BYTES,
    );
    const lead = await e.leader();
    const watchers = await runWatchers(() =>
      manyWatchers(
        {
          how: `etcd: ${WATCHERS} /v3/watch HTTP streams to the leader's JSON gateway, one connection each`,
          pid: lead.proc?.pid,
          open: (n, onRevisions) => e.watch(lead, 'mw/', n, onRevisions),
          write: (seq) => e.put(lead, `mw/${seq % 100}`, `v${seq}`, WATCH_WRITE_TIMEOUT_MS),
        },
        { watchers: WATCHERS, writesPerSec: WATCH_RATE, durationMs: WATCH_MS, drainMs: WATCH_DRAIN_MS },
      ),
    );
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
    return { ...load, failoverMs: summarize(failovers), largeObject, manyWatchers: watchers };
  } finally {
    await e.stop();
  }
}

// ---- CLI latency ---------------------------------------------------------------------

interface CliResult {
  cliMs: { acp: number; etcdctl: number | null };
  npxMs: number;
  trials: Record<string, number>;
}

/** Both clusters up; one `get` of an existing object as a fresh process, interleaved. */
async function benchCli(c: AcpCluster, e: EtcdCluster | undefined): Promise<CliResult> {
  process.stderr.write(`CLI latency (${CLI_N} interleaved trials${e ? '' : ', etcdctl not available'}):\n`);
  const object = { type: 'system', id: 'cli', spec: { name: 'cli', vcpus: 1, memoryMb: 512 } };
  await c.request(c.cluster.nodes[0]!.name, { op: 'put', object });
  const get = ['cdb', 'get', 'system/cli', '--dir', c.dir];
  const cmds: CliCommand[] = [
    { name: 'acp', cmd: NODE24, args: [join(ROOT, 'cli', 'acp.ts'), ...get], cwd: ROOT },
    { name: 'npx acp', cmd: 'npx', args: ['acp', ...get], cwd: ROOT, trials: NPX_N },
  ];
  const expect: Record<string, RegExp> = { acp: /"id": "cli"/, 'npx acp': /"id": "cli"/, etcdctl: /^cli$/m };
  if (e) {
    await e.put(e.members[0]!, 'cli', JSON.stringify(object));
    cmds.push({ name: 'etcdctl', cmd: 'etcdctl', args: ['--endpoints', e.endpoints(), 'get', 'cli'], cwd: ROOT });
  }
  const r = await timeInterleaved(cmds, CLI_N, { warmup: 2, expect });
  for (const [k, v] of Object.entries(r.medianMs)) process.stderr.write(`  ${k}: median ${v} ms of ${r.samples[k]!.length}\n`);
  return {
    cliMs: { acp: r.medianMs.acp!, etcdctl: e ? r.medianMs.etcdctl! : null },
    npxMs: r.medianMs['npx acp']!,
    trials: Object.fromEntries(Object.entries(r.samples).map(([k, v]) => [k, v.length])),
  };
}

// ---- run -----------------------------------------------------------------------------

const haveEtcd = etcdAvailable();
const haveEtcdctl = haveEtcd && spawnSync('etcdctl', ['version'], { encoding: 'utf8' }).status === 0;
let cli: CliResult;
let acp: Result;
{
  const c = new AcpCluster();
  let e: EtcdCluster | undefined;
  try {
    await c.start();
    if (haveEtcdctl) {
      e = newEtcd();
      await e.startAll();
    }
    cli = await benchCli(c, e);
    await e?.stop();
    e = undefined;
    acp = await benchAcp(c);
  } finally {
    await e?.stop();
    await c.stop();
  }
}
const out: Result & { cliMs: CliResult['cliMs']; cliNpxMs: number; etcd?: Result; etcdNote?: string } = { ...acp, cliMs: cli.cliMs, cliNpxMs: cli.npxMs };
if (haveEtcd) out.etcd = await benchEtcd();
else out.etcdNote = 'etcd is not installed (apt-get install etcd-server etcd-client): ACP figures only';

// ---- report ----------------------------------------------------------------------------

type Better = 'higher' | 'lower';
/** [metric, acp, etcd, acp/etcd, target, verdict] */
const rows: string[][] = [];
const num = (n: number | undefined | null): string => (n === undefined || n === null || Number.isNaN(n) ? '-' : String(n));
function row(label: string, a: number | undefined, b: number | undefined | null, better: Better | null, limit?: number): void {
  const ratio = a !== undefined && b !== undefined && b !== null && b !== 0 ? a / b : undefined;
  let target = 'none in issue';
  let verdict = '';
  if (better && limit !== undefined) {
    target = `${better === 'higher' ? '≥' : '≤'} ${limit.toFixed(1)}× etcd`;
    if (ratio !== undefined) verdict = (better === 'higher' ? ratio >= limit : ratio <= limit) ? 'met' : 'NOT met';
  }
  rows.push([label, num(a), num(b), ratio === undefined ? '-' : `${ratio.toFixed(2)}×`, target, verdict]);
}
function absolute(label: string, a: number, b: number | undefined, limit: number): void {
  rows.push([label, num(a), num(b), b ? `${(a / b).toFixed(2)}×` : '-', `≤ ${limit} ms`, a <= limit ? 'met' : 'NOT met']);
}
const E = out.etcd;
for (const k of LEVELS) row(`writes/s @${k}`, acp.writesPerSec[k], E?.writesPerSec[k], 'higher', 1);
for (const k of LEVELS) row(`write p99 ms @${k}`, acp.writeP99ms[k], E?.writeP99ms[k], 'lower', 1);
row(`64 KiB writes/s @${BIG_CLIENTS}`, acp.largeObject.writesPerSec, E?.largeObject.writesPerSec, 'higher', 1);
row(`64 KiB write p99 ms @${BIG_CLIENTS}`, acp.largeObject.p99ms, E?.largeObject.p99ms, 'lower', 1);
row(`64 KiB write errors @${BIG_CLIENTS}`, acp.largeObject.errors, E?.largeObject.errors, null);
const w = (r: Result | undefined): WatchResult | undefined => (r && !('error' in r.manyWatchers) ? r.manyWatchers : undefined);
const aw = w(acp);
const ew = w(E);
row(`${WATCHERS} watchers: delivery p99 ms`, aw?.deliveryP99ms, ew?.deliveryP99ms, null);
row(`${WATCHERS} watchers: delivery p50 ms`, aw?.deliveryP50ms, ew?.deliveryP50ms, null);
const pct = (r: WatchResult | undefined): number | undefined => (r && r.expectedEvents > 0 ? Math.round((r.deliveredEvents / r.expectedEvents) * 1000) / 10 : undefined);
row(`${WATCHERS} watchers: events delivered %`, pct(aw), pct(ew), null);
row(`${WATCHERS} watchers: writes/s achieved`, aw?.writesPerSec, ew?.writesPerSec, null);
row(`${WATCHERS} watchers: writes failed`, aw?.writeErrors, ew?.writeErrors, null);
row(`${WATCHERS} watchers: node RSS before MiB`, aw?.rssBeforeMiB, ew?.rssBeforeMiB, null);
row(`${WATCHERS} watchers: node RSS peak MiB`, aw?.rssPeakMiB, ew?.rssPeakMiB, null);
absolute('failover median ms', acp.failoverMs.median, E?.failoverMs.median, 200);
absolute('failover max ms', acp.failoverMs.max, E?.failoverMs.max, 400);
row('CLI get ms (median, fresh process)', cli.cliMs.acp, cli.cliMs.etcdctl, 'lower', 2);
row('  same via npx acp (information)', cli.npxMs, cli.cliMs.etcdctl, null);

const header = ['metric', 'acp', 'etcd', 'acp/etcd', 'target', ''];
const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]): string => r.map((x, i) => (i === 0 || i >= 4 ? x.padEnd(width[i]!) : x.padStart(width[i]!))).join('  ').trimEnd();
console.log(line(header));
console.log(width.map((n) => '-'.repeat(n)).join('  '));
for (const r of rows) console.log(line(r));
console.log('');
console.log(`64 KiB row — ACP: ${acp.largeObject.what}; etcd: ${E?.largeObject.what ?? '-'}.`);
for (const [who, r] of [['ACP', acp.largeObject], ['etcd', E?.largeObject]] as const) {
  if (r?.firstError) console.log(`64 KiB row — ${who}: ${r.errors} writes failed, the first with: ${r.firstError}`);
}
for (const x of [acp, E]) {
  if (!x) continue;
  const mw = x.manyWatchers;
  if ('error' in mw) console.log(`watchers row — ${x === acp ? 'ACP' : 'etcd'} failed: ${mw.error}`);
  else {
    const failed = mw.writeErrors ? `, ${mw.writeErrors} failed (first: ${mw.firstWriteError})` : '';
    console.log(
      `watchers row — ${mw.how}; ${mw.writes} writes acknowledged${failed} at ${WATCH_RATE}/s asked for ${WATCH_MS / 1000} s, ` +
        `${mw.deliveredEvents} of ${mw.expectedEvents} events within ${WATCH_DRAIN_MS / 1000} s after the last write (${mw.beforeAck} before the write's ack, counted as 0 ms); opened in ${mw.openMs} ms; ` +
        `CPU over ${mw.wallS} s from the first write: node ${mw.nodeCpuS} s, bench process (writer and all watchers) ${mw.benchCpuS} s.`,
    );
  }
}
console.log(`CLI — acp: ${NODE24} cli/acp.ts cdb get system/cli; npx acp: the same through npx (${cli.trials['npx acp']} trials); etcdctl get against the 3 endpoints; medians of ${CLI_N}, run as a user's shell would (no npm_* variables).`);
if (out.etcdNote) console.log(out.etcdNote);
if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
