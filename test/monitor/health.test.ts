import test from 'ava';
import { DEFAULT_HEALTH_CONFIG, evaluateHealth, mergeHealthConfig } from '../../actors/monitor/health.ts';
import { NOW, TestCluster } from './cluster.ts';

const summary = (r: ReturnType<typeof evaluateHealth>) => r.findings.map((f) => `${f.severity} ${f.id}`);

test('a healthy cluster scores 100 with no findings', (t) => {
  const c = new TestCluster();
  const r = evaluateHealth(c.input());
  t.is(r.score, 100);
  t.deepEqual(r.findings, []);
  t.deepEqual(r.nodes, { total: 3, up: 3, down: [] });
});

test('a node that stopped reporting is down; its services are not counted twice', (t) => {
  const c = new TestCluster();
  c.state('node', 'n3', 'up', undefined, NOW - 60_000);
  c.state('service', 'hv-n3', 'running', undefined, NOW - 60_000);
  const r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['critical node-down:node/n3']);
  t.is(r.findings[0].reason, 'node n3 is not reporting (stale)');
  t.is(r.score, 80);
  t.deepEqual(r.nodes, { total: 3, up: 2, down: [{ node: 'n3', why: 'not-reporting' }] });
});

test('explicit down state and never-reported nodes', (t) => {
  const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
  c.state('node', 'n2', 'down');
  c.put({ type: 'node', id: 'n6', spec: { name: 'n6', address: '10.0.0.6', roles: ['management'] } });
  const r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['critical node-down:node/n2', 'critical node-down:node/n6']);
  t.is(r.findings[1].reason, 'node n6 has never reported');
  t.is(r.score, 60);
  t.deepEqual(r.nodes.down, [
    { node: 'n2', why: 'down' },
    { node: 'n6', why: 'never-reported' },
  ]);
});

test('losing the cdb quorum scores 0', (t) => {
  const c = new TestCluster();
  c.state('node', 'n2', 'down');
  c.state('node', 'n3', 'failed');
  const r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['critical node-down:node/n2', 'critical node-down:node/n3', 'critical quorum-lost:service/cdb']);
  t.is(r.score, 0);
});

test('pool usage thresholds: warning above 85 %, critical above 95 %', (t) => {
  const c = new TestCluster();
  c.state('storage', 'p1', 'up', { usedBytes: 850e9, sizeBytes: 1000e9 });
  let r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['warning pool-usage:storage/p1']);
  t.like(r.findings[0], { value: 85, threshold: 85, reason: 'pool p1 usage at 85% (>= 85%)' });
  t.is(r.score, 95);
  c.state('storage', 'p1', 'degraded', { usedBytes: 960e9, sizeBytes: 1000e9 });
  r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['critical pool-usage:storage/p1', 'warning pool-degraded:storage/p1']);
  t.is(r.score, 75);
  c.state('storage', 'p1', 'up', { usedBytes: 849e9, sizeBytes: 1000e9 });
  t.is(evaluateHealth(c.input()).score, 100);
});

test('node cpu and memory thresholds; configurable', (t) => {
  const c = new TestCluster();
  c.state('node', 'n1', 'up', { cpu: 93, memUsedBytes: 15.8e9, memTotalBytes: 16e9 });
  let r = evaluateHealth(c.input());
  t.deepEqual(summary(r), ['critical node-memory:node/n1', 'warning node-cpu:node/n1']);
  t.is(r.score, 75);
  const relaxed = mergeHealthConfig({ thresholds: { nodeCpu: { warning: 95, critical: 99 }, nodeMemory: { warning: 99, critical: 99.5 } } });
  r = evaluateHealth(c.input(), relaxed);
  t.deepEqual(r.findings, []);
  t.deepEqual(relaxed.thresholds.poolUsage, DEFAULT_HEALTH_CONFIG.thresholds.poolUsage);
});

