// Placement as a table: systems × nodes → a node and the reason, or none and why.
import test from 'ava';
import type { SystemSpec } from '../../actors/cdb/schema.ts';
import { place, type PlacementNode, type PlacementRequest } from '../../actors/hypervisor/placement.ts';

const node = (name: string, over: Partial<PlacementNode> = {}): PlacementNode => ({
  name,
  roles: ['compute'],
  up: true,
  capacity: { vcpus: 4, memoryMb: 4096 },
  used: { vcpus: 0, memoryMb: 0 },
  networks: new Set(['v100']),
  shares: new Set(['data']),
  ...over,
});
const req = (id: string, over: Partial<SystemSpec> = {}, avoid?: string[]): PlacementRequest => ({ id, spec: { name: id, vcpus: 1, memoryMb: 512, kind: 'process', process: { command: 'true' }, ...over } as SystemSpec, ...(avoid ? { avoid } : {}) });

const cases: { name: string; reqs: PlacementRequest[]; nodes: PlacementNode[]; cpuOvercommit?: number; want: Record<string, string | undefined>; reason?: Record<string, RegExp> }[] = [
  { name: 'the node with the most free memory wins', reqs: [req('a')], nodes: [node('n1', { used: { vcpus: 0, memoryMb: 1024 } }), node('n2')], want: { a: 'n2' }, reason: { a: /^n2: compute, 4 free vCPUs >= 1, 4096 MiB free >= 512; most free memory of 2 candidates/ } },
  { name: 'ties go to the name', reqs: [req('a')], nodes: [node('n2'), node('n1')], want: { a: 'n1' } },
  { name: 'without the compute role a node is not a candidate', reqs: [req('a')], nodes: [node('n1', { roles: ['storage'] }), node('n2', { used: { vcpus: 3, memoryMb: 3000 } })], want: { a: 'n2' }, reason: { a: /the only candidate \(n1: no compute role\)/ } },
  { name: 'down and cordoned nodes are skipped', reqs: [req('a')], nodes: [node('n1', { up: false }), node('n2', { cordoned: true }), node('n3', { used: { vcpus: 0, memoryMb: 3000 } })], want: { a: 'n3' } },
  { name: 'not enough vCPUs', reqs: [req('a', { vcpus: 4 })], nodes: [node('n1', { used: { vcpus: 1, memoryMb: 0 } })], want: { a: undefined }, reason: { a: /no node fits: n1: 3 free vCPUs < 4/ } },
  { name: 'vCPU overcommit lets it fit', reqs: [req('a', { vcpus: 4 })], nodes: [node('n1', { used: { vcpus: 1, memoryMb: 0 } })], cpuOvercommit: 2, want: { a: 'n1' } },
  { name: 'not enough memory', reqs: [req('a', { memoryMb: 8192 })], nodes: [node('n1'), node('n2')], want: { a: undefined }, reason: { a: /n1: 4096 MiB free < 8192; n2: 4096 MiB free < 8192/ } },
  { name: 'a node without the network is skipped', reqs: [req('a', { networks: ['v200'] })], nodes: [node('n1'), node('n2', { networks: new Set(['v200']) })], want: { a: 'n2' }, reason: { a: /networks v200.*n1: no network v200/ } },
  { name: 'a node without the share is skipped', reqs: [req('a', { kind: 'container', process: undefined, container: { image: 'busybox', command: ['sh'], mounts: [{ share: 'db', target: '/db' }] } })], nodes: [node('n1'), node('n2', { shares: new Set(['db']) })], want: { a: 'n2' } },
  { name: 'avoided nodes (the one it failed on) are skipped', reqs: [req('a', {}, ['n1'])], nodes: [node('n1'), node('n2', { used: { vcpus: 0, memoryMb: 2048 } })], want: { a: 'n2' } },
  { name: 'decisions reserve resources: largest first, then spread', reqs: [req('small', { memoryMb: 1024 }), req('big', { memoryMb: 3072 })], nodes: [node('n1'), node('n2')], want: { big: 'n1', small: 'n2' } },
  { name: 'under pressure the last one does not fit', reqs: [req('a', { memoryMb: 3000 }), req('b', { memoryMb: 3000 }), req('c', { memoryMb: 3000 })], nodes: [node('n1'), node('n2')], want: { a: 'n1', b: 'n2', c: undefined }, reason: { c: /n1: 1096 MiB free < 3000; n2: 1096 MiB free < 3000/ } },
  { name: 'no nodes at all', reqs: [req('a')], nodes: [], want: { a: undefined }, reason: { a: /^no nodes$/ } },
];

for (const c of cases) {
  test(c.name, (t) => {
    const out = place(c.reqs, c.nodes, c.cpuOvercommit ? { cpuOvercommit: c.cpuOvercommit } : {});
    t.deepEqual(out.map((r) => r.id), c.reqs.map((r) => r.id), 'results in request order');
    t.deepEqual(Object.fromEntries(out.map((r) => [r.id, r.node])), c.want);
    for (const [id, re] of Object.entries(c.reason ?? {})) t.regex(out.find((r) => r.id === id)!.reason, re);
  });
}

test('deterministic: the same input gives the same output', (t) => {
  const reqs = [req('a'), req('b', { memoryMb: 1000 }), req('c', { vcpus: 2 })];
  const nodes = [node('n1'), node('n2'), node('n3', { used: { vcpus: 2, memoryMb: 100 } })];
  t.deepEqual(place(reqs, nodes), place([...reqs].reverse(), [...nodes].reverse()).sort((x, y) => reqs.findIndex((r) => r.id === x.id) - reqs.findIndex((r) => r.id === y.id)));
});
