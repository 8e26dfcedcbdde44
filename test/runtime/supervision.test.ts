// Supervision end to end with real (in-thread) actors: strategies, restart
// types, restart intensity and escalation. Time is virtual (ManualEnv), so
// the intensity window never depends on machine speed.
import test, { type ExecutionContext } from 'ava';
import { Stopped, receive, setup, supervisor, type ActorRef, type ActorSystem, type ReplyTo, type RestartType, type StrategyKind } from '../../runtime/actor/index.ts';
import { ManualEnv } from '../support/manual-env.ts';
import { Recorder, deferred, is, makeSystem, spawnProbe } from '../support/harness.ts';

type KidMsg = { type: 'inc' } | { type: 'get'; replyTo: ReplyTo<{ n: number; incarnation: number }> } | { type: 'boom' } | { type: 'done' };

/** A child with state (a counter) that can crash or stop itself. */
function kid() {
  return setup<KidMsg>((ctx) => {
    let n = 0;
    return receive<KidMsg>((_c, m) => {
      switch (m.type) {
        case 'inc':
          n++;
          return;
        case 'get':
          ctx.reply(m.replyTo, { n, incarnation: ctx.incarnation });
          return;
        case 'boom':
          throw new Error(`boom in ${ctx.path}`);
        case 'done':
          return Stopped;
      }
    });
  });
}

const ref = (system: ActorSystem, path: string) => system.refFor<KidMsg>(path);
const get = (system: ActorSystem, path: string) => ref(system, path).ask<{ n: number; incarnation: number }>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: 1000 });

async function threeKids(t: ExecutionContext, kind: StrategyKind) {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  system.spawn(
    supervisor({ kind, intensity: 5, periodMs: 1000 }, ['a', 'b', 'c'].map((id) => ({ id, behavior: kid() }))),
    'sup',
  );
  for (const k of ['a', 'b', 'c']) ref(system, `/user/sup/${k}`).tell({ type: 'inc' });
  for (const k of ['a', 'b', 'c']) t.deepEqual(await get(system, `/user/sup/${k}`), { n: 1, incarnation: 0 });
  return { system, rec };
}

const state = async (system: ActorSystem) =>
  Object.fromEntries(await Promise.all(['a', 'b', 'c'].map(async (k) => [k, await get(system, `/user/sup/${k}`)] as const)));

test('one_for_one: only the crashed child restarts, with fresh state', async (t) => {
  const { system, rec } = await threeKids(t, 'one_for_one');
  ref(system, '/user/sup/b').tell({ type: 'boom' });
  const r = await rec.waitFor(is('restarted', '/user/sup/b'));
  t.is(r.incarnation, 1);
  t.deepEqual(await state(system), { a: { n: 1, incarnation: 0 }, b: { n: 0, incarnation: 1 }, c: { n: 1, incarnation: 0 } });
  t.deepEqual(rec.of('stopped'), []);
  t.deepEqual(rec.of('restarted').map((e) => e.path), ['/user/sup/b']);
});

test('one_for_all: every child is stopped (newest first) and restarted in start order', async (t) => {
  const { system, rec } = await threeKids(t, 'one_for_all');
  ref(system, '/user/sup/b').tell({ type: 'boom' });
  await rec.count(is('restarted'), 3, 'restarts');
  t.deepEqual(rec.of('stopped').map((e) => e.path), ['/user/sup/c', '/user/sup/a']);
  t.deepEqual(rec.of('restarted').map((e) => `${e.path}#${e.incarnation}`), ['/user/sup/a#1', '/user/sup/b#1', '/user/sup/c#1']);
  t.deepEqual(await state(system), { a: { n: 0, incarnation: 1 }, b: { n: 0, incarnation: 1 }, c: { n: 0, incarnation: 1 } });
});

