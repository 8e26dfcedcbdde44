import test from 'ava';
import leaderCrash from '../../fixtures/scenarios/leader-crash.ts';
import { runScenario } from '../../actors/node/sim/run.ts';

test('same seed gives a byte-identical trace; another seed differs', async (t) => {
  const a = await runScenario(leaderCrash, { seed: 11, trace: true, durationMs: 3000 });
  const b = await runScenario(leaderCrash, { seed: 11, trace: true, durationMs: 3000 });
  const c = await runScenario(leaderCrash, { seed: 12, trace: true, durationMs: 3000 });
  t.true(a.ok, a.failures.join('\n'));
  t.true(a.trace.lines.length > 1000);
  t.is(a.trace.text(), b.trace.text());
  t.not(a.trace.text(), c.trace.text());
  // The trace uses the inspection-event envelope.
  const first = JSON.parse(a.trace.lines[0]) as Record<string, unknown>;
  for (const k of ['v', 'seq', 'ts', 'thread', 'kind', 'path', 'vt']) t.true(k in first, k);
  t.true(a.trace.lines.some((l) => l.includes('"kind":"fault"')));
  t.true(a.trace.lines.some((l) => l.includes('"kind":"crashed"')));
});
