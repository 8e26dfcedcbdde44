import test from 'ava';
import { OBJECT_SCHEMAS, SUBTYPES, objectDefSchema, validateObject, validateStoredObject, parseObjectKey } from '../../actors/cdb/schema.ts';
import { EXAMPLES, withField } from './examples.ts';

test('every type/subtype has an example and the example is accepted', (t) => {
  const labels = Object.entries(SUBTYPES).flatMap(([ty, subs]) => (subs.length ? subs.map((s) => `${ty}/${s}`) : [ty]));
  t.deepEqual(labels.sort(), Object.keys(OBJECT_SCHEMAS).sort());
  t.deepEqual(Object.keys(EXAMPLES).sort(), labels.sort());
  for (const [label, ex] of Object.entries(EXAMPLES)) {
    const r = validateObject(ex);
    t.true(r.ok, `${label}: ${r.ok ? '' : r.error}`);
    if (r.ok) t.deepEqual(r.value, ex, label);
    t.true(objectDefSchema.safeParse(ex).success, `${label} via the union schema`);
  }
});

test('minimal specs (optional fields absent) are accepted', (t) => {
  t.true(validateObject({ type: 'system', id: 'vm1', spec: { name: 'vm', vcpus: 1, memoryMb: 512 } }).ok);
  t.true(validateObject({ type: 'storage', subtype: 'pool', id: 'p0', spec: { devices: ['d'], redundancy: 'none' } }).ok);
  t.true(validateObject({ type: 'node', id: 'n6', spec: { name: 'six', address: 'fd00::6', roles: ['management'] } }).ok);
});

test('raidz1 is accepted as an alias and stored as raid5 (the name that says what it is); raid5 needs 3 devices', (t) => {
  const r = validateObject({ type: 'storage', subtype: 'pool', id: 'p5', spec: { devices: ['a', 'b', 'c'], redundancy: 'raidz1' } });
  t.true(r.ok);
  if (r.ok && r.value.type === 'storage' && r.value.subtype === 'pool') t.is(r.value.spec.redundancy, 'raid5');
  const few = validateObject({ type: 'storage', subtype: 'pool', id: 'p5', spec: { devices: ['a', 'b'], redundancy: 'raidz1' } });
  t.deepEqual(few, { ok: false, error: 'storage/pool "p5": spec.devices must have at least 3 devices for redundancy raid5' });
  t.true(validateObject({ type: 'storage', subtype: 'share', id: 's1', spec: { pool: 'p5', protocol: 'nbd', path: '/vm1', quotaBytes: 1 << 30 } }).ok);
  t.true(validateObject({ type: 'storage', subtype: 'device', id: 'd1', spec: { node: 'n1', path: '/var/lib/acp/d1.img', sizeBytes: 1 << 30, loop: true, wipe: false } }).ok);
});

