// The Monitor's placement decision as a table: (objects, views, down nodes, term) → the CAS puts
// of the placements and the systems that cannot be placed (their system-unplaced findings).
import test from 'ava';
import type { CdbObject, ObjectKey } from '../../actors/cdb/schema.ts';
import type { ObjectView } from '../../actors/cdb/meta.ts';
import { planPlacements } from '../../actors/monitor/placement.ts';
import { MonitorCore } from '../../actors/monitor/monitor.ts';
import { unplacedFindings } from '../../actors/monitor/health.ts';

let rev = 10;
const node = (id: string, roles: string[] = ['compute']): CdbObject => ({ type: 'node', id, spec: { name: id, address: `${id}:7000`, roles }, revision: rev++, createdRevision: 1 }) as unknown as CdbObject;
const sys = (id: string, spec: Record<string, unknown> = {}): CdbObject =>
  ({ type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 512, kind: 'process', process: { command: 'true' }, ...spec }, revision: rev++, createdRevision: 1 }) as unknown as CdbObject;
const obj = (type: string, subtype: string, id: string, spec: Record<string, unknown>): CdbObject => ({ type, subtype, id, spec, revision: rev++, createdRevision: 1 }) as unknown as CdbObject;
const view = (key: ObjectKey, stats: Record<string, number>): ObjectView => ({ key, state: 'up', stale: false, lastSeen: 1, stats, nodes: [] });
const cap = (vcpus = 4, memoryMb = 4096) => ({ capacityVcpus: vcpus, capacityMemoryMb: memoryMb });
const views = (m: Record<string, Record<string, number>>): Map<ObjectKey, ObjectView> => new Map(Object.entries(m).map(([n, s]) => [`node/${n}` as ObjectKey, view(`node/${n}` as ObjectKey, s)]));

const cases: { name: string; objects: CdbObject[]; stats: Record<string, Record<string, number>>; down?: string[]; want: Record<string, string>; unplaced?: Record<string, RegExp>; reason?: Record<string, RegExp> }[] = [
  { name: 'an unplaced process system goes to the compute node', objects: [node('n1', ['cdb']), node('n2'), sys('a')], stats: { n1: cap(), n2: cap() }, want: { a: 'n2' }, reason: { a: /^n2: compute, 4 free vCPUs >= 1, 4096 MiB free >= 512; the only candidate \(n1: no compute role\)/ } },
  { name: 'pinned, already placed and kindless systems are left alone', objects: [node('n1'), sys('pinned', { node: 'n1' }), sys('placed', { placement: { node: 'n1', term: 1 } }), sys('record', { kind: undefined, process: undefined })], stats: { n1: cap() }, want: {} },
  { name: 'a placement on a node that no longer exists is redone', objects: [node('n1'), sys('a', { placement: { node: 'gone', term: 1 } })], stats: { n1: cap() }, want: { a: 'n1' } },
  { name: 'a node health counts down is skipped', objects: [node('n1'), node('n2'), sys('a')], stats: { n1: cap(), n2: cap() }, down: ['n1'], want: { a: 'n2' } },
  { name: 'a node that has not reported its capacity takes nothing', objects: [node('n1'), sys('a')], stats: {}, want: {}, unplaced: { a: /n1: capacity not reported yet/ } },
  { name: 'what runs on a node (pins and placements) is used capacity', objects: [node('n1'), node('n2'), sys('p', { node: 'n1', memoryMb: 3000 }), sys('q', { placement: { node: 'n2', term: 1 }, memoryMb: 1000 }), sys('a')], stats: { n1: cap(), n2: cap() }, want: { a: 'n2' } },
  { name: 'too big for every node: unplaced with each shortfall', objects: [node('n1'), node('n2'), sys('huge', { memoryMb: 100_000 })], stats: { n1: cap(), n2: cap(8, 8192) }, want: {}, unplaced: { huge: /no node fits: n1: 4096 MiB free < 100000; n2: 8192 MiB free < 100000/ } },
  {
    name: 'networks: only nodes a network object lists',
    objects: [node('n1'), node('n2'), obj('network', 'vlan-bridge', 'v100', { vlan: 100, bridge: 'br100', nodes: ['n2'] }), sys('a', { networks: ['v100'] })],
    stats: { n1: cap(8, 8192), n2: cap() },
    want: { a: 'n2' },
  },
  {
    name: 'a local share only where its pool’s devices are; an nfs share anywhere',
    objects: [
      node('n1'),
      node('n2'),
      obj('storage', 'device', 'd1', { node: 'n2', path: '/dev/sdb', sizeBytes: 1 }),
      obj('storage', 'pool', 'p1', { devices: ['d1'] }),
      obj('storage', 'share', 'loc', { pool: 'p1', protocol: 'local', path: '/loc' }),
      obj('storage', 'share', 'net', { pool: 'p1', protocol: 'nfs', path: '/net' }),
      sys('a', { disks: [{ share: 'loc', sizeBytes: 1 }] }),
      sys('b', { disks: [{ share: 'net', sizeBytes: 1 }] }),
    ],
    stats: { n1: cap(8, 8192), n2: cap() },
    want: { a: 'n2', b: 'n1' },
  },
];