test('services expected vs running', (t) => {
  const c = new TestCluster();
  c.state('service', 'hv-n2', 'stopped');
  c.state('service', 'cdb-n3', 'starting');
  c.put({ type: 'service', subtype: 'monitor', id: 'mon-n1', spec: { node: 'n1' } }); // never reported
  c.put({ type: 'service', subtype: 'appswitch', id: 'as-n1', spec: { node: 'n1', enabled: false } }); // disabled: ignored
  c.put({ type: 'node', id: 'n1', spec: { name: 'n1', address: '10.0.0.1', roles: ['compute', 'cdb', 'storage', 'network'] } });
  const r = evaluateHealth(c.input());
  t.deepEqual(summary(r), [
    'critical service-down:service/hv-n2',
    'warning service-down:service/mon-n1',
    'warning service-missing:node/n1',
    'info service-down:service/cdb-n3',
  ]);
  t.is(r.findings.find((f) => f.id === 'service-missing:node/n1')!.reason, 'node n1 has no enabled storage (role storage), network (role network) services');
  t.is(r.score, 100 - 20 - 5 - 5 - 0);
});

test('systems, networks, devices and dangling references', (t) => {
  const c = new TestCluster();
  c.put({ type: 'system', id: 'vm1', spec: { name: 'vm1', vcpus: 2, memoryMb: 1024, node: 'n2' } });
  c.put({ type: 'system', id: 'vm2', spec: { name: 'vm2', vcpus: 2, memoryMb: 1024, node: 'n2', autostart: false } });
  c.put({ type: 'system', id: 'vm3', spec: { name: 'vm3', vcpus: 2, memoryMb: 1024, node: 'n3' } });
  c.state('system', 'vm1', 'loaded');
  c.state('system', 'vm3', 'crashed');
  c.put({ type: 'network', subtype: 'vlan-bridge', id: 'v100', spec: { vlan: 100, bridge: 'br100', nodes: ['n1', 'n9'] } });
  c.state('network', 'v100', 'down');
  c.state('storage', 'n1-sdb', 'failed');
  c.put({ type: 'storage', subtype: 'share', id: 's1', spec: { pool: 'nope', protocol: 'nfs', path: '/x' } });
  const r = evaluateHealth(c.input());
  t.deepEqual(summary(r), [
    'critical system-down:system/vm3',
    'warning dangling-ref:network/v100',
    'warning dangling-ref:storage/s1',
    'warning device-failed:storage/n1-sdb',
    'warning network-down:network/v100',
  ]);
  t.is(r.findings[1].reason, 'network/v100 refers to missing objects: spec.nodes → node/n9');
});

test('the report is independent of input order', (t) => {
  const c = new TestCluster();
  c.state('node', 'n2', 'degraded');
  c.state('storage', 'p1', 'up', { usedBytes: 900e9, sizeBytes: 1000e9 });
  const input = c.input();
  const a = evaluateHealth(input);
  const b = evaluateHealth({ objects: [...input.objects].reverse(), views: Object.fromEntries([...(input.views as Map<string, never>)].reverse()) });
  t.deepEqual(a, b);
  t.is(a.score, 90);
});

// ---- link evidence: the evaluating node's own links to its peers

const up = { up: true } as const;
const closed = (forMs: number) => ({ up: false, cause: 'closed', forMs }) as const;
const silent = (forMs: number) => ({ up: false, cause: 'silent', forMs }) as const;

test('a node whose link closed is down at once, though its meta is still fresh', (t) => {
  const c = new TestCluster();
  // n3's meta was reported a second ago (fresh for 14 more seconds): only the link says it is gone.
  const r = evaluateHealth({ ...c.input(), links: { n2: up, n3: closed(DEFAULT_HEALTH_CONFIG.links.closedAfterMs) } });
  t.deepEqual(summary(r), ['critical node-down:node/n3']);
  t.is(r.findings[0].reason, 'node n3 is unreachable (its connection closed)');
  t.is(r.score, 80);
  t.deepEqual(r.nodes, { total: 3, up: 2, down: [{ node: 'n3', why: 'unreachable' }] });
});

