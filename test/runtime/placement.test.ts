// M:N placement (many actors per worker) and direct worker-to-worker delivery.
import test from 'ava';
import type { ActorRef } from '../../runtime/actor/index.ts';
import type { WireItem } from '../../runtime/actor/wire.ts';
import { GUARD_MS, Recorder, is, makeSystem } from '../support/harness.ts';
import { counter, echo, relay, type CounterMsg } from '../support/behaviors.ts';

test('M:N: two actors share one worker; system.workers() lists it once', async (t) => {
  const { system } = makeSystem(t);
  const a = system.spawn(counter, 'a', { placement: { worker: 'shared' }, args: { start: 1 } });
  const b = system.spawn(counter, 'b', { placement: { worker: 'shared' }, args: { start: 2 } });
  const c = system.spawn(counter, 'c', { placement: { worker: 'own' }, args: { start: 3 } });
  const get = (r: ActorRef<CounterMsg>) => r.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS });
  t.deepEqual(await Promise.all([get(a), get(b), get(c)]), [1, 2, 3]);
  t.deepEqual(system.workers().sort(), ['own', 'shared']);
  const stats = await system.stats();
  const thread = (p: string) => stats.find((s) => s.path === p)?.thread;
  t.is(thread('/user/a'), 'w:shared');
  t.is(thread('/user/b'), 'w:shared');
  t.is(thread('/user/c'), 'w:own');
  t.is(thread('/user'), 'main');
});

test('worker-to-worker messages go directly, not through the main thread', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  const target = system.spawn(echo, 'echo', { placement: { worker: 'wb' } });
  const fwd = system.spawn(relay, 'relay', { placement: { worker: 'wa' } });
  // Count every envelope the main thread receives for the echo actor.
  const relayedByMain: unknown[] = [];
  const orig = system.rt.receive.bind(system.rt);
  system.rt.receive = (items: WireItem[]) => {
    for (const it of items) if (it.t === 'e' && it.e.to === '/user/echo') relayedByMain.push(it.e.msg);
    orig(items);
  };
  t.teardown(() => {
    system.rt.receive = orig;
  });
  t.is(await target.ask<number>((replyTo) => ({ type: 'count', replyTo }), { timeoutMs: GUARD_MS }), 0); // both workers up
  for (let n = 1; n <= 3; n++) {
    t.is(await fwd.ask<string>((replyTo) => ({ type: 'forward', to: target, n, replyTo }), { timeoutMs: GUARD_MS }), '/user/relay');
  }
  // The sinks travel wa→wb on their own port; the count ask below travels main→wb. There is no
  // order between two channels, so wait until wb has processed the sinks before counting.
  const sinks = await rec.count(is('received', '/user/echo', (e) => e.msgType === 'sink'), 3, 'sink deliveries');
  await rec.count(is('processed', '/user/echo', (e) => e.msgType === 'sink'), 3, 'sinks processed');
  t.is(await target.ask<number>((replyTo) => ({ type: 'count', replyTo }), { timeoutMs: GUARD_MS }), 3);
  t.deepEqual(relayedByMain, []);
  t.true(sinks.every((e) => e.thread === 'w:wb'));
  const sent = rec.events.filter(is('sent', '/user/relay', (e) => e.msgType === 'sink'));
  t.is(sent.length, 3);
  t.true(sent.every((e) => e.thread === 'w:wa' && e.target === '/user/echo'));
  // Each sink was caused by the forward that the relay was handling.
  for (const s of sent) {
    const cause = rec.events.find((e) => e.kind === 'received' && e.msgId === s.causeId);
    t.is(cause?.msgType, 'forward');
    t.is(cause?.thread, 'w:wa');
  }
});
