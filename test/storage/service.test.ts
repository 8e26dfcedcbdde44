// The Storage service (the reconciling shell + the Storage reconciler) over
// its simulated driver, against a stand-in CDB, on virtual time: it builds a
// mirror and its shares, reports them ready as this node's meta, reports a
// vanished device as the pool degraded naming it (and the device failed, a
// Monitor finding), retries an action that failed, removes what is deleted,
// and answers where a share is.
import test, { type ExecutionContext } from 'ava';
import { fakeCdb, newFakeCdb } from '../support/fake-cdb.ts';
import { type ActorRef } from '../../runtime/actor/index.ts';
import { registerMsg, registry } from '../../runtime/registry/registry.ts';
import { CDB, type CdbObject, type CdbWatchEvent, type ObjectDef } from '../../actors/cdb/client.ts';
import { evaluateHealth } from '../../actors/monitor/health.ts';
import { locate, type ShareLocation, type StorageMsg } from '../../actors/storage/client.ts';
import { storageService } from '../../actors/storage/service.ts';
import { SimStorageDriver, SimStorageMachine } from '../../actors/storage/sim.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { makeSystem } from '../support/harness.ts';

const stored = (d: ObjectDef, rev = 1): CdbObject => ({ ...d, revision: rev, createdRevision: rev }) as CdbObject;
const loop = (id: string, node = 'n1'): ObjectDef => ({ type: 'storage', subtype: 'device', id, spec: { node, path: `/var/lib/acp/${id}.img`, sizeBytes: 1 << 30, loop: true } });
const mirror = (id: string, devices: string[]): ObjectDef => ({ type: 'storage', subtype: 'pool', id, spec: { devices, redundancy: 'mirror' } });
const share = (id: string, pool: string, protocol: 'local' | 'nfs' = 'local'): ObjectDef => ({ type: 'storage', subtype: 'share', id, spec: { pool, protocol, path: `/${id}`, quotaBytes: 1 << 20 } });

function start(t: ExecutionContext, objects: ObjectDef[], machine = new SimStorageMachine()) {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const db = newFakeCdb(objects.map((o) => stored(o)));
  const reg = system.spawn(registry(), 'registry');
  reg.tell(registerMsg(CDB, system.spawn(fakeCdb(db), 'cdb')));
  const driver = new SimStorageDriver({ machine });
  const svc = system.spawn(storageService({ node: 'n1', registry: reg, driver, statsMs: 1000, resyncMs: 2000 }), 'storage') as ActorRef<StorageMsg>;
  const push = (changes: unknown[]) => {
    for (const [id, sink] of db.sinks) sink.tell({ type: 'cdb-watch', id, revision: 2, changes } as CdbWatchEvent);
  };
  const advance = async (ms: number) => {
    await settle(40);
    for (let left = ms; left > 0; left -= Math.min(left, 10)) {
      await env.advance(Math.min(left, 10));
      await settle(20);
    }
  };
  const meta = (key: string) => db.reports.filter((r) => r.key === key && r.meta).at(-1)?.meta;
  return { db, machine, svc, push, advance, meta };
}

test('builds a mirror with its shares, reports every object ready as this node, then stays put', async (t) => {
  const { advance, meta, machine, db } = start(t, [loop('d1'), loop('d2'), loop('x', 'n2'), mirror('p1', ['d1', 'd2']), share('s1', 'p1', 'nfs')]);
  await advance(200);
  for (const k of ['storage/d1', 'storage/d2', 'storage/p1', 'storage/s1']) t.like(meta(k), { state: 'ready', updatedBy: { node: 'n1', service: 'storage' } }, k);
  t.is(meta('storage/x'), undefined, "another node's device is not reported here");
  t.like(meta('storage/p1')!.info, { fs: 'btrfs', profile: 'raid1' });
  t.like(meta('storage/s1')!.info, { protocol: 'nfs', export: '/s1' });
  const applied = machine.applied.length;
  await advance(10_000);
  t.is(machine.applied.length, applied, 'idempotent: resyncs act on nothing');
  t.true(db.reports.some((r) => r.key === 'storage/p1' && r.stats?.sizeBytes === 1 << 30), 'pool stats reported');
  t.deepEqual(machine.check(), []);
});

