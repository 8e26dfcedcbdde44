// The Raft host's tick timer keeps to the clock (runtime/raft-host/host.ts ticksDue).
import test from 'ava';
import { ticksDue } from '../../runtime/raft-host/host.ts';

/** Fire a timer re-armed `period` ms after each firing; return Raft ticks counted per `tickMs`. */
function run(period: number, tickMs: number, firings: number): number {
  let due = 0;
  let now = 1000;
  let ticks = 0;
  for (let i = 0; i < firings; i++) {
    now += period;
    const r = ticksDue(due, now, tickMs);
    due = r.due;
    ticks += r.ticks;
  }
  return ticks;
}

test('timers that fire on time count one tick each', (t) => {
  t.is(run(5, 5, 1000), 1000);
});

test('a timer that runs 15% slow is made up for: ticks follow the clock', (t) => {
  const ticks = run(5.75, 5, 1000);
  t.true(Math.abs(ticks - (1000 * 5.75) / 5) <= 2, `${ticks}`);
});

test('at most one extra tick per firing: a timer at half speed or slower never counts faster than the clock', (t) => {
  t.is(run(10, 5, 100), 199, 'twice the period: two ticks each after the first, the clock exactly');
  t.true(run(15, 5, 100) < 300, 'three times the period: slower than the clock');
  t.true(run(15, 5, 100) >= 100);
});

test('a stall counts as one tick, not as the time it lasted', (t) => {
  let r = ticksDue(0, 1000, 5);
  r = ticksDue(r.due, 1005, 5);
  t.is(r.ticks, 1);
  r = ticksDue(r.due, 1500, 5); // the thread was stuck for half a second
  t.is(r.ticks, 1);
  t.is(r.due, 1505);
  t.is(ticksDue(r.due, 1505, 5).ticks, 1);
});

test('a timer firing early does not pull the schedule ahead of the clock', (t) => {
  let r = ticksDue(0, 1000, 5);
  r = ticksDue(r.due, 1002, 5);
  t.is(r.ticks, 1);
  t.true(r.due <= 1007);
});