for (const c of cases) {
  test(c.name, (t) => {
    const plan = planPlacements({ objects: c.objects, views: views(c.stats), down: c.down ?? [], term: 3 });
    t.deepEqual(Object.fromEntries(plan.puts.map((p) => [p.id, p.object.spec.placement!.node])), c.want);
    for (const p of plan.puts) {
      const o = c.objects.find((x) => x.id === p.id)!;
      t.is(p.expectRevision, o.revision, 'CAS on the revision the decision was made from');
      t.is(p.object.spec.placement!.term, 3, "the primary's term");
      t.deepEqual({ ...p.object.spec, placement: undefined }, { ...(o.spec as object), placement: undefined }, 'only the placement changes');
    }
    for (const [id, re] of Object.entries(c.reason ?? {})) t.regex(plan.puts.find((p) => p.id === id)!.object.spec.placement!.reason!, re);
    t.deepEqual(plan.unplaced.map((u) => u.id).sort(), Object.keys(c.unplaced ?? {}).sort());
    for (const [id, re] of Object.entries(c.unplaced ?? {})) t.regex(plan.unplaced.find((u) => u.id === id)!.reason, re);
  });
}

test('a placement written in a later term is not replaced', (t) => {
  const plan = planPlacements({ objects: [node('n1'), sys('a', { placement: { node: 'gone', term: 9 } })], views: views({ n1: cap() }), down: [], term: 3 });
  t.deepEqual(plan.puts, []);
});

test('unplaced systems become system-unplaced findings with the reason', (t) => {
  const [f] = unplacedFindings([{ id: 'huge', reason: 'no node fits: n1: 4096 MiB free < 100000' }]);
  t.like(f, { id: 'system-unplaced:system/huge', code: 'system-unplaced', severity: 'warning', object: 'system/huge' });
  t.regex(f!.reason, /^system huge cannot be placed: no node fits/);
  t.true(unplacedFindings([{ id: 'x', reason: 'r'.repeat(5000) }])[0]!.reason.length <= 1000);
});

test('MonitorCore: only the primary gets the puts, every monitor the finding, placements carry its term', (t) => {
  const objects = [node('n1'), sys('a'), sys('huge', { memoryMb: 100_000 })];
  const input = { objects, views: views({ n1: cap() }), now: 1000, ledgerActive: [] };
  const secondary = new MonitorCore('n2').tick({ ...input, leader: 'n1', term: 4 });
  t.deepEqual(secondary.placements, []);
  t.true(secondary.health.findings.some((f) => f.id === 'system-unplaced:system/huge'));
  const primary = new MonitorCore('n1').tick({ ...input, leader: 'n1', term: 4 });
  t.deepEqual(primary.placements.map((p) => [p.id, p.object.spec.placement]), [['a', { node: 'n1', term: 4, reason: primary.placements[0]!.object.spec.placement!.reason }]]);
  t.true(primary.health.findings.some((f) => f.id === 'system-unplaced:system/huge'));
});
