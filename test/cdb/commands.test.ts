import test from 'ava';
import { filterOf, parseRequest, requestSchema, toStoreCommand } from '../../actors/cdb/commands.ts';
import { CdbStore, encodeStoreCommand } from '../../actors/cdb/store.ts';
import { EXAMPLES } from './examples.ts';

test('valid requests parse', (t) => {
  const reqs: unknown[] = [
    { op: 'get', type: 'node', id: 'n1' },
    { op: 'put', object: EXAMPLES['storage/pool'], expectRevision: 0, requestId: 'r1' },
    { op: 'put', object: EXAMPLES.node, client: 'cli', seq: 4 },
    { op: 'delete', type: 'storage', id: 'p1', expectRevision: 12 },
    { op: 'ls' },
    { op: 'ls', type: 'service', subtype: 'hypervisor', prefix: 'hv-' },
    { op: 'watch', fromRevision: 0 },
    { op: 'watch', fromRevision: 42, type: 'node', id: 'n1', limit: 100 },
    { op: 'meta', type: 'network', id: 'v100' },
  ];
  for (const r of reqs) {
    const p = parseRequest(r);
    t.true(p.ok, JSON.stringify(r) + (p.ok ? '' : ` → ${p.error}`));
    t.true(requestSchema.safeParse(r).success);
  }
});

test('bad requests are rejected with a line naming the field', (t) => {
  const cases: [unknown, string][] = [
    [{ op: 'frob' }, 'request: op must be one of get, put, delete, ls, watch, meta'],
    [[], 'request must be a JSON object'],
    [{ op: 'get', type: 'node' }, 'get: id is required'],
    [{ op: 'get', type: 'vm', id: 'x' }, 'get: type must be one of system, node, storage, network, service'],
    [{ op: 'put', object: { ...EXAMPLES['storage/pool'], spec: { devices: ['a', 'b'], redundancy: 'raid6' } } }, 'put: storage/pool "p1": spec.redundancy must be one of mirror, raid5, none, raidz1'],
    [{ op: 'put', object: EXAMPLES.node, expectRevision: -1 }, 'put: expectRevision must be >= 0'],
    [{ op: 'put', object: EXAMPLES.node, client: 'x' }, 'put: seq must be given together with client'],
    [{ op: 'watch' }, 'watch: fromRevision is required'],
    [{ op: 'watch', fromRevision: 1.5 }, 'watch: fromRevision must be an integer (got 1.5)'],
    [{ op: 'ls', type: 'node', subtype: 'pool' }, 'ls: subtype does not belong to the type'],
    [{ op: 'ls', prefix: 'A*' }, 'ls: prefix must be an id prefix (a-z 0-9 . _ -)'],
    [{ op: 'delete', type: 'node', id: 'n1', force: true }, 'delete: unknown field "force"'],
  ];
  for (const [x, err] of cases) t.deepEqual(parseRequest(x), { ok: false, error: err }, JSON.stringify(x));
});

test('mutating requests map to store commands the store applies', (t) => {
  const s = new CdbStore();
  let i = 0;
  for (const r of [
    { op: 'put', object: EXAMPLES.node, expectRevision: 0, client: 'c', seq: 1 },
    { op: 'put', object: EXAMPLES['storage/device'] },
    { op: 'delete', type: 'storage', id: 'n1-sda', expectRevision: 2 },
  ]) {
    const p = parseRequest(r);
    if (!p.ok) return t.fail(p.error);
    const cmd = toStoreCommand(p.value);
    t.truthy(cmd);
    t.like(s.apply(++i, encodeStoreCommand(cmd!)), { ok: true });
  }
  t.deepEqual(s.list().map((o) => o.id), ['n1']);
  const ls = parseRequest({ op: 'ls', type: 'node' });
  if (!ls.ok || ls.value.op !== 'ls') return t.fail();
  t.is(toStoreCommand(ls.value), undefined);
  t.deepEqual(filterOf(ls.value), { type: 'node' });
  const w = parseRequest({ op: 'watch', fromRevision: 0, id: 'n1', prefix: 'n' });
  if (!w.ok || w.value.op !== 'watch') return t.fail();
  t.deepEqual(filterOf(w.value), { id: 'n1', prefix: 'n' });
});
