// Lifecycle signals beyond Terminated: PreRestart (the crashed incarnation
// cleans up before its successor starts) and ChildFailed (a parent watching a
// child that failed), the same in the main thread and in workers.
import test from 'ava';
import { receive, supervisor, type ActorRef, type ActorSystem, type Signal } from '../../runtime/actor/index.ts';
import { GUARD_MS, deferred, makeSystem, spawnProbe } from '../support/harness.ts';
import { lifecycle, nest, type LifecycleMsg, type LineMsg } from '../support/behaviors.ts';

/** A main-thread actor collecting lines; `waitFor(n)` resolves once n lines are in. */
function lineLog(system: ActorSystem) {
  const lines: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const ref = system.spawn(
    receive<LineMsg>((_ctx, m) => {
      lines.push(m.line);
      for (const w of [...waiters]) if (lines.length >= w.n) w.resolve();
    }),
    'log',
  );
  return {
    ref,
    lines,
    waitFor: (n: number): Promise<string[]> => {
      if (lines.length >= n) return Promise.resolve(lines);
      const d = deferred<void>();
      waiters.push({ n, resolve: () => d.resolve() });
      return d.promise.then(() => lines);
    },
  };
}

for (const where of ['main thread', 'worker'] as const) {
  test(`${where}: a restarted actor gets PreRestart with the error, and its successor starts after the cleanup`, async (t) => {
    const { system } = makeSystem(t);
    const log = lineLog(system);
    const sup = system.spawn(
      supervisor({ kind: 'one_for_one', intensity: 5, periodMs: 10_000 }, [
        { id: 'a', behavior: lifecycle, args: { log: log.ref, name: 'a' }, ...(where === 'worker' ? { placement: { worker: 'lc' } } : {}) },
      ]),
      'sup',
    );
    await log.waitFor(1);
    const a = system.refFor<LifecycleMsg>('/user/sup/a', where === 'worker' ? 'w:lc' : 'main');
    a.tell({ type: 'crash', message: 'boom 1' });
    t.deepEqual((await log.waitFor(4)).slice(0, 4), ['a start', 'a PreRestart boom 1', 'a cleanup done', 'a start']);
    t.is(await a.ask<string>((replyTo) => ({ type: 'ping', replyTo }), { timeoutMs: GUARD_MS }), 'a');
    // Stopping is not restarting: PostStop, no PreRestart.
    await system.stop(sup as ActorRef<never>);
    t.deepEqual((await log.waitFor(5)).slice(4), ['a PostStop']);
  });
}

test('a crashed actor that is not restarted gets no PreRestart', async (t) => {
  const { system } = makeSystem(t);
  const log = lineLog(system);
  const probe = spawnProbe(system);
  const x = system.spawn(lifecycle, 'x', { args: { log: log.ref, name: 'x' } }); // temporary: not restarted
  await log.waitFor(1);
  await probe.watch(x as ActorRef<never>);
  x.tell({ type: 'crash', message: 'bye' });
  t.is((await probe.terminated('/user/x'))?.message, 'bye');
  t.deepEqual(log.lines, ['x start']);
});

for (const where of ['main thread', 'worker'] as const) {
  test(`${where}: a parent watching a child that fails gets ChildFailed; any other watcher gets Terminated with the error`, async (t) => {
    const { system } = makeSystem(t);
    const log = lineLog(system);
    const probe = spawnProbe(system);
    const seen = deferred<Signal>();
    type ParentMsg = { type: 'child'; replyTo: import('../../runtime/actor/index.ts').ReplyTo<ActorRef<never>> };
    const parent = system.spawn(
      receive<ParentMsg>(
        (ctx, m) => {
          const c = ctx.spawn(lifecycle, 'kid', { args: { log: log.ref, name: 'kid' }, ...(where === 'worker' ? { placement: { worker: 'kids' } } : {}) });
          ctx.watch(c as ActorRef<never>);
          ctx.reply(m.replyTo, c as ActorRef<never>);
        },
        (_ctx, sig) => {
          if (sig.signal === 'ChildFailed' || sig.signal === 'Terminated') seen.resolve(sig);
        },
      ),
      'parent',
    );
    const kid = await parent.ask<ActorRef<never>>((replyTo) => ({ type: 'child', replyTo }), { timeoutMs: GUARD_MS });
    await log.waitFor(1);
    await probe.watch(kid);
    (kid as ActorRef<LifecycleMsg>).tell({ type: 'crash', message: 'kid failed' });
    const sig = await seen.promise;
    t.is(sig.signal, 'ChildFailed');
    t.is(sig.signal === 'ChildFailed' ? sig.error.message : '', 'kid failed');
    t.is(sig.signal === 'ChildFailed' ? sig.ref.path : '', '/user/parent/kid');
    t.is((await probe.terminated('/user/parent/kid'))?.message, 'kid failed');
  });
}

test('a watch on an actor whose worker dies together with its parent ends in Terminated, not silence', async (t) => {
  const { system } = makeSystem(t);
  const probe = spawnProbe(system);
  // The child lives on its parent's worker: nobody outside it can keep the watch.
  const parent = system.spawn(nest, 'nest', { placement: { worker: 'both' }, restart: 'permanent' });
  const kid = await parent.ask<ActorRef<never>>((replyTo) => ({ type: 'kid', replyTo }), { timeoutMs: GUARD_MS });
  t.is(kid.path, '/user/nest/kid');
  await probe.watch(kid);
  parent.tell({ type: 'exit', code: 9 });
  t.is((await probe.terminated('/user/nest/kid'))?.name, 'WorkerDiedError');
});
