// Inspection events: kinds, fields, causality (msgId / causeId / corrId),
// events from workers, and zero cost while nobody listens.
import test from 'ava';
import { receive, setup, type ActorRef, type InspectionEvent, type ReplyTo } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { GUARD_MS, Recorder, is, makeSystem } from '../support/harness.ts';
import { counter, echo, type CounterMsg } from '../support/behaviors.ts';
import { waitFor } from '../support/wait.ts';

type Hop = { type: 'hop'; left: number; next: ActorRef<Hop> | null; replyTo?: ReplyTo<string> } | { type: 'boom' };

/** Passes a hop on to `next` (a chain), so one request causes a tree of messages. */
const hopper = receive<Hop>((ctx, m) => {
  if (m.type === 'boom') throw new Error('kaboom');
  if (m.next) m.next.tell({ type: 'hop', left: m.left - 1, next: null });
  if (m.replyTo) ctx.reply(m.replyTo, ctx.path);
});

test('in-thread lifecycle and message events carry path, msgType, msgId, causeId and corrId', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const b = system.spawn(hopper, 'b', { restart: 'permanent' });
  const a = system.spawn(hopper, 'a');
  t.is(await a.ask<string>((replyTo) => ({ type: 'hop', left: 2, next: b, replyTo })), '/user/a');
  await settle();
  const sentToA = rec.events.find(is('sent', '', (e) => e.target === '/user/a'))!;
  t.truthy(sentToA, 'sent from outside any actor has an empty path');
  t.is(sentToA.causeId, 0);
  t.is(sentToA.corrId, sentToA.msgId, 'a fresh request starts its own correlation');
  const recvA = rec.events.find(is('received', '/user/a'))!;
  t.like(recvA, { msgType: 'hop', msgId: sentToA.msgId, corrId: sentToA.corrId, thread: 'main' });
  const procA = rec.events.find(is('processed', '/user/a'))!;
  t.like(procA, { msgType: 'hop', msgId: sentToA.msgId });
  const aToB = rec.events.find(is('sent', '/user/a', (e) => e.target === '/user/b'))!;
  t.is(aToB.causeId, sentToA.msgId, 'sent while processing a message: causeId is that message');
  t.is(aToB.corrId, sentToA.corrId, 'corrId is inherited');
  t.not(aToB.msgId, sentToA.msgId);
  const recvB = rec.events.find(is('received', '/user/b'))!;
  t.like(recvB, { msgId: aToB.msgId, corrId: sentToA.corrId });

  t.like(rec.events.find(is('spawned', '/user/a')), { incarnation: 0 });
  b.tell({ type: 'boom' });
  const crashed = await rec.waitFor(is('crashed', '/user/b'));
  t.like(crashed, { error: { name: 'Error', message: 'kaboom' }, msgType: 'boom', incarnation: 0 });
  t.like(await rec.waitFor(is('restarted', '/user/b')), { incarnation: 1, reason: 'kaboom' });
  await system.stop(a as ActorRef<never>);
  t.like(rec.events.find(is('stopped', '/user/a')), { reason: 'stopped by parent' });
  a.tell({ type: 'hop', left: 0, next: null });
  t.like(rec.events.find(is('dead-letter', '/user/a')), { msgType: 'hop' });
  // Events of one thread are numbered without gaps and stamped with the Env clock.
  const seqs = rec.events.filter((e) => e.thread === 'main').map((e) => e.seq);
  t.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i));
  t.true(rec.events.every((e) => e.v === 1 && e.ts === env.now()));
});

test('events from workers reach system.onEvent, with their thread and the request correlation', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system); // listening before the workers exist
  const e = system.spawn(echo, 'e', { placement: { worker: 'ev' } });
  const c = system.spawn(counter, 'c', { placement: { worker: 'ev2' } });
  t.is(await e.ask<number>((replyTo) => ({ type: 'ping', n: 5, replyTo }), { timeoutMs: GUARD_MS }), 5);
  const spawned = await rec.waitFor(is('spawned', '/user/e'));
  t.is(spawned.thread, 'w:ev');
  const sent = rec.events.find(is('sent', '', (x) => x.target === '/user/e'))!;
  const recv = await rec.waitFor(is('received', '/user/e'));
  t.like(recv, { thread: 'w:ev', msgType: 'ping', msgId: sent.msgId, corrId: sent.corrId });
  await rec.waitFor(is('processed', '/user/e'));
  (c as ActorRef<CounterMsg>).tell({ type: 'boom', message: 'remote' });
  const crashed = await rec.waitFor(is('crashed', '/user/c'));
  t.like(crashed, { thread: 'w:ev2', error: { name: 'Error', message: 'remote' } });
  await system.stop(e as ActorRef<never>);
  t.like(await rec.waitFor(is('stopped', '/user/e')), { thread: 'w:ev' });
});

test('nobody listening: no event is built, in main or in workers', async (t) => {
  const { system } = makeSystem(t);
  t.false(system.rt.bus.active);
  let built = 0;
  const emit = system.rt.bus.emit.bind(system.rt.bus);
  system.rt.bus.emit = (...args: Parameters<typeof emit>) => {
    built++;
    emit(...args);
  };
  let forwarded = 0;
  const forward = system.rt.bus.forward.bind(system.rt.bus);
  system.rt.bus.forward = (e: InspectionEvent) => {
    forwarded++;
    forward(e);
  };
  const local = system.spawn(setup<CounterMsg>(() => receive<CounterMsg>((ctx, m) => (m.type === 'get' ? ctx.reply(m.replyTo, 1) : undefined))), 'local');
  const remote = system.spawn(counter, 'remote', { placement: { worker: 'quiet' } });
  for (let i = 0; i < 50; i++) {
    local.tell({ type: 'inc' });
    remote.tell({ type: 'inc' });
  }
  t.is(await local.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 1);
  t.is(await remote.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 50);
  t.is(built, 0, 'main built no events');
  t.is(forwarded, 0, 'the worker forwarded no events');

  // Listening switches it on (also in the worker) ...
  const off = system.onEvent(() => {});
  t.true(system.rt.bus.active);
  await system.stats(); // the control channel is ordered: inspection is now on in the worker
  remote.tell({ type: 'inc' });
  t.is(await remote.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 51);
  // The worker sends its events in batches of its own, after the reply: wait for them.
  await waitFor(() => built > 0 && forwarded > 0, { what: () => `events built (${built}) and forwarded from the worker (${forwarded})` });
  // ... and the last listener leaving switches it off again.
  off();
  t.false(system.rt.bus.active);
  await system.stats();
  built = 0;
  forwarded = 0;
  remote.tell({ type: 'inc' });
  local.tell({ type: 'inc' });
  t.is(await remote.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 52);
  // A second round trip on the same link: a batch of events the worker had built while handling
  // the first one (there must be none) would have been sent before this reply.
  t.is(await remote.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 52);
  await settle();
  t.is(built, 0);
  t.is(forwarded, 0);
});

test('a listener that throws does not break the actor that triggered the event', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const off = system.onEvent(() => {
    throw new Error('bad listener');
  });
  t.teardown(off);
  const c = system.spawn(setup<CounterMsg>(() => receive<CounterMsg>((ctx, m) => (m.type === 'get' ? ctx.reply(m.replyTo, 9) : undefined))), 'c');
  t.is(await c.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 9);
});
