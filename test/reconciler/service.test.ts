// The reconciling-service shell against a stand-in CDB and an in-memory
// driver, on virtual time: converges, is idempotent on an unchanged world,
// reports conditions and stats as meta, backs off and retries after a
// failure, does not retry a permanent failure until the object changes,
// puts back what vanished behind its back, removes what is no longer desired.
import test, { type ExecutionContext } from 'ava';
import { fakeCdb, newFakeCdb, type FakeCdb } from '../support/fake-cdb.ts';
import { type ActorRef } from '../../runtime/actor/index.ts';
import { registerMsg, registry } from '../../runtime/registry/registry.ts';
import { CDB, type CdbObject, type CdbWatchEvent, type Stats } from '../../actors/cdb/client.ts';
import { DriverError, type Action, type Capabilities, type Condition, type Desired, type Driver, type Plan } from '../../actors/reconciler/contract.ts';
import { reconcilingService, type ReconcilerMsg, type ReconcilerStatus } from '../../actors/reconciler/service.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { makeSystem } from '../support/harness.ts';

// ---- a stand-in CDB: lists what it holds, records reports, lets the test push changes -------

function bridge(id: string, nodes: string[], revision = 1): CdbObject {
  return { type: 'network', subtype: 'vlan-bridge', id, spec: { vlan: 10, bridge: `br-${id}`, nodes }, revision, createdRevision: 1 } as CdbObject;
}

// ---- a toy service: one "interface" per network that lists this node -----------------------

type Act = { kind: 'create' | 'remove'; key: string; name: string };

function reconcile(node: string, desired: Desired, observed: Set<string>, caps: Capabilities): Plan<Act> {
  const actions: Act[] = [];
  const status = new Map<string, Condition>();
  const want = new Set<string>();
  for (const [key, o] of desired) {
    if (o.type !== 'network' || !(o.spec as { nodes: string[] }).nodes.includes(node)) continue;
    if (!caps.bridge?.ok) {
      status.set(key, { state: 'unsupported', reason: 'no bridges here' });
      continue;
    }
    const name = (o.spec as { bridge: string }).bridge;
    want.add(name);
    if (observed.has(name)) status.set(key, { state: 'ready', info: { ifname: name } });
    else {
      actions.push({ kind: 'create', key, name });
      status.set(key, { state: 'pending', reason: `creating ${name}` });
    }
  }
  for (const name of [...observed].sort()) if (!want.has(name)) actions.push({ kind: 'remove', key: `network/${name.slice(3)}`, name });
  return { actions, status };
}

class MemDriver implements Driver<Set<string>, Act> {
  ifaces = new Set<string>();
  applied: string[] = [];
  failNext: { times: number; permanent: boolean } | undefined;
  caps: Capabilities = { bridge: { ok: true } };
  async capabilities() {
    return this.caps;
  }
  async observe() {
    return new Set(this.ifaces);
  }
  async apply(a: Act) {
    if (this.failNext && this.failNext.times > 0) {
      this.failNext.times--;
      throw new DriverError('device busy', this.failNext.permanent);
    }
    this.applied.push(`${a.kind} ${a.name}`);
    if (a.kind === 'create') this.ifaces.add(a.name);
    else this.ifaces.delete(a.name);
  }
  async stats() {
    return new Map([...this.ifaces].map((n) => [`network/${n.slice(3)}`, { rxBytes: 1 }] as [string, Stats]));
  }
}

function start(t: ExecutionContext, objects: CdbObject[], driver = new MemDriver()) {
  const env = new ManualEnv();
  const { system, logs } = makeSystem(t, { env });
  const db = newFakeCdb(objects);
  const reg = system.spawn(registry(), 'registry');
  const cdb = system.spawn(fakeCdb(db), 'cdb');
  reg.tell(registerMsg(CDB, cdb));
  const svc = system.spawn(
    reconcilingService<Set<string>, Act>({ node: 'n1', service: 'network', types: ['network'], registry: reg, driver, reconcile, statsMs: 1000, resyncMs: 5000, retryMs: 100 }),
    'network',
  );
  const status = () => (svc as ActorRef<ReconcilerMsg>).ask<ReconcilerStatus>((replyTo) => ({ type: 'reconciler-status', replyTo }), { timeoutMs: 1000 });
  const push = (changes: unknown[]) => {
    for (const [id, sink] of db.sinks) sink.tell({ type: 'cdb-watch', id, revision: 2, changes } as CdbWatchEvent);
  };
  return { env: stepper(env), db, driver, status, push, logs };
}

/**
 * Virtual time that also lets each driver call's promise chain finish: a pass is several
 * pipeToSelf round trips, more than one settle() lets through.
 */
function stepper(env: ManualEnv) {
  return {
    async advance(ms: number) {
      await settle(40);
      for (let left = ms; left > 0; left -= Math.min(left, 10)) {
        await env.advance(Math.min(left, 10));
        await settle(20);
      }
    },
  };
}

const lastMeta = (db: FakeCdb, key: string) => db.reports.filter((r) => r.key === key && r.meta).at(-1)?.meta;

test('converges: creates what is desired on this node, reports ready, then does nothing more', async (t) => {
  const { env, db, driver, status } = start(t, [bridge('a', ['n1']), bridge('b', ['n2'])]);
  await env.advance(10);
  t.deepEqual(driver.applied, ['create br-a']);
  t.like(lastMeta(db, 'network/a'), { state: 'ready', updatedBy: { node: 'n1', service: 'network' }, info: { ifname: 'br-a' } });
  t.is(lastMeta(db, 'network/b'), undefined, 'an object for another node is not this node’s to report');
  const s = await status();
  t.true(s.converged);
  // Idempotent: resyncs re-observe and re-publish, but act on nothing.
  await env.advance(20_000);
  t.deepEqual(driver.applied, ['create br-a']);
  t.true(db.reports.filter((r) => r.key === 'network/a' && r.meta?.state === 'ready').length >= 4, 'the condition is refreshed every resync so it never goes stale');
});

