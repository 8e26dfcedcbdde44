// The actor runtime's own promise work (a restart, an async behaviour) runs
// in real microtasks, outside the event queue. The simulator flushes them
// before virtual time moves only while a node reports such work unsettled
// (Env.settling), so a restart must still happen at the instant of the crash
// even while other events keep the clock moving.
import test from 'ava';
import { ActorSystem, receive, setup } from '../../runtime/actor/index.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify } from '../../runtime/sim/buggify.ts';
import { SimNode, SIM_EPOCH_MS } from '../../runtime/sim/node.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';

type Msg = { type: 'boom' } | { type: 'slow'; n: number };

function world() {
  const sched = new Scheduler();
  const rng = new SeededRng(7);
  const node = new SimNode('n1', sched, new Buggify(7, rng.fork(), { enabled: false, siteShare: 0, fireProbability: 0 }), rng.fork());
  // Nothing but the node's own reports (Env.settling) makes the scheduler flush real reactions.
  sched.pendingReactions = () => 'none';
  // Background traffic: the clock advances every millisecond.
  const tick = (): void => {
    sched.after(1, tick);
  };
  sched.after(1, tick);
  const system = new ActorSystem({ name: 'n1', env: node.env, inThreadOnly: true });
  return { sched, node, system };
}

test('a crashed actor is restarted at the instant it crashed, with the clock moving on', async (t) => {
  const { sched, node, system } = world();
  const starts: { incarnation: number; at: number }[] = [];
  const ref = system.spawn(
    setup<Msg>((ctx) => {
      starts.push({ incarnation: ctx.incarnation, at: ctx.now() - SIM_EPOCH_MS });
      return receive<Msg>((_c, m) => {
        if (m.type === 'boom') throw new Error('boom');
      });
    }),
    'kid',
    { restart: 'permanent' },
  );
  await sched.runUntil(100);
  sched.at(250, () => ref.tell({ type: 'boom' }));
  await sched.runUntil(2000);
  t.deepEqual(
    starts.map((s) => s.incarnation),
    [0, 1],
  );
  t.is(starts[1].at, 250, 'the restart ran in the crash instant, not at a later flush');
  t.is(node.settling, 0, 'no promise work left unsettled');
  t.is(sched.unsettled, 0);
});

test('an async behaviour resumes in the instant its promise settles', async (t) => {
  const { sched, system } = world();
  const done: { n: number; at: number }[] = [];
  const ref = system.spawn(
    setup<Msg>((ctx) =>
      receive<Msg>(async (_c, m) => {
        if (m.type !== 'slow') return;
        for (let i = 0; i < 3; i++) await Promise.resolve();
        done.push({ n: m.n, at: ctx.now() - SIM_EPOCH_MS });
      }),
    ),
    'async',
  );
  sched.at(300, () => {
    ref.tell({ type: 'slow', n: 1 });
    ref.tell({ type: 'slow', n: 2 });
  });
  await sched.runUntil(2000);
  t.deepEqual(done, [
    { n: 1, at: 300 },
    { n: 2, at: 300 },
  ]);
});

test('a crash takes its node’s unsettled promise work off the count', async (t) => {
  const { sched, node, system } = world();
  const ref = system.spawn(
    setup<Msg>(() =>
      // Never settles: the behaviour waits forever.
      receive<Msg>(() => new Promise<undefined>(() => {})),
    ),
    'stuck',
  );
  sched.at(10, () => ref.tell({ type: 'slow', n: 1 }));
  await sched.runUntil(20);
  t.is(sched.unsettled, 1, 'the waiting behaviour is counted');
  node.crash();
  t.is(sched.unsettled, 0);
  await sched.runUntil(3000);
  t.is(sched.unsettled, 0);
});
