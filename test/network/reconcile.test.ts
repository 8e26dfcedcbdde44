// The Network reconciler as tables: (desired, observed, capabilities) → actions and conditions,
// and convergence against the simulated driver (idempotent, adopts after a restart, removes what
// is no longer desired, never touches what it does not own).
import test from 'ava';
import type { CdbObject } from '../../actors/cdb/client.ts';
import type { Capabilities } from '../../actors/reconciler/contract.ts';
import { batchActions, bondName, describeAction, leaseId, poolAddresses, reconcileNetwork, subnetOf, vethName, type NetAction, type NetObserved, type OwnedLink } from '../../actors/network/reconcile.ts';
import { SimNetDriver, SimNetMachine, simCaps } from '../../actors/network/sim.ts';

let rev = 0;
function obj(o: Record<string, unknown>): CdbObject {
  rev++;
  return { revision: rev, createdRevision: rev, ...o } as unknown as CdbObject;
}
const net = (id: string, vlan: number, nodes: string[], extra: Record<string, unknown> = {}) => obj({ type: 'network', subtype: 'vlan-bridge', id, spec: { vlan, bridge: `br${vlan}`, nodes, ...extra } });
const nodeObj = (id: string, dataAddress?: string) => obj({ type: 'node', id, spec: { name: id, address: '127.0.0.1:1', roles: ['cdb'], ...(dataAddress ? { dataAddress } : {}) } });
const lease = (network: string, node: string, address: string, netns = 'w1') => obj({ type: 'network', subtype: 'lease', id: leaseId(network, address), spec: { network, node, netns, address } });
const desired = (...os: CdbObject[]) => new Map(os.map((o) => [`${o.type}/${o.id}`, o]));
const UNDERLAY = { dev: 'ul0', address: '10.77.0.1' };
const obs = (links: OwnedLink[] = [], more: Partial<NetObserved> = {}): NetObserved => ({ prefix: 'acp', links, foreign: ['lo', 'ul0'], underlay: UNDERLAY, ...more });
const bridge = (name: string, key: string, more: Partial<OwnedLink> = {}): OwnedLink => ({ name, kind: 'bridge', key, present: true, mtu: 1500, up: true, ...more });
const vx = (vlan: number, key: string, fdb: string[], more: Partial<OwnedLink> = {}): OwnedLink => ({ name: `acpvx${vlan}`, kind: 'vxlan', key, present: true, mtu: 1500, up: true, master: `br${vlan}`, vni: vlan, local: '10.77.0.1', dev: 'ul0', fdb, ...more });
const caps = simCaps();
const kinds = (as: NetAction[]) => as.map(describeAction);

interface Case {
  name: string;
  desired: Map<string, CdbObject>;
  observed: NetObserved;
  caps?: Capabilities;
  actions: string[];
  status: Record<string, { state: string; reason?: string | RegExp; info?: Record<string, unknown> }>;
}

const peers = [nodeObj('n1', '10.77.0.1'), nodeObj('n2', '10.77.0.2'), nodeObj('n3', '10.77.0.3')];
const n10 = net('a', 10, ['n1']);
const n20 = net('b', 20, ['n1', 'n2', 'n3']);

