// Pure supervision decisions: every strategy x restart type x exit kind, and
// the restart-intensity window at its edges.
import test from 'ava';
import { addRestart, decide, wantsRestart, type ChildView, type RestartType, type StrategyKind, type SupervisorStrategy } from '../../runtime/supervision/decide.ts';

const s = (kind: StrategyKind, intensity = 3, periodMs = 1000): SupervisorStrategy => ({ kind, intensity, periodMs });

test('wantsRestart: permanent always, transient only after a crash, temporary never', (t) => {
  const table: [RestartType, 'normal' | 'crash', boolean][] = [
    ['permanent', 'crash', true],
    ['permanent', 'normal', true],
    ['transient', 'crash', true],
    ['transient', 'normal', false],
    ['temporary', 'crash', false],
    ['temporary', 'normal', false],
  ];
  for (const [r, exit, want] of table) t.is(wantsRestart(r, exit), want, `${r} after ${exit}`);
});

test('addRestart: up to `intensity` restarts inside the period are allowed, one more exceeds', (t) => {
  const st = s('one_for_one', 2, 1000);
  let log: number[] = [];
  let r = addRestart(log, 0, st);
  t.false(r.exceeded);
  log = r.log;
  r = addRestart(log, 10, st);
  t.false(r.exceeded);
  log = r.log;
  r = addRestart(log, 20, st);
  t.true(r.exceeded);
  t.deepEqual(r.log, [0, 10, 20]);
});

test('addRestart: entries exactly periodMs old have left the window; one ms younger still count', (t) => {
  const st = s('one_for_one', 1, 1000);
  t.false(addRestart([0], 1000, st).exceeded, 'age == period: forgotten');
  t.deepEqual(addRestart([0], 1000, st).log, [1000]);
  t.true(addRestart([1], 1000, st).exceeded, 'age 999 < period: counted');
});

test('addRestart: intensity 0 gives up at the first restart; input log is not mutated', (t) => {
  const log = [5];
  t.true(addRestart([], 0, s('one_for_one', 0)).exceeded);
  const r = addRestart(log, 6, s('one_for_one', 5));
  t.deepEqual(log, [5]);
  t.deepEqual(r.log, [5, 6]);
});

test('addRestart: old restarts are forgotten so a slow trickle never escalates', (t) => {
  const st = s('one_for_one', 1, 100);
  let log: number[] = [];
  for (let now = 0; now < 10_000; now += 100) {
    const r = addRestart(log, now, st);
    t.false(r.exceeded, `at ${now}`);
    log = r.log;
  }
  t.is(log.length, 1);
});

const kids: ChildView[] = [
  { name: 'a', restart: 'permanent' },
  { name: 'b', restart: 'transient' },
  { name: 'c', restart: 'temporary' },
  { name: 'd', restart: 'permanent' },
];

test('one_for_one restarts only the failed child', (t) => {
  for (const name of ['a', 'b', 'd']) {
    const d = decide(s('one_for_one'), kids, name, 'crash', [], 0);
    t.deepEqual(d, { action: 'restart', stop: [], start: [name], restartLog: [0] });
  }
});

test('one_for_all stops all siblings newest first and restarts all but temporary ones, in start order', (t) => {
  const d = decide(s('one_for_all'), kids, 'b', 'crash', [], 7);
  t.deepEqual(d, { action: 'restart', stop: ['d', 'c', 'a'], start: ['a', 'b', 'd'], restartLog: [7] });
});

test('rest_for_one stops and restarts the failed child and those started after it', (t) => {
  t.deepEqual(decide(s('rest_for_one'), kids, 'b', 'crash', [], 0), { action: 'restart', stop: ['d', 'c'], start: ['b', 'd'], restartLog: [0] });
  t.deepEqual(decide(s('rest_for_one'), kids, 'd', 'crash', [], 0), { action: 'restart', stop: [], start: ['d'], restartLog: [0] });
  t.deepEqual(decide(s('rest_for_one'), kids, 'a', 'crash', [], 0), { action: 'restart', stop: ['d', 'c', 'b'], start: ['a', 'b', 'd'], restartLog: [0] });
});

test('every strategy x restart type x exit kind', (t) => {
  for (const kind of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
    for (const restart of ['permanent', 'transient', 'temporary'] as const) {
      for (const exit of ['normal', 'crash'] as const) {
        const children: ChildView[] = [
          { name: 'x', restart: 'permanent' },
          { name: 'f', restart },
          { name: 'y', restart: 'permanent' },
        ];
        const d = decide(s(kind), children, 'f', exit, [1], 2);
        const label = `${kind}/${restart}/${exit}`;
        if (!wantsRestart(restart, exit)) {
          t.deepEqual(d, { action: 'remove', restartLog: [1] }, label);
          continue;
        }
        t.is(d.action, 'restart', label);
        if (d.action !== 'restart') continue;
        t.deepEqual(d.restartLog, [1, 2], label);
        const expect = { one_for_one: [[], ['f']], one_for_all: [['y', 'x'], ['x', 'f', 'y']], rest_for_one: [['y'], ['f', 'y']] }[kind];
        t.deepEqual([d.stop, d.start], expect, label);
      }
    }
  }
});

test('a removal does not count against the intensity', (t) => {
  const d = decide(s('one_for_one', 0), kids, 'c', 'crash', [], 0);
  t.deepEqual(d, { action: 'remove', restartLog: [] });
});

test('escalates when the restart would exceed the intensity, for every strategy', (t) => {
  for (const kind of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
    const d = decide(s(kind, 2, 1000), kids, 'a', 'crash', [100, 200], 300);
    t.is(d.action, 'escalate', kind);
    t.deepEqual(d.restartLog, [100, 200, 300]);
    if (d.action === 'escalate') t.regex(d.reason, /max restart intensity \(2 in 1000 ms\) restarting a/);
    // The same history, but older than the period: allowed.
    t.is(decide(s(kind, 2, 1000), kids, 'a', 'crash', [100, 200], 1200).action, 'restart', `${kind} after the window`);
  }
});

test('an unknown child is simply removed', (t) => {
  t.deepEqual(decide(s('one_for_all'), kids, 'zzz', 'crash', [3], 4), { action: 'remove', restartLog: [3] });
});
