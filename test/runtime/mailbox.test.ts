// Bounded mailboxes under each overflow policy, queue depth, dead letters.
import test, { type ExecutionContext } from 'ava';
import { MailboxFullError, receive, type ActorRef, type ActorSystem, type OverflowPolicy, type ReplyTo } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { GUARD_MS, Recorder, deferred, is, makeSystem, rejectionOf } from '../support/harness.ts';
import { counter, type CounterMsg } from '../support/behaviors.ts';

type Msg =
  | { type: 'block'; until: Promise<void> }
  | { type: 'item'; n: number }
  | { type: 'items'; replyTo: ReplyTo<number[]> }
  | { type: 'send'; to: ActorRef<Msg>; n: number; replyTo: ReplyTo<string> };

/** Records items; `block` keeps it busy until the promise settles. */
function consumer() {
  const seen: number[] = [];
  const b = receive<Msg>((ctx, m) => {
    switch (m.type) {
      case 'block':
        return m.until.then(() => undefined);
      case 'item':
        seen.push(m.n);
        return;
      case 'items':
        ctx.reply(m.replyTo, [...seen]);
        return;
      case 'send':
        try {
          m.to.tell({ type: 'item', n: m.n });
          ctx.reply(m.replyTo, 'sent');
        } catch (e) {
          ctx.reply(m.replyTo, (e as Error).name);
        }
        return;
    }
  });
  return { b, seen };
}

function setupBox(t: ExecutionContext, overflow: OverflowPolicy, capacity: number) {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const { b, seen } = consumer();
  const ref = system.spawn(b, 'box', { mailbox: { capacity, overflow } });
  const gate = deferred();
  return { env, system, rec, ref, seen, gate };
}

const depthOf = async (system: ActorSystem, path: string) => (await system.stats()).find((s) => s.path === path)!.depth;

test('drop: overflow goes to dead letters with a dropped event; the sender is not told', async (t) => {
  const { system, rec, ref, seen, gate } = setupBox(t, 'drop', 2);
  ref.tell({ type: 'block', until: gate.promise });
  await settle(); // now busy, mailbox empty
  for (let n = 1; n <= 5; n++) ref.tell({ type: 'item', n }); // does not throw
  t.is(system.deadLetters, 3);
  t.deepEqual(
    rec.of('dropped', '/user/box').map((e) => e.reason),
    ['mailbox-full (drop)', 'mailbox-full (drop)', 'mailbox-full (drop)'],
  );
  t.deepEqual(rec.of('received', '/user/box').filter((e) => e.msgType === 'item').map((e) => e.depth), [1, 2]);
  t.is(await depthOf(system, '/user/box'), 2);
  gate.resolve();
  await settle();
  t.deepEqual(seen, [1, 2]);
  t.is(await depthOf(system, '/user/box'), 0);
  // An ask that does not fit is rejected.
  ref.tell({ type: 'block', until: new Promise(() => {}) });
  await settle();
  ref.tell({ type: 'item', n: 6 });
  ref.tell({ type: 'item', n: 7 });
  t.true((await rejectionOf(ref.ask<number[]>((replyTo) => ({ type: 'items', replyTo })))) instanceof MailboxFullError);
});

test('reject: offer and ask get MailboxFullError; an in-thread actor sender gets it thrown', async (t) => {
  const { system, rec, ref, gate } = setupBox(t, 'reject', 1);
  ref.tell({ type: 'block', until: gate.promise });
  await settle();
  await ref.offer({ type: 'item', n: 1 }); // fits
  const e1 = await rejectionOf(ref.offer({ type: 'item', n: 2 }));
  t.true(e1 instanceof MailboxFullError);
  t.like(e1, { target: '/user/box', capacity: 1 });
  const e2 = await rejectionOf(ref.ask<number[]>((replyTo) => ({ type: 'items', replyTo })));
  t.true(e2 instanceof MailboxFullError);
  // A plain tell from outside any actor is dropped silently.
  t.notThrows(() => ref.tell({ type: 'item', n: 3 }));
  const sender = consumer();
  const s = system.spawn(sender.b, 'sender');
  t.is(await s.ask<string>((replyTo) => ({ type: 'send', to: ref, n: 4, replyTo })), 'MailboxFullError');
  t.is(system.deadLetters, 4);
  t.is(rec.of('dropped', '/user/box').length, 4);
  t.true(rec.of('dropped').every((e) => e.reason === 'mailbox-full (reject)'));
});

