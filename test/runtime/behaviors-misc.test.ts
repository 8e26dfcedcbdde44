// Stash / unstashAll, timers and pipeToSelf (in-thread, virtual time).
import test from 'ava';
import { StashOverflowError, receive, setup, type ActorRef, type Behavior, type ReplyTo } from '../../runtime/actor/index.ts';
import { ManualEnv, settle } from '../support/manual-env.ts';
import { Recorder, deferred, is, makeSystem } from '../support/harness.ts';

// ---- stash -----------------------------------------------------------------------------

type SMsg =
  | { type: 'item'; n: number }
  | { type: 'later'; n: number }
  | { type: 'asyncLater'; n: number }
  | { type: 'open' }
  | { type: 'get'; replyTo: ReplyTo<number[]> }
  | { type: 'flood'; replyTo: ReplyTo<string> };

function stasher(seen: number[]): Behavior<SMsg> {
  return setup<SMsg>((ctx) => {
    const open: Behavior<SMsg> = receive<SMsg>((c, m) => {
      if (m.type === 'item') seen.push(m.n);
      else if (m.type === 'get') c.reply(m.replyTo, [...seen]);
    });
    return receive<SMsg>(async (c, m) => {
      switch (m.type) {
        case 'open':
          c.stash.unstashAll();
          return open;
        case 'later':
          // Stash a different message than the one being handled.
          c.stash.stash({ type: 'item', n: m.n * 10 });
          return;
        case 'asyncLater':
          await Promise.resolve();
          c.stash.stash({ type: 'item', n: m.n * 100 }); // after an await: no current message
          return;
        case 'flood':
          try {
            for (let i = 0; i < 1001; i++) ctx.stash.stash({ type: 'item', n: i });
            c.reply(m.replyTo, 'no error');
          } catch (e) {
            c.reply(m.replyTo, `${(e as Error).name} at ${ctx.stash.size}`);
          }
          return;
        default:
          c.stash.stash(m);
      }
    });
  });
}

test('stash/unstashAll: stashed messages come back in order, before newer ones; asks stay answerable', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const seen: number[] = [];
  const s = system.spawn(stasher(seen), 's');
  s.tell({ type: 'item', n: 1 });
  const answer = s.ask<number[]>((replyTo) => ({ type: 'get', replyTo })); // stashed too
  s.tell({ type: 'later', n: 2 });
  s.tell({ type: 'asyncLater', n: 3 });
  s.tell({ type: 'item', n: 4 });
  s.tell({ type: 'open' });
  s.tell({ type: 'item', n: 5 });
  t.deepEqual(await answer, [1]);
  await settle();
  t.deepEqual(seen, [1, 20, 300, 4, 5]);
});

test('stash beyond its capacity throws StashOverflowError', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const s = system.spawn(stasher([]), 's');
  t.is(await s.ask<string>((replyTo) => ({ type: 'flood', replyTo })), 'StashOverflowError at 1000');
  t.is(new StashOverflowError('x').name, 'StashOverflowError');
});

// ---- timers ------------------------------------------------------------------------------

type TMsg =
  | { type: 'tick'; key: string }
  | { type: 'single'; key: string; ms: number }
  | { type: 'periodic'; key: string; ms: number }
  | { type: 'cancel'; key: string }
  | { type: 'active'; key: string; replyTo: ReplyTo<boolean> }
  | { type: 'boom' };

function timed(ticks: string[]): Behavior<TMsg> {
  return receive<TMsg>((ctx, m) => {
    switch (m.type) {
      case 'tick':
        ticks.push(`${m.key}@${ctx.now() - 1_000_000}#${ctx.incarnation}`);
        return;
      case 'single':
        ctx.timers.startSingle(m.key, { type: 'tick', key: m.key }, m.ms);
        return;
      case 'periodic':
        ctx.timers.startPeriodic(m.key, { type: 'tick', key: m.key }, m.ms);
        return;
      case 'cancel':
        ctx.timers.cancel(m.key);
        return;
      case 'active':
        ctx.reply(m.replyTo, ctx.timers.isActive(m.key));
        return;
      case 'boom':
        throw new Error('boom');
    }
  });
}

