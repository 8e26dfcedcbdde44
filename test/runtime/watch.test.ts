// Watch / unwatch → Terminated, in-thread and across workers (also on worker death).
import test from 'ava';
import { receive, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { deferred, makeSystem, spawnProbe, GUARD_MS } from '../support/harness.ts';
import { counter, watcher, type CounterMsg, type WatcherMsg } from '../support/behaviors.ts';

const idle: Behavior<CounterMsg> = receive<CounterMsg>((_c, m) => {
  if (m.type === 'boom') throw new Error(m.message);
});

test('in-thread: Terminated when a watched actor is stopped by its parent (and its tombstone is gone)', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const probe = spawnProbe(system);
  const x = system.spawn(idle, 'x');
  await probe.watch(x as ActorRef<never>);
  await system.stop(x as ActorRef<never>);
  t.is(await probe.terminated('/user/x'), undefined);
  t.false((await system.stats()).some((s) => s.path === '/user/x'), 'no stopped cell left behind');
  // The name is free again.
  t.notThrows(() => system.spawn(idle, 'x'));
});

test('in-thread: Terminated carries the error when a watched (temporary) actor crashes', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const probe = spawnProbe(system);
  const x = system.spawn(idle, 'x');
  await probe.watch(x as ActorRef<never>);
  x.tell({ type: 'boom', message: 'bad' });
  t.is((await probe.terminated('/user/x'))?.message, 'bad');
});

test('in-thread: watching an actor that does not exist yields Terminated at once', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const probe = spawnProbe(system);
  await probe.watch(system.refFor<never>('/user/ghost'));
  t.is(await probe.terminated('/user/ghost'), undefined);
});

test('in-thread: after unwatch no Terminated arrives', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const probe = spawnProbe(system);
  const x = system.spawn(idle, 'x');
  const y = system.spawn(idle, 'y');
  await probe.watch(x as ActorRef<never>);
  await probe.watch(y as ActorRef<never>);
  await probe.unwatch(x as ActorRef<never>);
  await system.stop(x as ActorRef<never>);
  await system.stop(y as ActorRef<never>);
  await probe.terminated('/user/y');
  await settle();
  t.deepEqual(probe.all, ['/user/y']);
});

test('in-thread: Terminated waits for a pending async handler instead of running beside it', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const log: string[] = [];
  const gate = deferred();
  type W = { type: 'watch'; ref: ActorRef<never> } | { type: 'block' };
  const w = system.spawn(
    receive<W>(
      (ctx, m) => {
        if (m.type === 'watch') {
          ctx.watch(m.ref);
          return;
        }
        log.push('block start');
        return gate.promise.then(() => {
          log.push('block end');
        });
      },
      (_c, sig) => {
        if (sig.signal === 'Terminated') log.push('terminated');
      },
    ),
    'w',
  );
  const x = system.spawn(idle, 'x');
  w.tell({ type: 'watch', ref: x as ActorRef<never> });
  w.tell({ type: 'block' });
  await settle();
  await system.stop(x as ActorRef<never>);
  await settle();
  t.deepEqual(log, ['block start'], 'the signal is queued while the handler is pending');
  gate.resolve();
  await settle();
  t.deepEqual(log, ['block start', 'block end', 'terminated']);
});

const watchFrom = (w: ActorRef<WatcherMsg>, target: ActorRef<never>) =>
  w.ask<{ path: string; error?: string }>((replyTo) => ({ type: 'watch', target, replyTo }), { timeoutMs: GUARD_MS });

test('across workers: a watcher on one worker hears Terminated for an actor on another, on stop and on worker death', async (t) => {
  const { system } = makeSystem(t);
  const w = system.spawn(watcher, 'watcher', { placement: { worker: 'wa' } });
  const a = system.spawn(counter, 'a', { placement: { worker: 'wb' } });
  const b = system.spawn(counter, 'b', { placement: { worker: 'wc' } });
  // Everything is up (and the watch registered: asks are answered in order after it).
  for (const r of [a, b]) t.is(await r.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 0);
  const onStop = watchFrom(w, a as ActorRef<never>);
  const onDeath = watchFrom(w, b as ActorRef<never>);
  t.true(await w.ask<boolean>((replyTo) => ({ type: 'ready', replyTo }), { timeoutMs: GUARD_MS }));
  await system.stop(a as ActorRef<never>);
  t.deepEqual(await onStop, { path: '/user/a' });
  b.tell({ type: 'exit', code: 9 });
  t.deepEqual(await onDeath, { path: '/user/b', error: 'WorkerDiedError' });
});

test('main thread watching a worker actor', async (t) => {
  const { system } = makeSystem(t);
  const probe = spawnProbe(system);
  const a = system.spawn(counter, 'a', { placement: { worker: 'wd' } });
  await probe.watch(a as ActorRef<never>);
  a.tell({ type: 'boom', message: 'far away' });
  const err = await probe.terminated('/user/a');
  t.is(err?.message, 'far away');
});
