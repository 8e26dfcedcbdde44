// Ask: reply, timeout, prompt rejection when the target crashes, stops or does
// not exist, for in-thread and worker placements; invalid timeouts.
import test, { type ExecutionContext } from 'ava';
import { ActorCrashedError, ActorStoppedError, AskTimeoutError, type ActorRef, type ActorSystem } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { GUARD_MS, Recorder, is, makeSystem, rejectionOf } from '../support/harness.ts';
import { counter, counterBehavior, type CounterMsg } from '../support/behaviors.ts';

const get = (r: ActorRef<CounterMsg>, timeoutMs = GUARD_MS) => r.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs });
const never = (r: ActorRef<CounterMsg>, timeoutMs = 60_000) => r.ask<number>((replyTo) => ({ type: 'never', replyTo }), { timeoutMs });

// ---- in-thread (virtual time) ---------------------------------------------------

function inThread(t: ExecutionContext) {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  return { env, system, c: system.spawn(counterBehavior(7), 'c') };
}

test('in-thread: ask resolves with the reply', async (t) => {
  const { c } = inThread(t);
  c.tell({ type: 'inc', by: 3 });
  t.is(await get(c), 10);
});

test('in-thread: ask times out after exactly timeoutMs with AskTimeoutError', async (t) => {
  const { env, c } = inThread(t);
  let settled = false;
  const p = never(c, 100).finally(() => (settled = true));
  p.catch(() => {});
  await env.advance(99);
  t.false(settled);
  await env.advance(1);
  const e = await rejectionOf(p);
  t.true(e instanceof AskTimeoutError);
  t.like(e, { name: 'AskTimeoutError', target: '/user/c', timeoutMs: 100 });
  // A late reply after the timeout is harmless.
});

test('in-thread: ask rejects promptly when the target crashes while handling it', async (t) => {
  const { c } = inThread(t);
  const e = await rejectionOf(c.ask<number>((replyTo) => ({ type: 'customCrash', replyTo }), { timeoutMs: 60_000 }));
  t.true(e instanceof ActorCrashedError);
  t.like(e, { name: 'ActorCrashedError', target: '/user/c' });
  t.is((e.cause as Error).name, 'StorageError');
});

test('in-thread: an ask the target took but has not answered rejects when it crashes later', async (t) => {
  const { c } = inThread(t);
  const p = never(c); // handled, never answered: an open ask of this incarnation
  await settle();
  c.tell({ type: 'boom', message: 'later' });
  const e = await rejectionOf(p);
  t.true(e instanceof ActorCrashedError);
  t.is((e.cause as Error).message, 'later');
});

test('in-thread: a pending ask rejects with ActorStoppedError when its target is stopped', async (t) => {
  const { system, c } = inThread(t);
  const p = never(c);
  await settle();
  await system.stop(c as ActorRef<never>);
  const e = await rejectionOf(p);
  t.true(e instanceof ActorStoppedError);
});

test('in-thread: asking a non-existent or stopped actor rejects at once (no timeout)', async (t) => {
  const { system, c } = inThread(t);
  // Virtual time never moves in this test: a rejection can only be prompt.
  const e1 = await rejectionOf(never(system.refFor<CounterMsg>('/user/nobody')));
  t.true(e1 instanceof ActorStoppedError);
  t.regex(e1.message, /\/user\/nobody/);
  await system.stop(c as ActorRef<never>);
  const e2 = await rejectionOf(never(c));
  t.true(e2 instanceof ActorStoppedError);
});

test('invalid ask timeouts are rejected with RangeError', async (t) => {
  const { c } = inThread(t);
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
    const e = await rejectionOf(never(c, timeoutMs));
    t.true(e instanceof RangeError, String(timeoutMs));
  }
  // The largest valid one is accepted.
  c.tell({ type: 'inc' });
  t.is(await get(c, 2 ** 31 - 1), 8);
});

test('a request builder that throws rejects the ask', async (t) => {
  const { c } = inThread(t);
  const e = await rejectionOf(
    c.ask<number>(() => {
      throw new Error('bad builder');
    }),
  );
  t.is(e.message, 'bad builder');
});

// ---- worker placement (real time) --------------------------------------------------

function onWorker(t: ExecutionContext, worker: string): { system: ActorSystem; c: ActorRef<CounterMsg>; rec: Recorder } {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  return { system, rec, c: system.spawn(counter, 'c', { placement: { worker }, args: { start: 7 } }) };
}

test('worker: ask resolves with the reply', async (t) => {
  const { c } = onWorker(t, 'ask1');
  c.tell({ type: 'inc', by: 3 });
  t.is(await get(c), 10);
});

test('worker: ask times out with AskTimeoutError', async (t) => {
  const { c } = onWorker(t, 'ask2');
  t.is(await get(c), 7); // worker is up
  const e = await rejectionOf(never(c, 50));
  t.true(e instanceof AskTimeoutError);
  t.like(e, { target: '/user/c', timeoutMs: 50 });
});

test('worker: ask rejects with ActorCrashedError (cause kept) when the target crashes', async (t) => {
  const { c } = onWorker(t, 'ask3');
  const e = await rejectionOf(c.ask<number>((replyTo) => ({ type: 'customCrash', replyTo }), { timeoutMs: 60_000 }));
  t.is(e.name, 'ActorCrashedError');
  t.is((e as { target?: string }).target, '/user/c');
  t.is((e.cause as Error).name, 'StorageError');
});

test('worker: a pending ask rejects with ActorStoppedError when the target is stopped', async (t) => {
  const { system, c, rec } = onWorker(t, 'ask4');
  const p = never(c);
  await rec.waitFor(is('received', '/user/c', (e) => e.msgType === 'never'));
  await system.stop(c as ActorRef<never>);
  const e = await rejectionOf(p);
  t.is(e.name, 'ActorStoppedError');
});

test('worker: asking a non-existent or stopped actor on a live worker rejects promptly', async (t) => {
  const { system, c } = onWorker(t, 'ask5');
  t.is(await get(c), 7);
  const e1 = await rejectionOf(never(system.refFor<CounterMsg>('/user/nobody', 'w:ask5')));
  t.is(e1.name, 'ActorStoppedError');
  await system.stop(c as ActorRef<never>);
  const e2 = await rejectionOf(never(c));
  // ActorStoppedError, not AskTimeoutError: neither ask waited out its 60 s timeout.
  t.is(e2.name, 'ActorStoppedError');
});