const mistakes: [string, unknown, string][] = [
  ['bad enum', withField(EXAMPLES['storage/pool'], 'spec.redundancy', 'raid6'), 'storage/pool "p1": spec.redundancy must be one of mirror, raid5, none, raidz1'],
  ['misspelled field', withField(withField(EXAMPLES['storage/pool'], 'spec.redundancy', undefined), 'spec.redundency', 'mirror'), 'storage/pool "p1": spec.redundancy is required (one of mirror, raid5, none, raidz1) (found unknown field "redundency": misspelled?)'],
  ['unknown field', withField(EXAMPLES['storage/device'], 'spec.size', 5), 'storage/device "n1-sda": spec: unknown field "size"'],
  ['too few devices for mirror', withField(EXAMPLES['storage/pool'], 'spec.devices', ['a']), 'storage/pool "p1": spec.devices must have at least 2 devices for redundancy mirror'],
  ['duplicate devices', withField(EXAMPLES['storage/pool'], 'spec.devices', ['a', 'a']), 'storage/pool "p1": spec.devices must not contain duplicate devices'],
  ['uppercase id', withField(EXAMPLES.node, 'id', 'Node1'), 'node "Node1": id must be 1-63 chars of a-z 0-9 . _ -, starting with a letter or digit'],
  ['id too long', withField(EXAMPLES.node, 'id', 'a'.repeat(64)), `node "${'a'.repeat(64)}": id must be 1-63 chars of a-z 0-9 . _ -, starting with a letter or digit`],
  ['string for a number', withField(EXAMPLES.system, 'spec.vcpus', '2'), 'system "vm-web1": spec.vcpus must be a number (got string)'],
  ['fractional integer', withField(EXAMPLES.system, 'spec.memoryMb', 100.5), 'system "vm-web1": spec.memoryMb must be an integer (got 100.5)'],
  ['vlan out of range', withField(EXAMPLES['network/vlan-bridge'], 'spec.vlan', 4095), 'network/vlan-bridge "v100": spec.vlan must be <= 4094'],
  ['bad role', withField(EXAMPLES.node, 'spec.roles', ['compute', 'gpu']), 'node "n1": spec.roles[1] must be one of compute, storage, network, management, monitor, cdb'],
  ['no roles', withField(EXAMPLES.node, 'spec.roles', []), 'node "n1": spec.roles must have at least 1 item'],
  ['relative device path', withField(EXAMPLES['storage/device'], 'spec.path', 'dev/sda'), 'storage/device "n1-sda": spec.path must be an absolute path'],
  ['missing subtype', withField(EXAMPLES['storage/share'], 'subtype', undefined), 'storage "vmstore": subtype is required: one of device, pool, share'],
  ['wrong subtype', withField(EXAMPLES['service/cdb'], 'subtype', 'database'), 'service "cdb-n1": subtype must be one of hypervisor, storage, network, monitor, cdb, appswitch'],
  ['subtype on a plain type', withField(EXAMPLES.node, 'subtype', 'compute'), 'node "n1": subtype must be absent (node has no sub-types)'],
  ['unknown type', { type: 'vm', id: 'x', spec: {} }, 'object "x": type must be one of system, node, storage, network, service'],
  ['missing spec', withField(EXAMPLES['service/hypervisor'], 'spec', undefined), 'service/hypervisor "hv-n1": spec is required'],
  ['service without node', withField(EXAMPLES['service/network'], 'spec.node', undefined), 'service/network "net-n1": spec.node is required'],
  ['negative size', withField(EXAMPLES['storage/device'], 'spec.sizeBytes', -1), 'storage/device "n1-sda": spec.sizeBytes must be >= 0'],
  ['bad share protocol', withField(EXAMPLES['storage/share'], 'spec.protocol', 'ftp'), 'storage/share "vmstore": spec.protocol must be one of nfs, nbd, iscsi, smb, local'],
  ['duplicate trunk vlans', withField(EXAMPLES['network/trunk'], 'spec.vlans', [100, 100]), 'network/trunk "trunk0": spec.vlans must not contain duplicate vlans'],
  ['not an object', 'node/n1', 'object must be a JSON object (got string)'],
  ['negative revision', withField(EXAMPLES.node, 'revision', -3), 'node "n1": revision must be >= 0'],
];

for (const [name, input, error] of mistakes) {
  test(`rejected with a clear message: ${name}`, (t) => {
    t.deepEqual(validateObject(input), { ok: false, error });
  });
}

test('stored objects need their revisions', (t) => {
  t.false(validateStoredObject(EXAMPLES.node).ok);
  t.true(validateStoredObject({ ...EXAMPLES.node, revision: 3, createdRevision: 1 }).ok);
});

test('object keys parse', (t) => {
  t.deepEqual(parseObjectKey('storage/p1'), { type: 'storage', id: 'p1' });
  t.is(parseObjectKey('storage/P1'), undefined);
  t.is(parseObjectKey('disk/p1'), undefined);
});
