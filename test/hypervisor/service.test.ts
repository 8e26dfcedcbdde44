// The Hypervisor service (the reconciler shell + the pure core) over the simulated driver, on
// virtual time, against a stand-in CDB: a system starts and is reported ready; a crash is
// restarted after its back-off; a node restart adopts what runs (never a second copy); pause is
// a typed request; a system without a kind is unsupported.
import test, { type ExecutionContext } from 'ava';
import { fakeCdb, newFakeCdb, type FakeCdb } from '../support/fake-cdb.ts';
import { type ActorRef } from '../../runtime/actor/index.ts';
import { registerMsg, registry } from '../../runtime/registry/registry.ts';
import { CDB, type CdbObject } from '../../actors/cdb/client.ts';
import type { SystemSpec } from '../../actors/cdb/schema.ts';
import { HYPERVISOR, type HypervisorMsg, type HypervisorReply } from '../../actors/hypervisor/client.ts';
import { hypervisorService } from '../../actors/hypervisor/service.ts';
import { SimHypervisor } from '../../actors/hypervisor/sim.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { makeSystem } from '../support/harness.ts';

const sys = (id: string, spec: Partial<SystemSpec>): CdbObject => ({ type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 64, node: 'n1', kind: 'process', process: { command: 'sleep', args: ['1000'] }, ...spec }, revision: 1, createdRevision: 1 }) as CdbObject;

function start(t: ExecutionContext, objects: CdbObject[]) {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const db = newFakeCdb(objects);
  const reg = system.spawn(registry(), 'registry');
  reg.tell(registerMsg(CDB, system.spawn(fakeCdb(db), 'cdb')));
  const driver = new SimHypervisor({ node: 'n1', now: () => env.now() });
  let n = 0;
  const spawnService = () => system.spawn(hypervisorService({ node: 'n1', registry: reg, driver, statsMs: 1000, resyncMs: 500 }), `hypervisor-${n++}`) as ActorRef<HypervisorMsg>;
  const advance = async (ms: number) => {
    await settle(40);
    for (let left = ms; left > 0; left -= Math.min(left, 10)) {
      await env.advance(Math.min(left, 10));
      await settle(20);
    }
  };
  return { env, db, driver, spawnService, advance, system };
}

const lastMeta = (db: FakeCdb, key: string) => db.reports.filter((r) => r.key === key && r.meta).at(-1)?.meta;

test('a system starts, is reported ready with its run facts, and its stats are reported', async (t) => {
  const { db, driver, spawnService, advance } = start(t, [sys('a', {}), sys('b', { node: 'n2' })]);
  spawnService();
  await advance(20);
  t.deepEqual(driver.applied, ['start a']);
  await advance(600);
  t.like(lastMeta(db, 'system/a'), { state: 'ready', updatedBy: { node: 'n1', service: 'hypervisor' }, info: { phase: 'running', kind: 'process', run: 1, restarts: 0 } });
  t.is(lastMeta(db, 'system/b'), undefined, 'placed on another node');
  await advance(1500);
  t.true(db.reports.some((r) => r.key === 'system/a' && r.stats?.memoryLimitBytes === 64 * 1024 * 1024));
  t.deepEqual(driver.applied, ['start a'], 'converged: nothing more');
});

test('a crash is restarted after its back-off, and the back-off is visible in meta meanwhile', async (t) => {
  const { db, driver, spawnService, advance } = start(t, [sys('a', { backoff: { initialMs: 2000 } })]);
  spawnService();
  await advance(20);
  driver.exit('a', { code: 3 });
  await advance(600);
  t.like(lastMeta(db, 'system/a'), { state: 'pending', info: { phase: 'backoff', exitCode: 3 } });
  t.regex(lastMeta(db, 'system/a')!.reason!, /exited with code 3; restarting in 2 s/);
  t.deepEqual(driver.applied, ['start a']);
  await advance(2000);
  t.deepEqual(driver.applied, ['start a', 'start a']);
  await advance(600);
  t.like(lastMeta(db, 'system/a'), { state: 'ready', info: { run: 2, restarts: 1 } });
});

test('a node restart adopts the running workloads: nothing is started twice', async (t) => {
  const { driver, spawnService, advance, system } = start(t, [sys('a', {}), sys('b', { kind: 'vm', process: undefined, vm: { kernel: '/k' } })]);
  const first = spawnService();
  await advance(20);
  t.deepEqual(driver.applied.sort(), ['start a', 'start b']);
  // The node process dies: its service goes, the workloads stay; a new one comes up.
  await system.stop(first as never);
  driver.nodeRestart();
  spawnService();
  await advance(600);
  t.deepEqual(driver.applied.slice(2).sort(), ['adopt a', 'adopt b']);
  t.deepEqual([...driver.starts.values()], [1, 1]);
  t.deepEqual([...driver.maxConcurrent.values()], [1, 1]);
});

test('pause is a typed request; the paused system is degraded until resumed', async (t) => {
  const { db, spawnService, advance } = start(t, [sys('a', {})]);
  const hv = spawnService();
  await advance(20);
  const reply = hv.ask<HypervisorReply>((replyTo) => ({ type: 'hv-pause', id: 'a', paused: true, replyTo }), { timeoutMs: 1000 });
  await advance(20);
  t.like(await reply, { ok: true, paused: true });
  await advance(20);
  t.like(lastMeta(db, 'system/a'), { state: 'degraded', reason: 'paused' });
  const bad = hv.ask<HypervisorReply>((replyTo) => ({ type: 'hv-pause', id: 'nope', paused: true, replyTo }), { timeoutMs: 1000 });
  await advance(20);
  t.like(await bad, { ok: false, code: 'failed' });
  t.is(HYPERVISOR.id, 'hypervisor');
});

test('a system without a kind is unsupported: a record only', async (t) => {
  const { db, driver, spawnService, advance } = start(t, [sys('r', { kind: undefined, process: undefined })]);
  spawnService();
  await advance(20);
  t.deepEqual(driver.applied, []);
  t.like(lastMeta(db, 'system/r'), { state: 'unsupported' });
});
