// `acp up`'s data plane as root (cli/dataplane.ts over actors/network/underlay.ts): a namespace
// per node joined by an underlay namespace, each node's config pointed there, idempotent; `acp
// down --purge` removes the namespaces and the nodes' ownership records. Root only.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterNetId, netnsExists, underlayPlan } from '../../actors/network/underlay.ts';
import { purgeDataPlane, setUpDataPlane } from '../../cli/dataplane.ts';
import type { ClusterFile } from '../../cli/cluster-dir.ts';

const reason = process.getuid?.() !== 0 ? 'not running as root (creating namespaces needs it)' : !['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some(existsSync) ? 'ip is not installed (apt-get install iproute2)' : undefined;
if (reason) console.log(`network/dataplane: skipped: ${reason}`);
const rtest = reason ? test.skip : test;

rtest('set up a namespace per node on an underlay, idempotently; purge removes namespaces and records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'acp-dp-'));
  const plan = underlayPlan(clusterNetId(dir), ['n1', 'n2']);
  t.teardown(() => {
    for (const ns of [plan.netns, ...plan.nodes.map((n) => n.netns)]) if (netnsExists(ns)) execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  });
  const nodes = ['n1', 'n2'].map((name) => {
    const ndir = join(dir, 'nodes', name);
    mkdirSync(join(ndir, 'data', 'network'), { recursive: true });
    writeFileSync(join(ndir, 'config.json'), JSON.stringify({ name, dataDir: 'data' }));
    writeFileSync(join(ndir, 'data', 'network', 'owned.json'), '{}');
    return { name, host: '127.0.0.1', port: 1, dir: ndir, config: join(ndir, 'config.json'), socketDir: join(ndir, 'sock') };
  });
  const cluster: ClusterFile = { v: 1, nodes };
  const dp = await setUpDataPlane(dir, cluster);
  t.deepEqual(dp.nodes, { n1: { netns: plan.nodes[0]!.netns, address: '10.77.0.1' }, n2: { netns: plan.nodes[1]!.netns, address: '10.77.0.2' } });
  t.like(JSON.parse(readFileSync(nodes[0]!.config, 'utf8')), { name: 'n1', network: { netns: plan.nodes[0]!.netns, underlay: { dev: 'ul0', address: '10.77.0.1' } } });
  await setUpDataPlane(dir, cluster); // again: nothing new
  const addr = execFileSync('ip', ['-n', plan.nodes[0]!.netns, '-j', 'addr', 'show', 'ul0'], { encoding: 'utf8' });
  t.is((JSON.parse(addr) as { addr_info: { local: string }[] }[])[0]!.addr_info.filter((a) => a.local === '10.77.0.1').length, 1);
  // The underlay carries traffic between the node namespaces, and nothing routes out of them.
  execFileSync('ip', ['netns', 'exec', plan.nodes[0]!.netns, 'ping', '-c', '1', '-W', '2', '10.77.0.2']);
  const routes = execFileSync('ip', ['-n', plan.nodes[0]!.netns, '-j', 'route', 'show'], { encoding: 'utf8' });
  t.deepEqual((JSON.parse(routes) as { dst: string }[]).map((r) => r.dst), ['10.77.0.0/24']);
  const purged = await purgeDataPlane(dir, cluster);
  t.deepEqual(purged.filter((x) => x.startsWith('acp-')).sort(), [plan.netns, ...plan.nodes.map((n) => n.netns)].sort());
  for (const n of nodes) t.false(existsSync(join(n.dir, 'data', 'network', 'owned.json')));
  for (const ns of [plan.netns, ...plan.nodes.map((n) => n.netns)]) t.false(netnsExists(ns));
});