test('a link closed for less than the grace is a reconnect, not a dead node', (t) => {
  const c = new TestCluster();
  const r = evaluateHealth({ ...c.input(), links: { n2: up, n3: closed(DEFAULT_HEALTH_CONFIG.links.closedAfterMs - 1) } });
  t.is(r.score, 100);
  t.deepEqual(r.findings, []);
});

test('a silent link counts only once it has stayed silent past its longer grace: one slow heartbeat is no alarm', (t) => {
  const c = new TestCluster();
  const grace = DEFAULT_HEALTH_CONFIG.links.silentAfterMs;
  t.true(grace > DEFAULT_HEALTH_CONFIG.links.closedAfterMs, 'silence is weaker evidence than a closed connection');
  t.is(evaluateHealth({ ...c.input(), links: { n2: up, n3: silent(grace - 1) } }).score, 100);
  const r = evaluateHealth({ ...c.input(), links: { n2: up, n3: silent(grace) } });
  t.deepEqual(summary(r), ['critical node-down:node/n3']);
  t.is(r.findings[0].reason, 'node n3 is unreachable (no heartbeat)');
  t.deepEqual(r.nodes.down, [{ node: 'n3', why: 'unreachable' }]);
});

test('the node recovers as soon as its link is back up and its meta is fresh', (t) => {
  const c = new TestCluster();
  t.is(evaluateHealth({ ...c.input(), links: { n2: up, n3: closed(5000) } }).score, 80);
  const r = evaluateHealth({ ...c.input(), links: { n2: up, n3: up } });
  t.is(r.score, 100);
  t.deepEqual(r.nodes.down, []);
});

test('an up link proves nothing more: stale meta or a down state still count', (t) => {
  const c = new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
  c.state('node', 'n3', 'up', undefined, NOW - 60_000);
  c.state('node', 'n2', 'failed');
  const r = evaluateHealth({ ...c.input(), links: { n2: up, n3: up, n4: up, n5: up } });
  t.deepEqual(summary(r), ['critical node-down:node/n2', 'critical node-down:node/n3']);
  t.deepEqual(r.nodes.down, [
    { node: 'n2', why: 'down' },
    { node: 'n3', why: 'not-reporting' },
  ]);
});

test('unreachable takes precedence over stale meta (it says why), and its services are not counted twice', (t) => {
  const c = new TestCluster();
  c.state('node', 'n3', 'up', undefined, NOW - 60_000);
  c.state('service', 'hv-n3', 'running', undefined, NOW - 60_000);
  const r = evaluateHealth({ ...c.input(), links: { n3: closed(10_000) } });
  t.deepEqual(summary(r), ['critical node-down:node/n3']);
  t.is(r.findings[0].reason, 'node n3 is unreachable (its connection closed)');
});

test('no link evidence for a node (itself, or a node without a link) leaves the meta to decide', (t) => {
  const c = new TestCluster();
  // Links to nodes that are not objects are ignored too.
  const r = evaluateHealth({ ...c.input(), links: { n9: closed(10_000) } });
  t.is(r.score, 100);
  t.deepEqual(r.findings, []);
});

test('two of three cdb nodes unreachable: quorum lost, score 0', (t) => {
  const c = new TestCluster();
  const r = evaluateHealth({ ...c.input(), links: { n2: closed(1000), n3: silent(5000) } });
  t.deepEqual(summary(r), ['critical node-down:node/n2', 'critical node-down:node/n3', 'critical quorum-lost:service/cdb']);
  t.is(r.score, 0);
  t.deepEqual(r.nodes, { total: 3, up: 1, down: [{ node: 'n2', why: 'unreachable' }, { node: 'n3', why: 'unreachable' }] });
});

test('the link graces are configurable', (t) => {
  const c = new TestCluster();
  const patient = mergeHealthConfig({ links: { closedAfterMs: 2000 } });
  t.is(patient.links.silentAfterMs, DEFAULT_HEALTH_CONFIG.links.silentAfterMs);
  t.is(evaluateHealth({ ...c.input(), links: { n3: closed(1000) } }, patient).score, 100);
  t.is(evaluateHealth({ ...c.input(), links: { n3: closed(2000) } }, patient).score, 80);
});