const cases: Case[] = [
  {
    name: 'a network on this node only: a bridge, nothing to carry',
    desired: desired(n10),
    observed: obs(),
    actions: ['create-bridge br10'],
    status: { 'network/a': { state: 'pending', reason: 'creating bridge br10', info: { mode: 'local', bridge: 'br10', mtu: 1500 } } },
  },
  {
    name: 'the same, realised: nothing to do, ready',
    desired: desired(n10),
    observed: obs([bridge('br10', 'network/a')]),
    actions: [],
    status: { 'network/a': { state: 'ready', info: { mode: 'local', bridge: 'br10', mtu: 1500 } } },
  },
  {
    name: 'three nodes without 802.1Q: bridge, VXLAN (VNI = VLAN) over the underlay, flood list of the peers',
    desired: desired(...peers, n20),
    observed: obs(),
    actions: ['create-bridge br20', 'create-vxlan acpvx20', 'fdb-add acpvx20 10.77.0.2 10.77.0.3'],
    status: { 'network/b': { state: 'pending', info: { mode: 'vxlan', vni: 20, segment: 'acpvx20', underlay: '10.77.0.1' } } },
  },
  {
    name: 'three nodes, realised',
    desired: desired(...peers, n20),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2', '10.77.0.3'])]),
    actions: [],
    status: { 'network/b': { state: 'ready', info: { mode: 'vxlan', vni: 20, peers: 2 } } },
  },
  {
    name: 'with 802.1Q and an uplink: a sub-interface of the uplink instead',
    desired: desired(...peers, n20),
    observed: obs([], { uplink: 'eth0', foreign: ['eth0'] }),
    caps: simCaps({ vlan8021q: true }),
    actions: ['create-bridge br20', 'create-vlan eth0.20'],
    status: { 'network/b': { state: 'pending', info: { mode: 'vlan', segment: 'eth0.20', uplink: 'eth0' } } },
  },
  {
    name: 'neither 802.1Q nor an underlay: unsupported, both reasons',
    desired: desired(...peers, n20),
    observed: obs([], { underlay: undefined }),
    actions: [],
    status: {
      'network/b': {
        state: 'unsupported',
        reason: 'VLAN 20 cannot reach n2, n3: no 802.1Q (the kernel has no 802.1Q support (ip link add type vlan: Unknown device type)) and no VXLAN (this node has no underlay configured)',
      },
    },
  },
  {
    name: 'not root: bridges unsupported with the probe’s reason',
    desired: desired(n10),
    observed: obs(),
    caps: simCaps({ bridge: 'not running as root: creating interfaces needs CAP_NET_ADMIN' }),
    actions: [],
    status: { 'network/a': { state: 'unsupported', reason: 'cannot create bridges: not running as root: creating interfaces needs CAP_NET_ADMIN' } },
  },
  {
    name: 'a bridge name taken by an interface ACP did not create: failed, never touched',
    desired: desired(n10),
    observed: obs([], { foreign: ['lo', 'ul0', 'br10'] }),
    actions: [],
    status: { 'network/a': { state: 'failed', reason: 'interface br10 exists and was not created by ACP: refusing to touch it' } },
  },
  {
    name: 'a deleted network: its links are removed, segment before bridge',
    desired: desired(...peers),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2'])]),
    actions: ['delete-link acpvx20', 'delete-link br20'],
    status: {},
  },
  {
    name: 'this node taken off a network: its links go, the object says removing',
    desired: desired(...peers, net('b', 20, ['n2', 'n3'])),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2'])]),
    actions: ['delete-link acpvx20', 'delete-link br20'],
    status: { 'network/b': { state: 'removing', reason: 'removing vxlan acpvx20' } },
  },
  {
    name: 'recorded but gone from the kernel, no longer wanted: forgotten',
    desired: desired(),
    observed: obs([bridge('br30', 'network/c', { present: false })]),
    actions: ['forget br30'],
    status: {},
  },
  {
    name: 'recorded but gone from the kernel, still wanted: created again',
    desired: desired(n10),
    observed: obs([bridge('br10', 'network/a', { present: false })]),
    actions: ['create-bridge br10'],
    status: { 'network/a': { state: 'pending' } },
  },
  {
    name: 'drift: MTU changed, link down, enslaved elsewhere',
    desired: desired(...peers, net('b', 20, ['n1', 'n2'], { mtu: 9000 })),
    observed: obs([bridge('br20', 'network/b', { up: false }), vx(20, 'network/b', ['10.77.0.2'], { master: undefined })]),
    actions: ['set-link br20', 'set-link acpvx20'],
    status: { 'network/b': { state: 'pending', reason: 'setting mtu, up of br20; setting mtu, master of acpvx20' } },
  },
  {
    name: 'flood list drift: a stale peer removed, a missing one added',
    desired: desired(...peers, n20),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2', '10.77.0.9'])]),
    actions: ['fdb-del acpvx20 10.77.0.9', 'fdb-add acpvx20 10.77.0.3'],
    status: { 'network/b': { state: 'pending', reason: 'updating the flood list of acpvx20' } },
  },
  {
    name: 'the VXLAN parameters changed (another underlay): recreated',
    desired: desired(...peers, net('b', 20, ['n1', 'n2'])),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2'], { local: '10.77.0.99' })]),
    actions: ['delete-link acpvx20', 'create-vxlan acpvx20', 'fdb-add acpvx20 10.77.0.2'],
    status: { 'network/b': { state: 'pending' } },
  },
  {
    name: 'a peer without a data-plane address: degraded, named',
    desired: desired(nodeObj('n1', '10.77.0.1'), nodeObj('n2'), net('b', 20, ['n1', 'n2'])),
    observed: obs([bridge('br20', 'network/b'), vx(20, 'network/b', [])]),
    actions: [],
    status: { 'network/b': { state: 'degraded', reason: /does not reach n2: no data-plane address/ } },
  },
  {
    name: 'two networks with one VLAN: the older one wins on every node',
    desired: desired(net('old', 10, ['n1']), obj({ type: 'network', subtype: 'vlan-bridge', id: 'new', spec: { vlan: 10, bridge: 'brx', nodes: ['n1'] } })),
    observed: obs(),
    actions: ['create-bridge br10'],
    status: { 'network/old': { state: 'pending' }, 'network/new': { state: 'failed', reason: 'VLAN 10 is already realised on n1 by network/old' } },
  },
  {
    name: 'two networks with one bridge name: the older one wins',
    desired: desired(net('old', 10, ['n1']), obj({ type: 'network', subtype: 'vlan-bridge', id: 'new', spec: { vlan: 11, bridge: 'br10', nodes: ['n1'] } })),
    observed: obs(),
    actions: ['create-bridge br10'],
    status: { 'network/new': { state: 'failed', reason: 'interface br10 is already used by network/old' } },
  },
  {
    name: 'a lease before its bridge exists: waits',
    desired: desired(n10, lease('a', 'n1', '172.16.10.2')),
    observed: obs(),
    actions: ['create-bridge br10'],
    status: { [`network/${leaseId('a', '172.16.10.2')}`]: { state: 'pending', reason: 'waiting for bridge br10' } },
  },
  {
    name: 'a lease once the bridge exists: a veth into the workload with the address; other nodes’ leases ignored',
    desired: desired(n10, lease('a', 'n1', '172.16.10.2'), lease('a', 'n2', '172.16.10.3')),
    observed: obs([bridge('br10', 'network/a')]),
    actions: [`create-veth ${vethName('acp', leaseId('a', '172.16.10.2'))}`],
    status: { [`network/${leaseId('a', '172.16.10.2')}`]: { state: 'pending', info: { bridge: 'br10', netns: 'w1', address: '172.16.10.2' } } },
  },
  {
    name: 'a lease outside its pool, a lease on a missing network: failed',
    desired: desired(n10, lease('a', 'n1', '10.1.1.1'), lease('zz', 'n1', '172.16.10.2')),
    observed: obs([bridge('br10', 'network/a')]),
    actions: [],
    status: {
      [`network/${leaseId('a', '10.1.1.1')}`]: { state: 'failed', reason: "address 10.1.1.1 is outside network/a's pool 172.16.10.0/24" },
      [`network/${leaseId('zz', '172.16.10.2')}`]: { state: 'failed', reason: 'network/zz does not exist' },
    },
  },
  {
    name: 'a trunk without bonding: unsupported with the reason',
    desired: desired(obj({ type: 'network', subtype: 'trunk', id: 't', spec: { interfaces: ['eth0'], vlans: [10] } })),
    observed: obs([], { foreign: ['eth0'] }),
    actions: [],
    status: { 'network/t': { state: 'unsupported', reason: 'no bonding on n1: the kernel has no bonding support (ip link add type bond: Unknown device type)' } },
  },
  {
    name: 'a trunk with bonding and 802.1Q: a bond of the named interfaces and a VLAN per id',
    desired: desired(obj({ type: 'network', subtype: 'trunk', id: 't', spec: { interfaces: ['eth0', 'eth1'], vlans: [10, 20] } })),
    observed: obs([], { foreign: ['eth0', 'eth1'] }),
    caps: simCaps({ bonding: true, vlan8021q: true }),
    actions: [`create-bond ${bondName('acp', 't')}`, `create-vlan ${bondName('acp', 't')}.10`, `create-vlan ${bondName('acp', 't')}.20`],
    status: { 'network/t': { state: 'pending', info: { members: 'eth0,eth1', vlans: '10,20' } } },
  },
  {
    name: 'a VPP VLAN without VPP: unsupported, "VPP not installed"',
    desired: desired(obj({ type: 'network', subtype: 'vpp-vlan', id: 'v', spec: { vlan: 5, interface: 'GigabitEthernet0/8/0', nodes: ['n1'] } })),
    observed: obs(),
    actions: [],
    status: { 'network/v': { state: 'unsupported', reason: /^VPP not installed on n1: / } },
  },
];

