// The simulator's event queue: order by (time, queue order), cancellation,
// and the "soon" queue — the ground every simulated run stands on.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';

test('events run in time order, ties in the order they were queued', async (t) => {
  const s = new Scheduler();
  const ran: string[] = [];
  s.at(20, () => ran.push('b@20'));
  s.at(10, () => ran.push('a@10'));
  s.at(20, () => ran.push('c@20'));
  s.at(10, () => {
    ran.push('d@10');
    s.queueImmediate(() => ran.push('d-soon'));
    s.at(s.now, () => ran.push('d-later-same-instant'));
  });
  const reached = await s.runUntil(100);
  t.deepEqual(ran, ['a@10', 'd@10', 'd-soon', 'd-later-same-instant', 'b@20', 'c@20']);
  t.is(reached, 100);
  t.is(s.eventsRun, 5);
});

test('cancelled events never run, nor advance time, nor count; cancelling twice or after running is harmless', async (t) => {
  const s = new Scheduler();
  const ran: number[] = [];
  const late = s.at(50, () => ran.push(50));
  const e = s.at(10, () => ran.push(10));
  s.cancel(e);
  s.cancel(e);
  const early = s.at(5, () => ran.push(5));
  await s.runUntil(20);
  s.cancel(early); // already ran
  t.deepEqual(ran, [5]);
  t.is(s.eventsRun, 1);
  s.cancel(late);
  await s.runUntil(100);
  t.deepEqual(ran, [5]);
});

test('many cancellations: the rest still run exactly once, in order', async (t) => {
  const s = new Scheduler();
  const rng = new SeededRng(42);
  const ran: { time: number; id: number }[] = [];
  const kept: { time: number; id: number }[] = [];
  for (let round = 0; round < 20; round++) {
    const events = [];
    for (let i = 0; i < 500; i++) {
      const time = s.now + rng.next() * 1000;
      const id = round * 1000 + i;
      events.push({ e: s.at(time, () => ran.push({ time: s.now, id })), time, id });
    }
    // Cancel most of them (as ask timeouts are): the heap is swept meanwhile.
    for (const x of events) {
      if (rng.next() < 0.8) s.cancel(x.e);
      else kept.push({ time: x.time, id: x.id });
    }
    await s.runUntil(s.now + 300);
  }
  await s.runUntil(Infinity);
  kept.sort((a, b) => a.time - b.time || a.id - b.id);
  t.deepEqual(ran, kept);
  t.is(s.pending, 0);
});
