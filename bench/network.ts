// The Network half of `npm run bench:services` (bench/services.ts). Needs root
// (namespaces, interfaces); elsewhere it reports why it did not run.
//
//   networkReadyMs  a vlan-bridge network put to a real 3-node cluster (each node with its own
//                   data-plane namespace, as `acp up` as root makes them) until its condition is
//                   `ready` on all three nodes (asked of each node's Network service, so the
//                   meta gossip interval is not counted): p50/p99 over the runs
//   ipScriptMs      the same bridge + VXLAN + flood list on the three namespaces by a shell script
//                   of `ip`/`bridge` commands, interleaved with the runs above: p50/p99
//   adoptMs         a node holding 100 networks killed (-9) and restarted: from the restart until
//                   its Network service has adopted all of them (converged, every one ready,
//                   nothing created again)
//   statsCpuPercent CPU of stats sampling over 200 interfaces, as a share of one core at the
//                   service's sampling interval (one /proc/net/dev read per sample)
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCluster, spawnNode } from '../cli/launcher.ts';
import { pkiDir, type ClusterFile } from '../cli/cluster-dir.ts';
import { setUpDataPlane, purgeDataPlane } from '../cli/dataplane.ts';
import { LocalClient } from '../runtime/net/local-api.ts';
import { loadApiKey } from '../runtime/net/pki.ts';
import { LinuxNetDriver, probeNetworkCapabilities, recordPath } from '../actors/network/linux.ts';
import { VXLAN_PORT } from '../actors/network/reconcile.ts';
import { underlayPlan, clusterNetId } from '../actors/network/underlay.ts';

export interface NetworkBench {
  networkReadyMs?: { p50: number; p99: number };
  ipScriptMs?: { p50: number; p99: number };
  /** networkReadyMs.p50 / ipScriptMs.p50 (goal ≤ 1.5) */
  readyVsScript?: number;
  adoptMs?: number;
  adoptNetworks?: number;
  /** what the restarted node applied while adopting (0: nothing re-created) */
  adoptApplied?: number;
  /** of adoptMs: until the restarted node answered on its control socket, until its first pass was done */
  adoptAnsweredMs?: number;
  adoptFirstPassMs?: number;
  adoptPasses?: number;
  statsCpuPercent?: number;
  statsSampleUs?: number;
  statsInterfaces?: number;
  statsIntervalMs?: number;
  networkSkipped?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(file: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(file, args, { env: { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) c.stdin!.end(input);
  });
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

export async function whyNotNetwork(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root: the Network bench creates namespaces and interfaces';
  const caps = await probeNetworkCapabilities();
  for (const c of ['bridge', 'vxlan', 'veth'] as const) {
    const x = caps[c];
    if (!x?.ok) return `this kernel cannot ${c}: ${x && !x.ok ? x.reason : 'not probed'}`;
  }
  return undefined;
}

interface Cluster {
  dir: string;
  file: ClusterFile;
  procs: Map<string, ChildProcess>;
  clients: Map<string, LocalClient>;
  key: string;
}

async function call(c: Cluster, node: string, method: string, params: unknown, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let cl = c.clients.get(node);
  if (!cl || cl.closed) {
    cl = await LocalClient.connect(c.file.nodes.find((n) => n.name === node)!.socketDir, { apiKey: c.key, timeoutMs: 3000 });
    c.clients.set(node, cl);
  }
  try {
    return (await cl.call(method, params, { timeoutMs })) as Record<string, unknown>;
  } catch (e) {
    c.clients.delete(node);
    cl.close();
    throw e;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      /* not answering yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Put (or delete) through whichever node leads. */
export async function write(c: Cluster, req: Record<string, unknown>): Promise<void> {
  await until(
    `${String(req.op)} accepted`,
    async () => {
      for (const n of c.file.nodes) {
        const r = await call(c, n.name, 'cdb', req).catch(() => undefined);
        if (r?.ok) return true;
        if (r && r.code !== 'not-leader' && r.code !== 'unavailable' && r.code !== 'not-found') throw new Error(`${String(req.op)}: ${String(r.message)}`);
        if (r?.code === 'not-found') return true;
      }
      return undefined;
    },
    20_000,
    20,
  );
}

type NetStatus = { ok: boolean; converged?: boolean; passes?: number; applied?: number; conditions?: Record<string, { state: string }> };
export const status = (c: Cluster, node: string): Promise<NetStatus> => call(c, node, 'network', { op: 'status' }) as Promise<NetStatus>;

export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'acp-bench-net-'));
  const file = await createCluster(dir, 3, { extra: { raft: { tickMs: 20, electionTicks: 10, heartbeatTicks: 1 }, meta: { publishMs: 100, staleAfterMs: 3000 } } });
  await setUpDataPlane(dir, file);
  const c: Cluster = { dir, file, procs: new Map(), clients: new Map(), key: loadApiKey(pkiDir(dir)) };
  for (const n of file.nodes) c.procs.set(n.name, spawnNode(n));
  // Every node's Network service answering, and the CDB taking writes.
  for (const n of file.nodes) await until(`${n.name}'s network service`, async () => ((await status(c, n.name)).ok ? true : undefined), 60_000, 100);
  await write(c, { op: 'put', object: { type: 'system', id: 'bench-warmup', spec: { name: 'w', vcpus: 1, memoryMb: 16 } } });
  return c;
}

export async function stopCluster(c: Cluster): Promise<void> {
  for (const cl of c.clients.values()) cl.close();
  await Promise.all(
    [...c.procs.values()].map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGKILL');
        }),
    ),
  );
  await purgeDataPlane(c.dir, c.file).catch(() => {});
  rmSync(c.dir, { recursive: true, force: true });
}