for (const c of cases) {
  test(`reconcile: ${c.name}`, (t) => {
    const plan = reconcileNetwork('n1', c.desired, c.observed, c.caps ?? caps);
    t.deepEqual(kinds(plan.actions), c.actions);
    if (Object.keys(c.status).length === 0) t.is(plan.status.size, 0);
    for (const key of Object.keys(c.status)) t.true(plan.status.has(key), `no condition for ${key}`);
    for (const [key, want] of Object.entries(c.status)) {
      const got = plan.status.get(key)!;
      t.is(got.state as string, want.state, key);
      if (typeof want.reason === 'string') t.is(got.reason, want.reason, key);
      else if (want.reason) t.regex(got.reason ?? '', want.reason, key);
      if (want.info) t.like(got.info ?? {}, want.info as Record<string, never>, key);
    }
    // Only owned links are ever changed; created names are free.
    const owned = new Set(c.observed.links.map((l) => l.name));
    for (const a of plan.actions) {
      if (a.kind === 'batch') continue;
      const name = 'name' in a ? a.name : a.dev;
      if (a.kind.startsWith('create-')) t.false(c.observed.foreign.includes(name), `${a.kind} ${name} would take a foreign name`);
      else if (a.kind !== 'fdb-add' || !plan.actions.some((x) => x.kind === 'create-vxlan' && x.name === name)) t.true(owned.has(name), `${a.kind} ${name} is not owned`);
    }
  });
}