test('rest_for_one: the crashed child and those started after it restart', async (t) => {
  const { system, rec } = await threeKids(t, 'rest_for_one');
  ref(system, '/user/sup/b').tell({ type: 'boom' });
  await rec.count(is('restarted'), 2, 'restarts');
  t.deepEqual(rec.of('stopped').map((e) => e.path), ['/user/sup/c']);
  t.deepEqual(rec.of('restarted').map((e) => e.path), ['/user/sup/b', '/user/sup/c']);
  t.deepEqual(await state(system), { a: { n: 1, incarnation: 0 }, b: { n: 0, incarnation: 1 }, c: { n: 0, incarnation: 1 } });
});

for (const exit of ['normal', 'crash'] as const) {
  test(`restart types after a ${exit} exit: permanent restarts, transient ${exit === 'crash' ? 'restarts' : 'is removed'}, temporary is removed`, async (t) => {
    const env = new ManualEnv();
    const { system } = makeSystem(t, { env });
    const rec = new Recorder(system);
    const types: RestartType[] = ['permanent', 'transient', 'temporary'];
    system.spawn(supervisor({ kind: 'one_for_one', intensity: 5, periodMs: 1000 }, types.map((r) => ({ id: r, behavior: kid(), restart: r }))), 'sup');
    const probe = spawnProbe(system);
    for (const r of types) await probe.watch(ref(system, `/user/sup/${r}`) as ActorRef<never>);
    for (const r of types) ref(system, `/user/sup/${r}`).tell({ type: exit === 'crash' ? 'boom' : 'done' });

    const restarted = exit === 'crash' ? ['permanent', 'transient'] : ['permanent'];
    const removed = types.filter((r) => !restarted.includes(r));
    // Removed children are gone for good: watchers hear Terminated (with the error after a crash).
    for (const r of removed) {
      const err = await probe.terminated(`/user/sup/${r}`);
      if (exit === 'crash') t.is(err?.message, `boom in /user/sup/${r}`);
      else t.is(err, undefined);
    }
    await rec.count(is('restarted'), restarted.length, 'restarts');
    t.deepEqual(rec.of('restarted').map((e) => e.path).sort(), restarted.map((r) => `/user/sup/${r}`).sort());
    for (const r of restarted) t.deepEqual(await get(system, `/user/sup/${r}`), { n: 0, incarnation: 1 });
    const children = await system.refFor<import('../../runtime/actor/index.ts').SupervisorMsg>('/user/sup').ask<{ id: string }[]>((replyTo) => ({ type: 'which_children', replyTo }));
    t.deepEqual(children.map((c) => c.id), restarted);
    // A restarted child keeps its watchers (same path); a removed one is not asked about twice.
    t.deepEqual(probe.all.sort(), removed.map((r) => `/user/sup/${r}`).sort());
  });
}

test('restart intensity exceeded: the supervisor stops its children, fails, and its parent applies its own strategy', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const mid = supervisor({ kind: 'one_for_one', intensity: 1, periodMs: 1000 }, [
    { id: 'x', behavior: kid() },
    { id: 'y', behavior: kid() },
  ]);
  // The grandparent is one_for_all: its other child restarts too when `mid` fails.
  system.spawn(supervisor({ kind: 'one_for_all', intensity: 5, periodMs: 1000 }, [{ id: 'mid', behavior: mid }, { id: 'other', behavior: kid() }]), 'top');
  ref(system, '/user/top/mid/y').tell({ type: 'inc' });
  t.is((await get(system, '/user/top/mid/y')).n, 1);

  ref(system, '/user/top/mid/x').tell({ type: 'boom' });
  await rec.waitFor(is('restarted', '/user/top/mid/x'));
  ref(system, '/user/top/mid/x').tell({ type: 'boom' }); // second restart in the window: intensity 1 exceeded
  const esc = await rec.waitFor(is('escalated', '/user/top/mid'));
  t.regex(esc.reason!, /max restart intensity \(1 in 1000 ms\) restarting x/);
  const crashed = await rec.waitFor(is('crashed', '/user/top/mid'));
  t.regex(crashed.error!.message, /max restart intensity/);
  // mid stopped y before failing; top (one_for_all) then restarted both of its children.
  t.truthy(rec.events.find(is('stopped', '/user/top/mid/y')));
  t.true(rec.events.indexOf(rec.events.find(is('stopped', '/user/top/mid/y'))!) < rec.events.indexOf(crashed));
  await rec.waitFor(is('restarted', '/user/top/mid', (e) => e.incarnation === 1));
  await rec.waitFor(is('restarted', '/user/top/other', (e) => e.incarnation === 1));
  // The new mid incarnation built fresh children (incarnation 0, state reset).
  t.deepEqual(await get(system, '/user/top/mid/y'), { n: 0, incarnation: 0 });
  t.deepEqual(await get(system, '/user/top/mid/x'), { n: 0, incarnation: 0 });
});

