// acp get / describe / capabilities rendered from fixture data (objects and
// the CDB's meta views as a node answers them), the merged state, the kinds
// against the schemas, object names, and the files acp apply reads.
import test from 'ava';
import type { ObjectView } from '../../actors/cdb/meta.ts';
import * as schema from '../../actors/cdb/schema.ts';
import { kindAndId } from '../../cli/commands/get.ts';
import { refsOf } from '../../cli/commands/delete.ts';
import { nameOf, renderApplied } from '../../cli/commands/apply.ts';
import { UsageError } from '../../cli/errors.ts';
import { CDB_TYPES, KINDS, kindNamed, parseRef } from '../../cli/kinds.ts';
import { readDocs, parseText } from '../../cli/manifest.ts';
import {
  capabilitiesOf,
  diffPaths,
  fmtAge,
  fmtBytes,
  fmtStat,
  historyOf,
  nodeCapabilities,
  renderCapabilities,
  renderDescription,
  renderTable,
  sameValue,
  statusOf,
  tableRows,
  watchSignature,
  type Item,
  type StoredObject,
} from '../../cli/object-view.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tmp = mkdtempSync(join(tmpdir(), 'acp-get-unit-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const kind = (n: string) => kindNamed(n)!;

/** A node's contribution to a view. */
function contrib(node: string, o: { state?: string; reason?: string; info?: Record<string, string | number | boolean>; stats?: Record<string, number>; age?: number; stale?: boolean; service?: string }) {
  const age = o.age ?? 1000;
  return {
    node,
    seq: 1,
    at: 0,
    localAt: 0,
    age,
    stale: o.stale ?? age > 3000,
    ...(o.state ? { meta: { state: o.state, updatedBy: { node, service: o.service ?? 'network' }, updatedAt: 0, ...(o.reason ? { reason: o.reason } : {}), ...(o.info ? { info: o.info } : {}) } } : {}),
    ...(o.stats ? { stats: o.stats } : {}),
  };
}

function view(key: string, nodes: ReturnType<typeof contrib>[], stats: Record<string, number> = {}): ObjectView {
  const fresh = nodes.filter((n) => !n.stale && n.meta);
  return { key, state: fresh[0]?.meta?.state ?? 'unknown', stale: fresh.length === 0, stats, nodes, ...(fresh[0] ? { meta: fresh[0].meta, metaFrom: fresh[0].node } : {}) } as ObjectView;
}