test('a device that vanishes: the pool is degraded naming it, the device failed, and the Monitor finds both', async (t) => {
  const { advance, meta, machine, db } = start(t, [loop('d1'), loop('d2'), mirror('p1', ['d1', 'd2'])]);
  await advance(200);
  t.like(meta('storage/p1'), { state: 'ready' });
  machine.vanish('d2');
  await advance(2500); // the next resync sees it
  t.like(meta('storage/p1'), { state: 'degraded', reason: 'pool p1: device d2 (/dev/loop1) missing' });
  t.like(meta('storage/d2'), { state: 'failed', reason: 'device d2 failed: its loop device /dev/loop1 is gone and its backing file /var/lib/acp/d2.img was removed' });
  const views = new Map(
    ['storage/p1', 'storage/d2'].map((k) => [k, { key: k, meta: meta(k)!, metaFrom: 'n1', state: meta(k)!.state, stale: false, lastSeen: 1, stats: {}, nodes: [] }]),
  );
  const health = evaluateHealth({ objects: db.objects, views });
  t.is(health.findings.find((f) => f.id === 'pool-degraded:storage/p1')?.reason, 'pool p1 is degraded: pool p1: device d2 (/dev/loop1) missing (n1)');
  t.true(health.findings.some((f) => f.id === 'pool-degraded:storage/p1'));
  t.true(health.findings.some((f) => f.id === 'device-failed:storage/d2'));
  // The disk is replaced: everything is ready again.
  machine.replace('d2');
  await advance(2500);
  t.like(meta('storage/p1'), { state: 'ready' });
  t.like(meta('storage/d2'), { state: 'ready' });
});

test('an action that fails is reported with its reason and retried until it works', async (t) => {
  const machine = new SimStorageMachine();
  machine.failNext('create-pool', 2, 'mkfs.btrfs: device busy');
  const { advance, meta } = start(t, [loop('d1'), loop('d2'), mirror('p1', ['d1', 'd2'])], machine);
  await advance(30);
  t.like(meta('storage/p1'), { state: 'failed', reason: 'create-pool: mkfs.btrfs: device busy' });
  await advance(3000);
  t.like(meta('storage/p1'), { state: 'ready' });
  t.is(machine.created.pool, 1);
});

test('deleting a share and its pool removes them top-down; locate answers where a share is', async (t) => {
  const { advance, meta, machine, push, svc, db } = start(t, [loop('d1'), loop('d2'), mirror('p1', ['d1', 'd2']), share('s1', 'p1')]);
  await advance(200);
  const where = await svc.ask<ShareLocation>((replyTo) => locate('s1', replyTo), { timeoutMs: 1000 });
  t.deepEqual(where, { ok: true, share: 's1', protocol: 'local', dir: '/sim/storage/pools/p1/shares/s1' });
  const none = await svc.ask<ShareLocation>((replyTo) => locate('nope', replyTo), { timeoutMs: 1000 });
  t.like(none, { ok: false, code: 'not-found' });
  // The local replica says they are gone; the CDB (a linearizable read) still has the pool: only
  // the share goes. Then the pool is gone there too.
  db.objects = db.objects.filter((o) => o.id !== 's1');
  push([
    { op: 'delete', key: 'storage/s1', revision: 3 },
    { op: 'delete', key: 'storage/p1', revision: 4 },
  ]);
  await advance(200);
  t.deepEqual([...machine.shares.keys()], []);
  t.deepEqual([...machine.pools.keys()], ['p1'], 'not removed on the word of a replica that may lag');
  t.like(meta('storage/p1'), { state: 'removing', reason: 'pool p1: no longer defined here; unmounting and erasing it; waiting for the CDB to confirm storage/p1 was deleted' });
  db.objects = db.objects.filter((o) => o.id !== 'p1');
  await advance(2500);
  t.deepEqual([...machine.shares.keys(), ...machine.pools.keys()], []);
  t.is(machine.devices.size, 2, 'the devices stay: they are still desired');
  t.like(meta('storage/p1'), { state: 'removing' });
});