test('address pools: default per VLAN inside 172.16.0.0/12, lease ids unique per address', (t) => {
  t.is(subnetOf({ vlan: 10 }).cidr, '172.16.10.0/24');
  t.is(subnetOf({ vlan: 4094 }).cidr, '172.31.254.0/24');
  t.is(subnetOf({ vlan: 10, subnet: '192.168.7.0/29' }).cidr, '192.168.7.0/29');
  t.deepEqual([...poolAddresses({ vlan: 1, subnet: '192.168.7.0/29' })], ['192.168.7.1', '192.168.7.2', '192.168.7.3', '192.168.7.4', '192.168.7.5', '192.168.7.6']);
  t.is(leaseId('net1', '172.16.10.2'), 'net1.172-16-10-2');
  const long = leaseId('n'.repeat(63), '172.16.10.2');
  t.true(long.length <= 63 && long.endsWith('.172-16-10-2'));
});

// ---- against the simulated driver

async function converge(d: SimNetDriver, node: string, want: Map<string, CdbObject>, max = 6): Promise<number> {
  const c = await d.capabilities();
  for (let pass = 1; pass <= max; pass++) {
    const plan = reconcileNetwork(node, want, await d.observe(), c);
    if (plan.actions.length === 0) return pass;
    for (const a of plan.actions) await d.apply(a);
  }
  throw new Error(`no convergence in ${max} passes`);
}

function machine(): SimNetMachine {
  const m = new SimNetMachine({ foreign: ['lo', 'ul0', 'eth0'] });
  m.namespaces.add('w1');
  return m;
}

