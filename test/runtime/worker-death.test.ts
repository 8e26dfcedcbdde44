// A worker dying under its actors (process.exit from actor code, out of
// memory under resourceLimits): every actor it hosted is handled as crashed.
import test from 'ava';
import { WorkerDiedError, supervisor, type ActorRef, type ActorSystem } from '../../runtime/actor/index.ts';
import { GUARD_MS, Recorder, is, makeSystem, rejectionOf, spawnProbe } from '../support/harness.ts';
import { counter, type CounterMsg } from '../support/behaviors.ts';

const get = (r: ActorRef<CounterMsg>) => r.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS });
const ref = (s: ActorSystem, p: string) => s.refFor<CounterMsg>(p, 'w:doomed');

test('process.exit in actor code: asks reject with WorkerDiedError, all its actors restart once on a fresh worker', async (t) => {
  const { system, logs } = makeSystem(t);
  const rec = new Recorder(system);
  const probe = spawnProbe(system);
  const sup = system.spawn(
    supervisor({ kind: 'one_for_all', intensity: 3, periodMs: 10_000 }, [
      { id: 'a', behavior: counter, args: { start: 1 }, placement: { worker: 'doomed' } },
      { id: 'b', behavior: counter, args: { start: 2 }, placement: { worker: 'doomed' } },
    ]),
    'sup',
  );
  const a = ref(system, '/user/sup/a');
  const b = ref(system, '/user/sup/b');
  a.tell({ type: 'inc', by: 10 });
  t.is(await get(a), 11);
  t.is(await get(b), 2);
  await probe.watch(a as ActorRef<never>);
  const pending = a.ask<number>((replyTo) => ({ type: 'never', replyTo }), { timeoutMs: 60_000 });
  await rec.waitFor(is('received', '/user/sup/a', (e) => e.msgType === 'never'));
  b.tell({ type: 'exit', code: 3 });

  const e = await rejectionOf(pending);
  t.true(e instanceof WorkerDiedError);
  t.like(e, { name: 'WorkerDiedError', worker: 'doomed', exitCode: 3 });
  t.regex(e.message, /^worker doomed died: exited with code 3$/);

  await rec.waitFor(is('restarted', '/user/sup/a'));
  await rec.waitFor(is('restarted', '/user/sup/b'));
  // Restarted actors answer again, with fresh state, on a new worker of the same name.
  t.is(await get(a), 1);
  t.is(await get(b), 2);
  // The group restart did not wait out a shutdown timeout for the sibling that died with its worker:
  // that would have killed it, with a warning, instead of taking the death as its stop.
  t.deepEqual(logs.filter((l) => /did not stop in time/.test(l.msg)), [], 'no stop timeout waited out for the dead sibling');
  t.deepEqual(rec.of('stopped').filter((x) => x.reason === 'killed'), [], 'nothing killed after a shutdown timeout');
  // Each restarted exactly once (the death is reported for both; a group restart covers both).
  t.deepEqual(rec.of('restarted').map((x) => `${x.path}#${x.incarnation}`).sort(), ['/user/sup/a#1', '/user/sup/b#1']);
  t.deepEqual(system.workers(), ['doomed']);
  t.truthy(rec.events.find(is('worker-died', 'w:doomed')));
  t.truthy(logs.find((l) => l.level === 'warn' && /worker doomed died/.test(l.msg)));
  // As for a crash in any thread, a restart is not an end: no Terminated, and
  // the watch (kept by the parent while the worker was gone) holds on the new incarnation.
  t.false(probe.hasTerminated('/user/sup/a'));
  await system.stop(sup as ActorRef<never>);
  t.is(await probe.terminated('/user/sup/a'), undefined);
});

test('out of memory under resourceLimits: the asker gets WorkerDiedError, the permanent actor comes back', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  const c = system.spawn(counter, 'c', {
    placement: { worker: 'small', resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } },
    restart: 'permanent',
    args: { start: 5 },
  });
  t.is(await get(c), 5);
  const e = await rejectionOf(c.ask<number>((replyTo) => ({ type: 'hog', replyTo }) as never, { timeoutMs: 60_000 }));
  t.is(e.name, 'WorkerDiedError');
  t.regex(e.message, /out of memory/);
  await rec.waitFor(is('restarted', '/user/c'));
  t.is(await get(c), 5);
});

test('a temporary actor on a dead worker is gone; later messages fail without resurrecting the worker', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  const probe = spawnProbe(system);
  const c = system.spawn(counter, 'temp', { placement: { worker: 'once' } });
  t.is(await get(c), 0);
  await probe.watch(c as ActorRef<never>);
  c.tell({ type: 'exit', code: 1 });
  t.is((await probe.terminated('/user/temp'))?.name, 'WorkerDiedError');
  t.deepEqual(system.workers(), []);
  c.tell({ type: 'inc' });
  const e = await rejectionOf(get(c));
  t.is(e.name, 'WorkerDiedError');
  await rec.count(is('dead-letter', '/user/temp'), 2, 'dead letters');
  t.deepEqual(system.workers(), [], 'the dead worker was not re-created by messages addressed to it');
  t.deepEqual(rec.of('restarted'), []);
});

test('a worker placement that the module cannot provide is a spawn crash, not a hang', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  const probe = spawnProbe(system);
  const bogus = { ...counter, name: 'doesNotExist' };
  const r = system.spawn(bogus, 'bogus', { placement: { worker: 'x' } });
  await probe.watch(r as ActorRef<never>);
  const err = await probe.terminated('/user/bogus');
  t.is(err?.name, 'SpawnError');
  t.regex(err!.message, /no behaviour exported as "doesNotExist"/);
  t.truthy(rec.events.find(is('crashed', '/user/bogus')));
});
