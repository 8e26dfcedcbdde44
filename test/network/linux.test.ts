// The Network service on the real kernel (root only): two real node
// processes, each with its own network namespace as its data plane (set up
// exactly as `acp up` does), two VLAN networks on both, workload namespaces
// attached on each node through the node's control socket. Same-network
// pings cross nodes (over VXLAN), cross-network pings do not — both networks
// use the same subnet, so only layer 2 separates them. kill -9 of a node and
// a restart adopts every link (the same links before and after: no
// duplicate, no leak). Everything the test creates is removed afterwards,
// also when it fails. Addresses exist only inside the test's namespaces.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeNetworkCapabilities } from '../../actors/network/linux.ts';
import { clusterNetId, netnsExists, underlayPlan } from '../../actors/network/underlay.ts';
import { setUpDataPlane } from '../../cli/dataplane.ts';
import { TestCluster, waitFor, type Reply } from '../support/cluster.ts';

function sh(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(file, args, { env: { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const which = (tool: string): boolean => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(join(d, tool)));

async function whyNot(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not running as root (creating namespaces and interfaces needs it)';
  for (const [tool, pkg] of [['ip', 'iproute2'], ['bridge', 'iproute2'], ['ping', 'iputils-ping'], ['unshare', 'util-linux']] as const) if (!which(tool)) return `${tool} is not installed (apt-get install ${pkg})`;
  const caps = await probeNetworkCapabilities();
  for (const c of ['bridge', 'veth', 'vxlan'] as const) {
    const x = caps[c];
    if (!x?.ok) return `this kernel cannot ${c}: ${x && !x.ok ? x.reason : 'not probed'}`;
  }
  return undefined;
}

const reason = await whyNot();
if (reason) console.log(`network/linux: skipped: ${reason}`);
const rtest = reason ? test.skip : test.serial;

async function links(ns: string): Promise<string[]> {
  const r = await sh('ip', ['-n', ns, '-j', 'link', 'show']);
  if (r.code !== 0) throw new Error(`ip -n ${ns} link: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

async function ping(from: string, to: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) if ((await sh('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '1', to])).code === 0) return true;
  return false;
}

rtest('two nodes, two VLAN networks: same-network pings cross nodes, cross-network pings do not; kill -9 and restart adopts every link', async (t) => {
  t.timeout(240_000);
  const c = await TestCluster.start({ nodes: 2, hold: ['n1', 'n2'], waitLeader: false });
  const tag = Math.random().toString(16).slice(2, 8);
  const plan = underlayPlan(clusterNetId(c.dir), c.names);
  const workloads = { b1: `acpt${tag}-b1`, b2: `acpt${tag}-b2`, r1: `acpt${tag}-r1`, r2: `acpt${tag}-r2` };
  t.teardown(async () => {
    // The nodes first (a running node would re-create what is removed), then every namespace.
    await c.stop();
    for (const ns of [...Object.values(workloads), ...plan.nodes.map((n) => n.netns), plan.netns]) if (netnsExists(ns)) await sh('ip', ['netns', 'del', ns]);
  });
  await setUpDataPlane(c.dir, c.cluster);
  for (const n of c.names) c.spawn(n);
  await c.waitLeader({ timeoutMs: 60_000 });
  for (const ns of Object.values(workloads)) t.is((await sh('ip', ['netns', 'add', ns])).code, 0);

  // Two networks over both nodes, on the same subnet: only layer 2 keeps them apart.
  const subnet = '172.16.99.0/24';
  for (const [id, vlan] of [['blue', 10], ['red', 20]] as const) {
    const r = await c.put('n1', { type: 'network', subtype: 'vlan-bridge', id, spec: { vlan, bridge: `br-${id}`, nodes: ['n1', 'n2'], subnet } });
    t.true(r.ok, JSON.stringify(r));
  }
  const nodeStates = async (id: string): Promise<Record<string, { state: string; info?: Record<string, unknown> }>> => {
    const r = (await c.cdb('n1', { op: 'meta', type: 'network', id })) as Reply & { view?: { nodes: { node: string; stale: boolean; meta?: { state: string; info?: Record<string, unknown> } }[] } };
    const out: Record<string, { state: string; info?: Record<string, unknown> }> = {};
    for (const x of r.view?.nodes ?? []) if (x.meta && !x.stale) out[x.node] = { state: x.meta.state, ...(x.meta.info ? { info: x.meta.info } : {}) };
    return out;
  };
  const allReady = async (): Promise<boolean> => {
    for (const id of ['blue', 'red']) {
      const s = await nodeStates(id);
      if (s.n1?.state !== 'ready' || s.n2?.state !== 'ready') return false;
    }
    return true;
  };
  await waitFor('both networks ready on both nodes', allReady, 60_000, 200);
  const blue = await nodeStates('blue');
  t.like(blue.n1!.info!, { mode: 'vxlan', vni: 10, bridge: 'br-blue', underlay: '10.77.0.1' });
  t.like(blue.n2!.info!, { mode: 'vxlan', vni: 10, underlay: '10.77.0.2' });

  // Workloads attached through each node's Network service.
  const attach = async (node: string, network: string, netns: string, address: string): Promise<Reply> => {
    const r = (await c.call(node, 'network', { op: 'attach', network, netns, address, timeoutMs: 20_000 }, 30_000)) as Reply;
    t.true(r.ok, `attach ${netns} to ${network} on ${node}: ${JSON.stringify(r)}`);
    return r;
  };
  const a1 = await attach('n1', 'blue', workloads.b1, '172.16.99.11');
  t.is(a1.address, '172.16.99.11/24');
  await attach('n2', 'blue', workloads.b2, '172.16.99.12');
  await attach('n1', 'red', workloads.r1, '172.16.99.21');
  await attach('n2', 'red', workloads.r2, '172.16.99.22');
  // Attaching again is answered with the same lease; an address taken on the network is refused.
  const again = (await c.call('n1', 'network', { op: 'attach', network: 'blue', netns: workloads.b1 }, 30_000)) as Reply;
  t.is(again.lease, a1.lease);
  const taken = (await c.call('n2', 'network', { op: 'attach', network: 'blue', netns: workloads.r2, ifname: 'eth1', address: '172.16.99.11' }, 30_000)) as Reply;
  t.like(taken, { ok: false, code: 'conflict' });

  t.true(await ping(workloads.b1, '172.16.99.12'), 'blue on n1 reaches blue on n2');
  t.true(await ping(workloads.r2, '172.16.99.21'), 'red on n2 reaches red on n1');
  t.false(await ping(workloads.b1, '172.16.99.22', 1), 'blue does not reach red (other node)');
  t.false(await ping(workloads.b1, '172.16.99.21', 1), 'blue does not reach red (same node)');
  t.false(await ping(workloads.r1, '172.16.99.12', 1), 'red does not reach blue');

  // kill -9 and restart: every link adopted, none created twice, none leaked.
  const ns1 = plan.nodes[0]!.netns;
  const before = await links(ns1);
  const record = await readFile(join(c.node('n1').dir, 'data', 'network', 'owned.json'), 'utf8');
  t.is(before.filter((l) => l.startsWith('acpw')).length, 2, `two workload veths on n1: ${before.join(' ')}`);
  await c.kill('n1');
  await c.restart('n1', 60_000);
  await c.waitLeader({ timeoutMs: 60_000 });
  await waitFor('n1 converged after its restart', async () => {
    const s = (await c.call('n1', 'network', { op: 'status' })) as Reply & { converged?: boolean; passes?: number; applied?: number };
    return s.ok && s.converged === true && (s.passes ?? 0) > 0 ? s : undefined;
  }, 60_000, 200);
  const st = (await c.call('n1', 'network', { op: 'status' })) as Reply & { applied: number };
  t.is(st.applied, 0, `the restarted node applied nothing: it adopted${c.log('n1').split('\n').filter((l) => / apply /.test(l)).slice(-14).join('\n')}`);
  t.deepEqual(await links(ns1), before);
  t.is(await readFile(join(c.node('n1').dir, 'data', 'network', 'owned.json'), 'utf8'), record);
  await waitFor('both networks ready after the restart', allReady, 60_000, 200);
  t.true(await ping(workloads.b1, '172.16.99.12'), 'blue still crosses nodes after the restart');

  // Detach removes the workload's veth; deleting a network removes its links on every node.
  const d = (await c.call('n1', 'network', { op: 'detach', network: 'blue', netns: workloads.b1 }, 30_000)) as Reply;
  t.like(d, { ok: true, detached: [a1.lease] });
  t.false(await ping(workloads.b1, '172.16.99.12', 1));
  const del = await c.cdb('n1', { op: 'delete', type: 'network', id: 'red' });
  t.true(del.ok, JSON.stringify(del));
  await waitFor('red gone from both nodes', async () => {
    for (const n of plan.nodes) {
      const l = await links(n.netns);
      if (l.includes('br-red') || l.includes('acpvx20')) return false;
    }
    return true;
  }, 30_000, 200);
  for (const n of plan.nodes) t.true((await links(n.netns)).includes('br-blue'), `blue stays on ${n.name}`);
});