const active = (r: ActorRef<TMsg>, key: string) => r.ask<boolean>((replyTo) => ({ type: 'active', key, replyTo }));

test('timers: single fires once at its time; periodic repeats; cancel stops; same key replaces', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const ticks: string[] = [];
  const r = system.spawn(timed(ticks), 't');
  r.tell({ type: 'single', key: 's', ms: 100 });
  r.tell({ type: 'periodic', key: 'p', ms: 30 });
  r.tell({ type: 'single', key: 'r', ms: 50 });
  r.tell({ type: 'single', key: 'r', ms: 70 }); // replaces the 50 ms one
  r.tell({ type: 'single', key: 'c', ms: 10 });
  r.tell({ type: 'cancel', key: 'c' });
  await settle();
  t.true(await active(r, 's'));
  t.false(await active(r, 'c'));
  await env.advance(99);
  t.deepEqual(ticks, ['p@30#0', 'p@60#0', 'r@70#0', 'p@90#0']);
  await env.advance(1);
  t.is(ticks.at(-1), 's@100#0');
  t.false(await active(r, 's'), 'a fired single timer is no longer active');
  r.tell({ type: 'cancel', key: 'p' });
  await settle();
  const n = ticks.length;
  await env.advance(1000);
  t.is(ticks.length, n);
  t.is(env.pendingTimers, 0);
});

test('timers are cancelled when the actor crashes and when it stops', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const ticks: string[] = [];
  const r = system.spawn(timed(ticks), 't', { restart: 'permanent' });
  r.tell({ type: 'periodic', key: 'p', ms: 10 });
  await env.advance(25);
  t.deepEqual(ticks, ['p@10#0', 'p@20#0']);
  r.tell({ type: 'boom' });
  await rec.waitFor(is('restarted', '/user/t'));
  await env.advance(100);
  t.deepEqual(ticks, ['p@10#0', 'p@20#0'], 'no tick reaches the new incarnation');
  t.is(env.pendingTimers, 0);
  r.tell({ type: 'periodic', key: 'p', ms: 10 });
  r.tell({ type: 'single', key: 's', ms: 500 });
  await env.advance(10);
  await system.stop(r as ActorRef<never>);
  t.is(env.pendingTimers, 0);
  const before = system.deadLetters;
  await env.advance(1000);
  t.is(system.deadLetters, before, 'no ticks sent to the stopped actor');
});

// ---- pipeToSelf --------------------------------------------------------------------------

type PMsg =
  | { type: 'run'; p: Promise<number> }
  | { type: 'result'; r: string }
  | { type: 'boom' }
  | { type: 'results'; replyTo: ReplyTo<string[]> };

test('pipeToSelf: success and failure come back as messages; a result for a previous incarnation is dropped', async (t) => {
  const env = new ManualEnv();
  const { system } = makeSystem(t, { env });
  const rec = new Recorder(system);
  const b = setup<PMsg>(() => {
    const results: string[] = [];
    return receive<PMsg>((ctx, m) => {
      switch (m.type) {
        case 'run':
          ctx.pipeToSelf(m.p, (r) => ({ type: 'result', r: r.ok ? `ok ${r.value}` : `err ${r.error.message}` }));
          return;
        case 'result':
          results.push(m.r);
          return;
        case 'boom':
          throw new Error('boom');
        case 'results':
          ctx.reply(m.replyTo, [...results]);
      }
    });
  });
  const r = system.spawn(b, 'p', { restart: 'permanent' });
  const results = () => r.ask<string[]>((replyTo) => ({ type: 'results', replyTo }));
  r.tell({ type: 'run', p: Promise.resolve(1) });
  r.tell({ type: 'run', p: Promise.reject(new Error('nope')) });
  await settle();
  t.deepEqual(await results(), ['ok 1', 'err nope']);
  const late = deferred<number>();
  r.tell({ type: 'run', p: late.promise });
  await settle();
  r.tell({ type: 'boom' });
  await rec.waitFor(is('restarted', '/user/p'));
  late.resolve(2);
  await settle();
  t.deepEqual(await results(), [], 'the new incarnation never sees the old one’s result');
});