test('restarts spread beyond the period do not escalate', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  system.spawn(supervisor({ kind: 'one_for_one', intensity: 1, periodMs: 1000 }, [{ id: 'x', behavior: kid() }]), 'sup');
  for (let i = 1; i <= 4; i++) {
    ref(system, '/user/sup/x').tell({ type: 'boom' });
    await rec.waitFor(is('restarted', '/user/sup/x', (e) => e.incarnation === i));
    await env.advance(1000);
  }
  t.deepEqual(rec.of('escalated'), []);
  t.is((await get(system, '/user/sup/x')).incarnation, 4);
});

test('escalation reaching the root calls onFatal with the cause chain', async (t) => {
  const env = new ManualEnv();
  const fatal = deferred<Error>();
  const { system } = makeSystem(t, { env, strategy: { kind: 'one_for_one', intensity: 0, periodMs: 1000 }, onFatal: fatal.resolve });
  system.spawn(supervisor({ kind: 'one_for_one', intensity: 0, periodMs: 1000 }, [{ id: 'x', behavior: kid() }]), 'sup', { restart: 'permanent' });
  ref(system, '/user/sup/x').tell({ type: 'boom' });
  const err = await fatal.promise;
  t.regex(err.message, /^\/user: reached max restart intensity \(0 in 1000 ms\) restarting sup/);
  const supErr = err.cause as Error;
  t.regex(supErr.message, /^\/user\/sup: reached max restart intensity/);
  t.is((supErr.cause as Error).message, 'boom in /user/sup/x');
});

test('a top-level permanent actor is restarted by the root guardian; a default (temporary) one is not', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const probe = spawnProbe(system);
  system.spawn(kid(), 'perm', { restart: 'permanent' });
  const temp = system.spawn(kid(), 'temp');
  await probe.watch(temp as ActorRef<never>);
  ref(system, '/user/perm').tell({ type: 'boom' });
  temp.tell({ type: 'boom' });
  await rec.waitFor(is('restarted', '/user/perm'));
  t.is((await probe.terminated('/user/temp'))?.message, 'boom in /user/temp');
  t.is((await get(system, '/user/perm')).incarnation, 1);
});

test('setup that throws is a crash: restarted until the intensity is exceeded', async (t) => {
  const env = new ManualEnv();
  const fatal = deferred<Error>();
  const { system } = makeSystem(t, { env, onFatal: fatal.resolve });
  const rec = new Recorder(system);
  system.spawn(
    supervisor({ kind: 'one_for_one', intensity: 2, periodMs: 1000 }, [
      {
        id: 'bad',
        behavior: setup<KidMsg>(() => {
          throw new Error('init failed');
        }),
      },
    ]),
    'sup',
  );
  await rec.waitFor(is('escalated', '/user/sup'));
  t.is(rec.of('crashed', '/user/sup/bad').length, 3);
  t.is(rec.of('restarted', '/user/sup/bad').length, 2);
  // /user/sup is temporary at the top level: removed, no fatal.
  await rec.waitFor(is('crashed', '/user/sup'));
});