test('sim: converges, then a pass is a no-op (idempotent); every object ready', async (t) => {
  const m = machine();
  const d = new SimNetDriver({ machine: m, underlay: UNDERLAY });
  const want = desired(...peers, n10, n20, lease('b', 'n1', '172.16.20.5'));
  t.true((await converge(d, 'n1', want)) <= 3);
  const plan = reconcileNetwork('n1', want, await d.observe(), caps);
  t.deepEqual(plan.actions, []);
  for (const [k, c] of plan.status) t.is(c.state, 'ready', k);
  t.deepEqual(
    m.owned().map((l) => `${l.kind} ${l.name}`),
    ['vxlan acpvx20', `veth ${vethName('acp', leaseId('b', '172.16.20.5'))}`, 'bridge br10', 'bridge br20'].sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)),
  );
  t.deepEqual([...m.links.get('acpvx20')!.fdb].sort(), ['10.77.0.2', '10.77.0.3']);
});

test('sim: a restarted node (new driver, same machine) adopts everything: no action, no duplicate', async (t) => {
  const m = machine();
  const want = desired(...peers, n10, n20);
  await converge(new SimNetDriver({ machine: m, underlay: UNDERLAY }), 'n1', want);
  const before = m.created;
  const again = new SimNetDriver({ machine: m, underlay: UNDERLAY });
  t.deepEqual(reconcileNetwork('n1', want, await again.observe(), caps).actions, []);
  t.is(m.created, before);
});

test('sim: a link that vanishes is put back; a failing action fails its object, then succeeds', async (t) => {
  const m = machine();
  const d = new SimNetDriver({ machine: m, underlay: UNDERLAY });
  const want = desired(...peers, n20);
  await converge(d, 'n1', want);
  t.true(m.vanish('acpvx20'));
  const plan = reconcileNetwork('n1', want, await d.observe(), caps);
  t.deepEqual(kinds(plan.actions), ['create-vxlan acpvx20', 'fdb-add acpvx20 10.77.0.2 10.77.0.3']);
  m.failNext('create-vxlan', 1, 'boom');
  await t.throwsAsync(() => d.apply(plan.actions[0]!), { message: 'boom' });
  await converge(d, 'n1', want);
  t.true(m.links.has('acpvx20'));
});

test('sim: deleting everything leaves only what the service did not create', async (t) => {
  const m = machine();
  const d = new SimNetDriver({ machine: m, underlay: UNDERLAY });
  await converge(d, 'n1', desired(...peers, n10, n20, lease('b', 'n1', '172.16.20.5')));
  await converge(d, 'n1', desired(...peers));
  t.deepEqual([...m.links.keys()].sort(), ['eth0', 'lo', 'ul0']);
  t.is(m.record.size, 0);
});

test('sim: a crash between the record and the kernel is adopted, not leaked', async (t) => {
  const m = machine();
  // The record says br10 is ours, the kernel never got it (the node died in between).
  m.record.set('br10', { kind: 'bridge', key: 'network/a' });
  const d = new SimNetDriver({ machine: m, underlay: UNDERLAY });
  await converge(d, 'n1', desired(n10));
  t.deepEqual(m.owned(), [{ name: 'br10', kind: 'bridge', key: 'network/a', present: true }]);
});

test('sim: the driver refuses to change a link it does not own', async (t) => {
  const d = new SimNetDriver({ machine: machine(), underlay: UNDERLAY });
  await t.throwsAsync(() => d.apply({ kind: 'delete-link', key: 'network/a', name: 'eth0' }), { message: /not created by this service/ });
});

test('batching: runs of one object’s link changes become one action, order kept; veths stay alone', (t) => {
  const plan = reconcileNetwork('n1', desired(...peers, n10, n20, lease('b', 'n1', '172.16.20.5')), obs([bridge('br20', 'network/b')]), caps);
  t.deepEqual(batchActions(plan.actions).map(describeAction), [
    'create-bridge br10',
    'batch[create-vxlan acpvx20, fdb-add acpvx20 10.77.0.2 10.77.0.3]',
    `create-veth ${vethName('acp', leaseId('b', '172.16.20.5'))}`,
  ]);
  const gone = reconcileNetwork('n1', desired(...peers), obs([bridge('br20', 'network/b'), vx(20, 'network/b', ['10.77.0.2'])]), caps);
  t.deepEqual(batchActions(gone.actions).map(describeAction), ['batch[delete-link acpvx20, delete-link br20]']);
});