test('backpressure: offers wait for room and then succeed, in order, nothing lost', async (t) => {
  const { system, ref, seen, gate } = setupBox(t, 'backpressure', 2);
  ref.tell({ type: 'block', until: gate.promise });
  await settle();
  const settled: number[] = [];
  const offers = Array.from({ length: 10 }, (_, i) => ref.offer({ type: 'item', n: i + 1 }).then(() => settled.push(i + 1)));
  await settle();
  t.deepEqual(settled, [1, 2], 'only what fits is in the mailbox');
  t.is(await depthOf(system, '/user/box'), 10, 'depth counts parked offers');
  gate.resolve();
  await Promise.all(offers);
  await settle();
  t.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.deepEqual(settled, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.is(system.deadLetters, 0);
});

test('backpressure: a producer awaiting each offer is slowed to the consumer and loses nothing', async (t) => {
  const { ref, seen, gate } = setupBox(t, 'backpressure', 1);
  ref.tell({ type: 'block', until: gate.promise });
  await settle();
  let sent = 0;
  const producer = (async () => {
    for (let n = 1; n <= 50; n++) {
      await ref.offer({ type: 'item', n });
      sent = n;
    }
  })();
  await settle();
  t.is(sent, 1, 'second offer waits: the mailbox (capacity 1) is full');
  gate.resolve();
  await producer;
  await settle();
  t.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1));
});

test('backpressure: plain tells park up to capacity more, beyond that they are dropped', async (t) => {
  const { system, rec, ref, seen, gate } = setupBox(t, 'backpressure', 2);
  ref.tell({ type: 'block', until: gate.promise });
  await settle();
  for (let n = 1; n <= 6; n++) ref.tell({ type: 'item', n });
  t.is(await depthOf(system, '/user/box'), 4);
  t.is(system.deadLetters, 2);
  t.deepEqual(rec.of('dropped').map((e) => e.reason), ['mailbox-full (backpressure)', 'mailbox-full (backpressure)']);
  gate.resolve();
  await settle();
  t.deepEqual(seen, [1, 2, 3, 4]);
});

test('queue depth: stats() and received events report the backlog of a busy actor', async (t) => {
  const { system, rec, ref, gate } = setupBox(t, 'drop', 100);
  ref.tell({ type: 'block', until: gate.promise });
  await settle();
  for (let n = 1; n <= 7; n++) ref.tell({ type: 'item', n });
  t.is(await depthOf(system, '/user/box'), 7);
  t.deepEqual(rec.of('received').filter((e) => e.msgType === 'item').map((e) => e.depth), [1, 2, 3, 4, 5, 6, 7]);
  gate.resolve();
  await settle();
  t.is(await depthOf(system, '/user/box'), 0);
  t.is(rec.of('processed', '/user/box').at(-1)!.depth, 0);
});

test('across threads: backpressure offers to a busy worker actor all land; reject refuses with MailboxFullError', async (t) => {
  const { system } = makeSystem(t);
  const bp = system.spawn(counter, 'bp', { placement: { worker: 'box' }, mailbox: { capacity: 2, overflow: 'backpressure' } });
  const rj = system.spawn(counter, 'rj', { placement: { worker: 'box' }, mailbox: { capacity: 1, overflow: 'reject' } });
  // Both batches reach the worker at once: the slowGet keeps each actor busy while the rest arrive.
  const slow = bp.ask<number>((replyTo) => ({ type: 'slowGet', ms: 100, replyTo }), { timeoutMs: GUARD_MS });
  const offers = Array.from({ length: 20 }, () => bp.offer({ type: 'inc' }));
  const slow2 = rj.ask<number>((replyTo) => ({ type: 'slowGet', ms: 100, replyTo }), { timeoutMs: GUARD_MS });
  const refused = rj.offer({ type: 'inc' });
  await Promise.all(offers);
  t.is(await slow, 0);
  t.is(await bp.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 20);
  const e = await rejectionOf(refused);
  t.is(e.name, 'MailboxFullError');
  t.like(e, { target: '/user/rj', capacity: 1 });
  t.is(await slow2, 0);
});

// ---- dead letters ----------------------------------------------------------------------

test('messages to stopped or unknown actors are counted as dead letters and emitted', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const { b } = consumer();
  const ref = system.spawn(b, 'gone');
  await system.stop(ref as ActorRef<never>);
  const before = system.deadLetters;
  ref.tell({ type: 'item', n: 1 });
  ref.tell({ type: 'item', n: 2 });
  system.refFor<Msg>('/user/never-was').tell({ type: 'item', n: 3 });
  t.is(system.deadLetters, before + 3);
  const dl = rec.of('dead-letter');
  t.deepEqual(dl.map((e) => [e.path, e.msgType]), [
    ['/user/gone', 'item'],
    ['/user/gone', 'item'],
    ['/user/never-was', 'item'],
  ]);
  t.true(dl.every((e) => typeof e.reason === 'string' && typeof e.msgId === 'number'));
});

test('dead letters from a worker: a message to a stopped worker actor', async (t) => {
  const { system } = makeSystem(t);
  const rec = new Recorder(system);
  const c = system.spawn(counter, 'c', { placement: { worker: 'dl' } });
  t.is(await c.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: GUARD_MS }), 0);
  await system.stop(c as ActorRef<never>);
  (c as ActorRef<CounterMsg>).tell({ type: 'inc' });
  const e = await rec.waitFor(is('dead-letter', '/user/c'));
  t.is(e.thread, 'w:dl');
  t.is(e.msgType, 'inc');
});
