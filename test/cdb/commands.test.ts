import test from 'ava';
import { filterOf, parseRequest, parseRequestBySchema, requestSchema, toStoreCommand } from '../../actors/cdb/commands.ts';
import { SeededRng } from '../../runtime/env/random.ts';
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

test('parseRequest gives what the schemas give, fast path or not', (t) => {
  // The hand-written envelope check in front of the schemas must accept nothing they refuse,
  // and its copy must be theirs (same fields, same order).
  const rng = new SeededRng(4);
  const base: Record<string, unknown>[] = [
    { op: 'get', type: 'node', id: 'n1' },
    { op: 'get', type: 'storage', id: 'p1', consistency: 'stale', requestId: 'r' },
    { op: 'put', object: EXAMPLES['storage/pool'], expectRevision: 0, requestId: 'r1' },
    { op: 'put', object: EXAMPLES.node, client: 'cli', seq: 4 },
    { op: 'delete', type: 'storage', id: 'p1', expectRevision: 12, client: 'c', seq: 1 },
    { requestId: 'x', seq: 2, client: 'c', object: EXAMPLES.node, op: 'put' },
  ];
  const bad: unknown[] = [undefined, null, -1, 0, 1, 1.5, 2 ** 60, NaN, '', 'x', 'A!', 'x'.repeat(129), 'node', 'stale', 'get', 'put', 'delete', 'ls', true, {}, [], EXAMPLES.node];
  const fields = ['op', 'type', 'id', 'object', 'expectRevision', 'client', 'seq', 'requestId', 'consistency', 'extra'];
  let fastOk = 0;
  for (let i = 0; i < 4000; i++) {
    const x: Record<string, unknown> = { ...base[i % base.length] };
    for (let n = i < base.length ? 0 : rng.int(1, 2); n > 0; n--) {
      const f = fields[rng.int(0, fields.length - 1)];
      if (rng.int(0, 3) === 0) delete x[f];
      else x[f] = bad[rng.int(0, bad.length - 1)];
    }
    const got = parseRequest(x);
    const want = parseRequestBySchema(x);
    t.deepEqual(got, want, JSON.stringify(x));
    if (got.ok && want.ok) {
      fastOk++;
      t.is(JSON.stringify(got.value), JSON.stringify(want.value));
    }
  }
  t.true(fastOk > 200, `${fastOk} accepted`);
});
