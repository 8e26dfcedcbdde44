// How the Monitor's health sees networks: each node's own report counts (not only the freshest
// meta), and a network with one of its nodes down is degraded.
import test from 'ava';
import { evaluateHealth } from '../../actors/monitor/health.ts';
import { MetaTable } from '../../actors/cdb/meta.ts';
import type { ObjectDef } from '../../actors/cdb/schema.ts';
import { NOW, TestCluster } from '../monitor/cluster.ts';

const net: ObjectDef = { type: 'network', subtype: 'vlan-bridge', id: 'blue', spec: { vlan: 10, bridge: 'br-blue', nodes: ['n1', 'n2', 'n3'] } };
const findings = (c: TestCluster) => evaluateHealth(c.input()).findings.filter((f) => f.object.startsWith('network/')).map((f) => `${f.code} ${f.reason}`);

function cluster(): TestCluster {
  const c = new TestCluster();
  // Every node's own contribution is kept (the table of n1 merges what n2 and n3 published).
  c.meta = new MetaTable({ self: 'n1', staleAfterMs: 15_000 });
  for (const n of ['n1', 'n2', 'n3']) c.state('node', n, 'up');
  c.put(net);
  return c;
}

test('ready on every node: no finding', (t) => {
  const c = cluster();
  for (const n of ['n1', 'n2', 'n3']) c.state('network', 'blue', 'ready', undefined, NOW - 1000, n);
  t.deepEqual(findings(c), []);
});

test('failed on one node while another reported ready later: still a finding, naming the node and its reason', (t) => {
  const c = cluster();
  c.meta.report('n2', 'network/blue', { meta: { state: 'failed', reason: 'create-vxlan: boom', updatedBy: { node: 'n2', service: 'network' }, updatedAt: NOW - 2000 } }, NOW - 2000);
  c.state('network', 'blue', 'ready', undefined, NOW - 500, 'n1');
  t.deepEqual(findings(c), ['network-down vlan-bridge blue is failed on n2: create-vxlan: boom']);
});

test('unsupported on a node: a finding with the exact reason', (t) => {
  const c = cluster();
  c.meta.report('n3', 'network/blue', { meta: { state: 'unsupported', reason: 'cannot create bridges: not running as root', updatedBy: { node: 'n3', service: 'network' }, updatedAt: NOW - 1000 } }, NOW - 1000);
  t.deepEqual(findings(c), ['network-unsupported vlan-bridge blue is unsupported on n3: cannot create bridges: not running as root']);
});

test('a node of the network down: the network is degraded', (t) => {
  const c = cluster();
  for (const n of ['n1', 'n2']) c.state('network', 'blue', 'ready', undefined, NOW - 1000, n);
  c.state('node', 'n3', 'down');
  t.deepEqual(findings(c), ['network-degraded vlan-bridge blue is degraded: node n3 is down']);
});

test('leases: only dangling references count', (t) => {
  const c = cluster();
  c.put({ type: 'network', subtype: 'lease', id: 'gone.172-16-10-2', spec: { network: 'gone', node: 'n1', netns: 'w1', address: '172.16.10.2' } });
  t.deepEqual(findings(c), ['dangling-ref network/gone.172-16-10-2 refers to missing objects: spec.network → network/gone']);
});