const lan: StoredObject = { type: 'network', subtype: 'vlan-bridge', id: 'lan', spec: { vlan: 100, bridge: 'br-lan', nodes: ['n1', 'n2', 'n3'], mtu: 1500 }, revision: 12, createdRevision: 10 };
const trunk: StoredObject = { type: 'network', subtype: 'trunk', id: 'up', spec: { interfaces: ['eth0', 'eth1'], vlans: [10, 20] }, revision: 14, createdRevision: 14 };
const n1: StoredObject = { type: 'node', id: 'n1', spec: { name: 'n1', address: '10.0.0.1:7400', roles: ['cdb', 'monitor'] }, revision: 3, createdRevision: 3 };
const p1: StoredObject = { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1', 'd2'], redundancy: 'mirror' }, revision: 20, createdRevision: 18 };

test('the merged state is the worst a node reports, with that node named in the reason', (t) => {
  const v = view('network/lan', [
    contrib('n1', { state: 'ready', info: { mode: 'vxlan', vni: 100 }, stats: { rxBytes: 1000 } }),
    contrib('n2', { state: 'unsupported', reason: 'no root: cannot create interfaces' }),
    contrib('n3', { state: 'pending', reason: 'creating br-lan' }),
  ]);
  const s = statusOf(lan, v);
  t.is(s.state, 'unsupported');
  t.is(s.reason, 'n2: no root: cannot create interfaces');
  t.deepEqual(s.nodes.map((c) => [c.node, c.state]), [['n1', 'ready'], ['n2', 'unsupported'], ['n3', 'pending']]);
  // All ready: no reason.
  const ok = statusOf(lan, view('network/lan', ['n1', 'n2', 'n3'].map((n) => contrib(n, { state: 'ready' }))));
  t.is(ok.state, 'ready');
  t.is(ok.reason, undefined);
  // Several nodes failing for the same reason are named together.
  const two = statusOf(lan, view('network/lan', [contrib('n1', { state: 'failed', reason: 'EEXIST' }), contrib('n2', { state: 'failed', reason: 'EEXIST' }), contrib('n3', { state: 'ready' })]));
  t.is(two.reason, 'n1, n2: EEXIST');
});

test('a node the object names that has not reported, or whose report is stale, counts as unknown', (t) => {
  const s = statusOf(lan, view('network/lan', [contrib('n1', { state: 'ready' }), contrib('n2', { state: 'ready', age: 42_000, stale: true })]));
  t.is(s.state, 'unknown');
  t.deepEqual(s.nodes.map((c) => [c.node, c.state, c.expected]), [['n1', 'ready', true], ['n2', 'unknown', true], ['n3', 'unknown', true]]);
  t.regex(s.reason!, /^n2: no report for 42s \(last: ready\); n3: has not reported$/);
  // Nobody has said anything yet.
  const none = statusOf(p1, undefined);
  t.is(none.state, 'unknown');
  t.is(none.reason, 'no node has reported on it yet');
  // Only stale reports of an object that names no node.
  const old = statusOf(p1, view('storage/p1', [contrib('n1', { state: 'ready', age: 65_000, stale: true })]));
  t.is(old.state, 'unknown');
  t.is(old.reason, 'no fresh report (last 65s ago)');
});

test('a node object is down when its own report is stale or missing', (t) => {
  t.is(statusOf(n1, view('node/n1', [contrib('n1', { state: 'up', service: 'framework' })])).state, 'up');
  const stale = statusOf(n1, view('node/n1', [contrib('n1', { state: 'up', age: 20_000, stale: true })]));
  t.is(stale.state, 'down');
  t.regex(stale.reason!, /no report for 20s/);
  t.is(statusOf(n1, undefined).state, 'down');
  t.is(statusOf(n1, undefined).reason, 'has not reported');
});

function items(): Item[] {
  return [
    {
      object: lan,
      status: statusOf(
        lan,
        view(
          'network/lan',
          [
            contrib('n1', { state: 'ready', info: { mode: 'vxlan', vni: 100 }, stats: { rxBytes: 1536, txBytes: 2048 } }),
            contrib('n2', { state: 'ready', info: { mode: 'vlan' } }),
            contrib('n3', { state: 'degraded', reason: 'uplink eth1 down' }),
          ],
          { rxBytes: 1536, txBytes: 2048, rxErrors: 2 },
        ),
      ),
    },
    { object: trunk, status: statusOf(trunk, view('network/trunk', [contrib('n1', { state: 'unsupported', reason: 'no bonding module' })])) },
  ];
}

test('acp get networks: a table with subtype, merged state, reason, nodes and stats; wide adds info and the other stats', (t) => {
  const text = renderTable(kind('networks'), items(), false);
  t.is(
    text,
    [
      'NAME  SUBTYPE      STATE        REASON                VLAN   NODES                          RX      TX',
      'lan   vlan-bridge  degraded     n3: uplink eth1 down  100    n1:ready n2:ready n3:degraded  1.5KiB  2KiB',
      'up    trunk        unsupported  no bonding module     10,20  n1:unsupported                 -       -',
    ].join('\n'),
  );
  const wide = renderTable(kind('networks'), items(), true).split('\n');
  t.regex(wide[0]!, /^NAME +SUBTYPE +STATE +REASON +VLAN +NODES +RX +TX +BRIDGE +MTU +RX\/S +TX\/S +LAST REPORT +INFO +STATS$/);
  t.regex(wide[1]!, /br-lan +1500 +- +- +1s +n1: mode=vxlan vni=100; n2: mode=vlan +rxErrors=2$/);
  t.regex(wide[2]!, /eth0,eth1 +- +- +- +1s *$/);
  t.is(renderTable(kind('pools'), [], false), 'no pools');
});

test('a long reason is cut in the table, whole in wide', (t) => {
  const long = 'x'.repeat(100);
  const it: Item = { object: p1, status: statusOf(p1, view('storage/p1', [contrib('n1', { state: 'failed', reason: long })])) };
  t.is(tableRows(kind('pools'), [it], false).rows[0]![2], 'x'.repeat(59) + '…');
  t.is(tableRows(kind('pools'), [it], true).rows[0]![2], long);
});

test('every kind has a table, and a node table shows its stats', (t) => {
  for (const k of KINDS) t.true(tableRows(k, [], false).head.slice(0, 1).includes('NAME'), k.plural);
  const it: Item = { object: n1, status: statusOf(n1, view('node/n1', [contrib('n1', { state: 'up', stats: { cpu: 12.5, memUsedPct: 40, load1: 0.5, rssBytes: 150 * 1024 * 1024 } })], { cpu: 12.5, memUsedPct: 40, load1: 0.5, rssBytes: 150 * 1024 * 1024 })) };
  t.is(renderTable(kind('nodes'), [it], false), 'NAME  STATE  REASON  ADDRESS        ROLES        CPU    MEM  LOAD\nn1    up             10.0.0.1:7400  cdb,monitor  12.5%  40%  0.5');
});

test('--watch prints a row again when the state, reason or a node changes, not when stats do', (t) => {
  const [a] = items();
  const statsOnly: Item = { object: a!.object, status: { ...a!.status, stats: { rxBytes: 99999 } } };
  t.is(watchSignature(a), watchSignature(statsOnly));
  const moved: Item = { object: a!.object, status: { ...a!.status, state: 'ready' } };
  t.not(watchSignature(a), watchSignature(moved));
  t.not(watchSignature(a), watchSignature({ ...a!, object: { ...a!.object, revision: 13 } }));
});

test('acp describe: spec, conditions with ages, info, stats merged and per node, history', (t) => {
  const v = view(
    'storage/p1',
    [contrib('n1', { state: 'ready', service: 'storage', info: { profile: 'raid1' }, stats: { usedBytes: 1024 ** 3, sizeBytes: 10 * 1024 ** 3 } }), contrib('n2', { state: 'degraded', reason: 'device d2 missing', service: 'storage', age: 2500, stats: { usedBytes: 512 } })],
    { usedBytes: 1024 ** 3, sizeBytes: 10 * 1024 ** 3 },
  );
  const history = historyOf([
    { revision: 18, op: 'put', created: true, object: { spec: { devices: ['d1'], redundancy: 'none' } } },
    { revision: 20, op: 'put', created: false, object: { spec: { devices: ['d1', 'd2'], redundancy: 'mirror' } } },
  ]);
  t.deepEqual(history, [
    { revision: 18, op: 'created' },
    { revision: 20, op: 'updated', fields: ['spec.devices', 'spec.redundancy'] },
  ]);
  const text = renderDescription({ item: { object: p1, status: statusOf(p1, v) }, history });
  t.is(
    text,
    `Name:       p1
Object:     storage/p1
Type:       storage/pool
State:      degraded (worst of 2 nodes)
Reason:     n2: device d2 missing
Revision:   20 (created at revision 18)
Spec:
  devices:    [d1, d2]
  redundancy: mirror
Conditions:
  NODE  STATE     REASON             LAST REPORT  BY          EXPECTED
  n1    ready                        1s ago       storage@n1  no
  n2    degraded  device d2 missing  2s ago       storage@n2  no
Info:
  NODE  KEY      VALUE
  n1    profile  raid1
Stats:
  STAT       MERGED  n1     n2
  sizeBytes  10GiB   10GiB  -
  usedBytes  1GiB    1GiB   512B
History:
  REVISION  CHANGE
  18        created
  20        updated: spec.devices, spec.redundancy`,
  );
  const bare = renderDescription({ item: { object: p1, status: statusOf(p1, undefined) }, history: [], historyTruncated: true });
  t.regex(bare, /State: +unknown\nReason: +no node has reported on it yet\n/);
  t.regex(bare, /Conditions:\n {2}<none>\nStats:\n {2}<none>\nHistory:\n {2}\(older changes are no longer kept\)$/);
});

test('capabilities: cap.<name> true or the reason; "no capabilities reported yet" when there are none', (t) => {
  t.deepEqual(capabilitiesOf({ 'cap.vxlan': true, 'cap.vlan8021q': 'no 8021q module in this kernel', 'cap.btrfs': true, boot: 3, 'cap.raid': 5 }), [
    { name: 'btrfs', available: true },
    { name: 'raid', available: true, detail: '5' },
    { name: 'vlan8021q', available: false, detail: 'no 8021q module in this kernel' },
    { name: 'vxlan', available: true },
  ]);
  const with_: Item = { object: n1, status: statusOf(n1, view('node/n1', [contrib('n1', { state: 'up', info: { 'cap.vxlan': true, 'cap.vlan8021q': 'no 8021q module', kernel: '6.8' } })])) };
  const n2: StoredObject = { ...n1, id: 'n2' };
  const without: Item = { object: n2, status: statusOf(n2, view('node/n2', [contrib('n2', { state: 'up' })])) };
  const list = [with_, without].map(nodeCapabilities);
  t.is(
    renderCapabilities(list, false),
    `NODE  CAPABILITY  AVAILABLE  REASON
n1    vlan8021q   no         no 8021q module
n1    vxlan       yes

n2: no capabilities reported yet`,
  );
  t.regex(renderCapabilities(list, true), /\nn1: kernel=6\.8$/m);
  const never = nodeCapabilities({ object: n2, status: statusOf(n2, undefined) });
  t.is(renderCapabilities([never], false), 'n2: no capabilities reported yet (the node has not reported)');
});

test('formats: ages, bytes and stats by their names', (t) => {
  t.deepEqual([500, 45_000, 150_000, 3 * 3600_000, 72 * 3600_000].map(fmtAge), ['0s', '45s', '2m', '3h', '3d']);
  t.deepEqual([0, 512, 1536, 10 * 1024 ** 2, 1.25 * 1024 ** 3, 300 * 1024 ** 4].map(fmtBytes), ['0B', '512B', '1.5KiB', '10MiB', '1.25GiB', '300TiB']);
  t.is(fmtStat('rxBytesPerSec', 2048), '2KiB/s');
  t.is(fmtStat('cpu', 3.14159), '3.14%');
  t.is(fmtStat('readOps', 12), '12');
  t.is(fmtStat('latencyMs', 1.5), '1.5ms');
});

test('equality and differences of JSON values, whatever the key order', (t) => {
  t.true(sameValue({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  t.false(sameValue({ a: 1 }, { a: 1, b: 2 }));
  t.true(sameValue({ a: 1, b: undefined }, { a: 1 }));
  t.false(sameValue([1, 2], [2, 1]));
  t.deepEqual(diffPaths({ a: 1, b: { c: 1, d: 2 } }, { a: 1, b: { c: 2, d: 2 }, e: 3 }, 'spec'), ['spec.b.c', 'spec.e']);
});

test('kinds agree with the CDB schemas; names of objects', (t) => {
  t.deepEqual([...CDB_TYPES], [...schema.OBJECT_TYPES]);
  for (const k of KINDS) {
    t.true((schema.OBJECT_TYPES as readonly string[]).includes(k.type), k.plural);
    const subs: readonly string[] = schema.SUBTYPES[k.type];
    if (k.subtype) t.true(subs.includes(k.subtype), k.plural);
    else t.deepEqual([...(k.subtypes ?? [])], [...subs], `${k.plural}: its sub-types`);
  }
  t.deepEqual(kindAndId('pools', undefined), { kind: kind('pools') });
  t.deepEqual(kindAndId('pool/p1', undefined), { kind: kind('pools'), id: 'p1' });
  t.deepEqual(kindAndId('storage/pool/p1', undefined), { kind: kind('pools'), id: 'p1' });
  t.deepEqual(kindAndId('NET', 'lan'), { kind: kind('networks'), id: 'lan' });
  t.throws(() => kindAndId('vms', undefined), { instanceOf: UsageError, message: /no kind of object "vms"; acp get nodes\|networks\|devices\|pools\|shares\|systems\|services/ });
  t.throws(() => kindAndId('storage', undefined), { instanceOf: UsageError, message: /storage has sub-types/ });
  t.like(parseRef('pool/p1'), { type: 'storage', subtype: 'pool', id: 'p1' });
  t.deepEqual(parseRef('storage/p1'), { type: 'storage', id: 'p1' });
  t.like(parseRef('node', 'n1'), { type: 'node', id: 'n1' });
  t.is(parseRef('p1'), undefined);
  t.is(parseRef('vm/x'), undefined);
  t.deepEqual(refsOf(['pool', 'p1']).map((r) => `${r.type}/${r.subtype}/${r.id}`), ['storage/pool/p1']);
  t.deepEqual(refsOf(['node/n1', 'storage/d1']).map((r) => `${r.type}/${r.id}`), ['node/n1', 'storage/d1']);
  t.throws(() => refsOf(['p1']), { instanceOf: UsageError, message: /"p1": objects are named TYPE\/ID/ });
  t.is(nameOf('storage', 'pool', 'p1'), 'pool/p1');
  t.is(nameOf('network', 'trunk', 'up'), 'network/up');
  t.is(renderApplied([{ object: 'storage/p1', name: 'pool/p1', result: 'created', revision: 5 }, { object: 'node/n1', name: 'node/n1', result: 'unchanged' }], false, false), 'pool/p1 created\nnode/n1 unchanged');
  t.regex(renderApplied([{ object: 'storage/p1', name: 'pool/p1', result: 'configured' }], true, true), /^OBJECT +NAME +RESULT +REVISION\nstorage\/p1 +pool\/p1 +configured \(dry run\) +-$/);
});

test('files for apply: JSON object or array, YAML documents and lists, items; errors name the file', async (t) => {
  const f = (name: string, text: string): string => {
    const p = join(tmp, name);
    writeFileSync(p, text);
    return p;
  };
  const json = f('one.json', '{"type":"node","id":"n1","spec":{}}');
  t.deepEqual(await readDocs([json]), [{ source: json, value: { type: 'node', id: 'n1', spec: {} } }]);
  const arr = f('arr.json', '[{"type":"node","id":"a"},{"type":"node","id":"b"}]');
  t.deepEqual((await readDocs([arr])).map((d) => d.source), [`${arr}, object 1`, `${arr}, object 2`]);
  const yaml = f('two.yaml', 'type: node\nid: a\n---\n- type: node\n  id: b\n- type: node\n  id: c\n---\nitems:\n  - type: node\n    id: d\n');
  t.deepEqual((await readDocs([yaml])).map((d) => (d.value as { id: string }).id), ['a', 'b', 'c', 'd']);
  t.is((await readDocs([yaml]))[3]!.source, `${yaml}, object 4`);
  await t.throwsAsync(() => parseText('{"type": ', 'x.json'), { instanceOf: UsageError, message: /^x\.json is not valid JSON: / });
  await t.throwsAsync(() => parseText('a: 1\nb: [\n', 'x.yaml'), { instanceOf: UsageError, message: /^x\.yaml is not valid YAML: .* at line 3, column 1$/ });
  await t.throwsAsync(() => parseText('  \n', 'e.yaml'), { instanceOf: UsageError, message: 'e.yaml is empty: no objects to apply' });
  await t.throwsAsync(() => readDocs([join(tmp, 'missing.yaml')]), { instanceOf: UsageError, message: /-f .*missing\.yaml: no such file/ });
  await t.throwsAsync(() => readDocs([]), { instanceOf: UsageError, message: /give the objects with -f FILE/ });
});