const readyOnAll = (c: Cluster, key: string) => async (): Promise<true | undefined> => {
  const st = await Promise.all(c.file.nodes.map((n) => status(c, n.name)));
  return st.every((s) => s.conditions?.[key]?.state === 'ready') ? true : undefined;
};

const goneOnAll = (c: Cluster, key: string) => async (): Promise<true | undefined> => {
  const st = await Promise.all(c.file.nodes.map((n) => status(c, n.name)));
  return st.every((s) => s.conditions?.[key] === undefined && s.converged === true) ? true : undefined;
};

export async function networkBench(o: { runs: number; adoptNetworks: number; log: (s: string) => void }): Promise<NetworkBench> {
  const why = await whyNotNetwork();
  if (why) {
    o.log(`network: skipped: ${why}\n`);
    return { networkSkipped: why };
  }
  const out: NetworkBench = {};
  const c = await startCluster();
  try {
    const plan = underlayPlan(clusterNetId(c.dir), c.file.nodes.map((n) => n.name));
    const nodes = c.file.nodes.map((n) => n.name);
    // ---- apply → ready on 3 nodes, against the same set-up by a script of ip commands
    const ready: number[] = [];
    const script: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const id = `bench${i}`;
      const key = `network/${id}`;
      const t0 = performance.now();
      await write(c, { op: 'put', object: { type: 'network', subtype: 'vlan-bridge', id, spec: { vlan: 100 + i, bridge: `bb${i}`, nodes } } });
      await until(`${key} ready on all nodes`, readyOnAll(c, key), 30_000, 2);
      ready.push(performance.now() - t0);
      await write(c, { op: 'delete', type: 'network', id });
      await until(`${key} removed`, goneOnAll(c, key), 30_000, 20);

      const lines = ['set -e'];
      for (const n of plan.nodes) {
        const br = `sb${i}`;
        const vx = `sv${i}`;
        lines.push(`ip -n ${n.netns} link add ${br} mtu 1500 up type bridge`);
        lines.push(`ip -n ${n.netns} link add ${vx} mtu 1500 master ${br} up type vxlan id ${2000 + i} local ${n.address} dev ${n.dev} dstport ${VXLAN_PORT}`);
        for (const p of plan.nodes) if (p !== n) lines.push(`bridge -n ${n.netns} fdb append 00:00:00:00:00:00 dev ${vx} dst ${p.address}`);
      }
      const s0 = performance.now();
      const r = await sh('bash', ['-c', lines.join('\n')]);
      script.push(performance.now() - s0);
      if (r.code !== 0) throw new Error(`the ip script failed: ${r.stderr}`);
      for (const n of plan.nodes) await sh('ip', ['-n', n.netns, 'link', 'del', `sb${i}`]).then(() => sh('ip', ['-n', n.netns, 'link', 'del', `sv${i}`]));
      o.log(`  run ${i + 1}/${o.runs}: ready on 3 nodes ${r1(ready[i]!)} ms, ip script ${r1(script[i]!)} ms\n`);
    }
    out.networkReadyMs = { p50: r1(quantile(ready, 0.5)), p99: r1(quantile(ready, 0.99)) };
    out.ipScriptMs = { p50: r1(quantile(script, 0.5)), p99: r1(quantile(script, 0.99)) };
    out.readyVsScript = Math.round((out.networkReadyMs.p50 / out.ipScriptMs.p50) * 100) / 100;
    o.log(`network: ready on 3 nodes p50 ${out.networkReadyMs.p50} ms p99 ${out.networkReadyMs.p99} ms; ip script p50 ${out.ipScriptMs.p50} ms p99 ${out.ipScriptMs.p99} ms (ratio ${out.readyVsScript}, goal ≤ 1.5)\n`);

    // ---- adopt N networks after kill -9
    const n = o.adoptNetworks;
    for (let i = 0; i < n; i++) await write(c, { op: 'put', object: { type: 'network', subtype: 'vlan-bridge', id: `adopt${i}`, spec: { vlan: 1000 + i, bridge: `ab${i}`, nodes } } });
    await until(
      `${n} networks ready on every node`,
      async () => {
        const st = await Promise.all(nodes.map((x) => status(c, x)));
        return st.every((s) => s.converged && Array.from({ length: n }, (_, i) => s.conditions?.[`network/adopt${i}`]?.state === 'ready').every(Boolean)) ? true : undefined;
      },
      600_000,
      500,
    );
    const victim = c.file.nodes[0]!;
    const p = c.procs.get(victim.name)!;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
    c.clients.get(victim.name)?.close();
    c.clients.delete(victim.name);
    const t0 = performance.now();
    c.procs.set(victim.name, spawnNode(victim));
    let answered = 0;
    let firstPass = 0;
    const st = await until(
      `${victim.name} adopting ${n} networks`,
      async () => {
        const s = await status(c, victim.name);
        answered ||= performance.now() - t0;
        if (s.ok && (s.passes ?? 0) > 0) firstPass ||= performance.now() - t0;
        if (!s.ok || !s.converged || (s.passes ?? 0) === 0) return undefined;
        return Array.from({ length: n }, (_, i) => s.conditions?.[`network/adopt${i}`]?.state === 'ready').every(Boolean) ? s : undefined;
      },
      120_000,
      5,
    );
    out.adoptMs = Math.round(performance.now() - t0);
    out.adoptNetworks = n;
    out.adoptApplied = st.applied ?? -1;
    out.adoptAnsweredMs = Math.round(answered);
    out.adoptFirstPassMs = Math.round(firstPass);
    out.adoptPasses = st.passes ?? 0;
    o.log(`network: restart to ${n} networks adopted: ${out.adoptMs} ms (node answering after ${out.adoptAnsweredMs} ms, first pass done after ${out.adoptFirstPassMs} ms, ${out.adoptPasses} passes, actions applied: ${out.adoptApplied}; goal ≤ 2000 ms)\n`);
    if (process.env.ACP_NET_TRACE === '1') o.log(readFileSync(join(victim.dir, 'node.log'), 'utf8').split('\n').filter((l) => l.startsWith('net ') && / apply /.test(l)).slice(0, 12).join('\n') + '\n');
  } finally {
    await stopCluster(c);
  }

  // ---- stats sampling over 200 interfaces
  const ns = `acpbench-stats-${process.pid}`;
  const data = mkdtempSync(join(tmpdir(), 'acp-bench-stats-'));
  try {
    await sh('ip', ['netns', 'add', ns]);
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(`link add sa${i} type veth peer name sb${i}`);
    const r = await sh('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
    if (r.code !== 0) throw new Error(`creating 200 interfaces: ${r.stderr}`);
    const links: Record<string, { kind: string; key: string; network: string }> = {};
    for (let i = 0; i < 100; i++)
      for (const side of ['sa', 'sb']) links[`${side}${i}`] = { kind: 'veth', key: `network/n${i % 20}.l${side}${i}`, network: `network/n${i % 20}` };
    mkdirSync(join(data, 'network'), { recursive: true });
    writeFileSync(recordPath(data), JSON.stringify({ v: 1, node: 'bench', netns: ns, links }));
    const d = new LinuxNetDriver({ node: 'bench', dataDir: data, netns: ns });
    const first = await d.stats();
    if (first.size !== 220) throw new Error(`expected stats for 200 interfaces and 20 networks, got ${first.size} keys`);
    const samples = 500;
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < samples; i++) await d.stats();
    const cpu = process.cpuUsage(cpu0);
    const perSampleMs = (cpu.user + cpu.system) / 1000 / samples;
    const intervalMs = 2000;
    out.statsSampleUs = Math.round(perSampleMs * 1000);
    out.statsInterfaces = 200;
    out.statsIntervalMs = intervalMs;
    out.statsCpuPercent = Math.round((perSampleMs / intervalMs) * 100 * 1000) / 1000;
    o.log(`network: stats of 200 interfaces: ${out.statsSampleUs} µs CPU per sample (${r1((performance.now() - w0) / samples * 1000)} µs wall), ${out.statsCpuPercent}% of a core at one sample per ${intervalMs} ms (goal < 1%)\n`);
  } finally {
    await sh('ip', ['netns', 'del', ns]);
    rmSync(data, { recursive: true, force: true });
  }
  return out;
}
