// Ordered shutdown: reverse start order, per-child shutdown timeout then kill,
// and a clean end of every worker thread.
import test from 'ava';
import { ActorSystem, receive, setup, supervisor, type Behavior } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { GUARD_MS, Recorder, deferred, is, makeSystem } from '../support/harness.ts';
import { counter } from '../support/behaviors.ts';
import { waitFor } from '../support/wait.ts';

/** An actor that records its PostStop in `log`; `postStop` may return a promise. */
function logged(name: string, log: string[], postStop?: () => Promise<void>): Behavior<string> {
  return receive<string>(
    () => undefined,
    (_ctx, sig) => {
      if (sig.signal !== 'PostStop') return;
      log.push(name);
      return postStop?.();
    },
  );
}

test('children stop in reverse start order, depth first, before their parent', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const log: string[] = [];
  const sup = (name: string, kids: string[]) =>
    setup<string>((ctx) => {
      for (const k of kids) ctx.spawn(logged(k, log), k);
      return logged(name, log);
    });
  const top = system.spawn(
    setup<string>((ctx) => {
      ctx.spawn(sup('s1', ['a', 'b']), 's1');
      ctx.spawn(sup('s2', ['c', 'd']), 's2');
      ctx.spawn(logged('e', log), 'e');
      return logged('top', log);
    }),
    'top',
  );
  await system.stop(top);
  t.deepEqual(log, ['e', 'd', 'c', 's2', 'b', 'a', 's1', 'top']);
});

test('system.shutdown stops top-level actors newest first and awaits async PostStop', async (t) => {
  const env = new ManualEnv();
  const system = new ActorSystem({ env, log: () => {} });
  t.teardown(() => system.shutdown());
  const log: string[] = [];
  const gate = deferred();
  system.spawn(logged('first', log), 'first');
  system.spawn(
    logged('second', log, async () => {
      await gate.promise;
      log.push('second done');
    }),
    'second',
  );
  let finished = false;
  const done = system.shutdown().then(() => (finished = true));
  await settle();
  t.deepEqual(log, ['second']);
  t.false(finished, 'waits for the async PostStop');
  gate.resolve();
  await done;
  t.deepEqual(log, ['second', 'second done', 'first']);
});

test('a child that does not stop within its shutdownMs is killed, and the shutdown goes on', async (t) => {
  const env = new ManualEnv();
  const { system, logs } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const log: string[] = [];
  const sup = system.spawn(
    supervisor({ kind: 'one_for_one', intensity: 3, periodMs: 1000 }, [
      { id: 'fine', behavior: logged('fine', log) },
      { id: 'stuck', behavior: logged('stuck', log, () => new Promise<void>(() => {})), shutdownMs: 1000 },
    ]),
    'sup',
  );
  let stopped = false;
  const stopping = system.stop(sup as never).then(() => (stopped = true));
  await env.advance(999);
  t.deepEqual(log, ['stuck'], 'stuck PostStop started; fine not yet stopped');
  t.deepEqual(rec.of('stopped'), []);
  t.false(stopped);
  await env.advance(1);
  await stopping;
  t.deepEqual(log, ['stuck', 'fine']);
  t.deepEqual(
    rec.of('stopped').map((e) => `${e.path} ${e.reason}`),
    ['/user/sup/stuck killed', '/user/sup/fine parent stopped by parent', '/user/sup stopped by parent'],
  );
  t.truthy(logs.find((l) => l.level === 'warn' && /did not stop in time/.test(l.msg) && (l.fields as { child: string }).child === '/user/sup/stuck'));
});

test.serial('after shutdown no worker remains and every worker thread has exited', async (t) => {
  const system = new ActorSystem({ log: () => {} });
  t.teardown(() => system.shutdown());
  const a = system.spawn(counter, 'a', { placement: { worker: 'w1' }, args: { start: 1 } });
  const b = system.spawn(counter, 'b', { placement: { worker: 'w2' }, args: { start: 2 } });
  t.is(await a.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 1);
  t.is(await b.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 2);
  t.deepEqual(system.workers().sort(), ['w1', 'w2']);
  // The Worker objects are private; observe their end through the process's active handles
  // (each live worker holds a MessagePort here). That this ava process exits by itself proves it too.
  const workerHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
  t.true(workerHandles() > 0);
  await system.shutdown();
  t.deepEqual(system.workers(), []);
  // Closing a handle completes on a later event-loop turn: wait for it (the deadline is a failure bound).
  await waitFor(() => workerHandles() === 0, { what: () => `every worker handle to close (active: ${process.getActiveResourcesInfo().join(',')})` });
  // Idempotent, and spawning afterwards is refused.
  await system.shutdown();
  t.throws(() => system.spawn(counter, 'late', { placement: { worker: 'w1' } }), { name: 'ActorStoppedError' });
});

test('shutdown while a worker is still starting stops its actor without waiting out the shutdown timeout', async (t) => {
  const { system, logs } = makeSystem(t);
  const rec = new Recorder(system);
  system.spawn(counter, 'c', { placement: { worker: 'slow' } });
  // No await: the worker has not even loaded its module yet.
  await system.shutdown();
  t.deepEqual(system.workers(), []);
  // The child was stopped (or never got to run); had its stop been lost, the guardian would have
  // waited out its shutdown timeout (5 s), then killed it with a warning.
  t.deepEqual(logs.filter((l) => /did not stop in time/.test(l.msg)), [], 'no shutdown timeout waited out');
  t.deepEqual(rec.of('stopped').filter((e) => e.reason === 'killed'), []);
  t.deepEqual(rec.of('stopped', '/user').length, 1);
});

test('system.stop is idempotent for top-level actors and refuses nested paths', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const log: string[] = [];
  const a = system.spawn(
    setup<string>((ctx) => {
      ctx.spawn(logged('child', log), 'child');
      return logged('a', log);
    }),
    'a',
  );
  await Promise.all([system.stop(a as never), system.stop(a as never)]);
  await system.stop(a as never);
  t.deepEqual(log, ['child', 'a']);
  await t.throwsAsync(system.stop(system.refFor<never>('/user/a/child')), { message: /not a top-level actor/ });
});