test('stats are sampled every statsMs and reported per object', async (t) => {
  const { env, db } = start(t, [bridge('a', ['n1'])]);
  await env.advance(3000);
  t.true(db.reports.filter((r) => r.key === 'network/a' && r.stats?.rxBytes === 1).length >= 2);
});

test('a failed action marks the object failed with the reason, backs off, and retries until it works', async (t) => {
  const driver = new MemDriver();
  driver.failNext = { times: 2, permanent: false };
  const { env, db, status } = start(t, [bridge('a', ['n1'])], driver);
  await env.advance(10);
  t.like(lastMeta(db, 'network/a'), { state: 'failed', reason: 'create: device busy' });
  t.deepEqual(driver.applied, []);
  await env.advance(100); // first retry: fails again
  t.deepEqual(driver.applied, []);
  t.is((await status()).failed, 2);
  await env.advance(200); // second retry (doubled back-off): works
  t.deepEqual(driver.applied, ['create br-a']);
  t.like(lastMeta(db, 'network/a'), { state: 'ready' });
});

test('a permanent failure is not retried until the object changes', async (t) => {
  const driver = new MemDriver();
  driver.failNext = { times: 1, permanent: true };
  const { env, db, push } = start(t, [bridge('a', ['n1'])], driver);
  await env.advance(20_000);
  t.deepEqual(driver.applied, []);
  t.like(lastMeta(db, 'network/a'), { state: 'failed', reason: 'create: device busy' });
  const changed = bridge('a', ['n1'], 2);
  push([{ revision: 2, op: 'put', key: 'network/a', type: 'network', subtype: 'vlan-bridge', id: 'a', created: false, object: changed }]);
  await env.advance(10);
  t.deepEqual(driver.applied, ['create br-a']);
  t.like(lastMeta(db, 'network/a'), { state: 'ready' });
});

test('level-triggered: a resource removed behind its back is put back at the next resync', async (t) => {
  const { env, driver } = start(t, [bridge('a', ['n1'])]);
  await env.advance(10);
  driver.ifaces.delete('br-a');
  await env.advance(5000);
  t.deepEqual(driver.applied, ['create br-a', 'create br-a']);
});

test('a deleted object’s resources are removed', async (t) => {
  const { env, driver, push } = start(t, [bridge('a', ['n1'])]);
  await env.advance(10);
  push([{ revision: 2, op: 'delete', key: 'network/a', type: 'network', subtype: 'vlan-bridge', id: 'a', prevRevision: 1 }]);
  await env.advance(10);
  t.deepEqual(driver.applied, ['create br-a', 'remove br-a']);
  t.is(driver.ifaces.size, 0);
});

test('what the node cannot do is unsupported with the reason, and nothing is attempted', async (t) => {
  const driver = new MemDriver();
  driver.caps = { bridge: { ok: false, reason: 'no bridge module' } };
  const { env, db } = start(t, [bridge('a', ['n1'])], driver);
  await env.advance(10);
  t.deepEqual(driver.applied, []);
  t.like(lastMeta(db, 'network/a'), { state: 'unsupported', reason: 'no bridges here' });
});

test('nothing happens before the CDB is found: the desired state must be complete before acting', async (t) => {
  const manual = new ManualEnv();
  const env = stepper(manual);
  const { system } = makeSystem(t, { env: manual });
  const reg = system.spawn(registry(), 'registry');
  const driver = new MemDriver();
  driver.ifaces.add('br-x'); // owned from an earlier life: must not be removed on an empty, unknown desired state
  system.spawn(reconcilingService<Set<string>, Act>({ node: 'n1', service: 'network', types: ['network'], registry: reg, driver, reconcile, statsMs: 1000, resyncMs: 5000 }), 'network');
  await env.advance(20_000);
  t.deepEqual(driver.applied, []);
  t.true(driver.ifaces.has('br-x'));
});

test('a plan that says when to look again gets a pass then, without waiting for the resync', async (t) => {
  const env = new ManualEnv();
  const step = stepper(env);
  const { system } = makeSystem(t, { env });
  const db = newFakeCdb([bridge('a', ['n1'])]);
  const reg = system.spawn(registry(), 'registry');
  reg.tell(registerMsg(CDB, system.spawn(fakeCdb(db), 'cdb')));
  const driver = new MemDriver();
  const passesAt: number[] = [];
  // Wants br-a only from t0 + 300 ms on, and says so.
  const t0 = env.now();
  const later = (node: string, desired: Desired, observed: Set<string>, caps: Capabilities): Plan<Act> => {
    passesAt.push(env.now() - t0);
    if (env.now() - t0 >= 300) return reconcile(node, desired, observed, caps);
    return { actions: [], status: new Map([['network/a', { state: 'pending', reason: 'not yet' }]]), wakeInMs: 300 - (env.now() - t0) };
  };
  system.spawn(reconcilingService<Set<string>, Act>({ node: 'n1', service: 'network', types: ['network'], registry: reg, driver, reconcile: later, statsMs: 10_000, resyncMs: 5000 }), 'network');
  await step.advance(400);
  t.deepEqual(driver.applied, ['create br-a'], 'created at the wake-up, long before the 5 s resync');
  t.true(passesAt.some((at) => at >= 300 && at < 400));
});
