import test from 'ava';
import { checkOperations, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvInput, KvOutput, KvState, Model } from '../../runtime/lincheck/index.ts';
import { generateKvHistory } from './helpers.ts';

/**
 * "Quickly" as a search budget in steps, not milliseconds, so the verdict does not depend on
 * how loaded the machine is: these histories need under 6000 steps per partition; a search
 * that blows up exhausts the budget and answers `unknown`.
 */
const STEPS = 100_000;

test('2000 ops, 8 clients, 4 keys: checks quickly', (t) => {
  const ops = generateKvHistory(2024, { ops: 2000, clients: 8, keys: 4, values: 'unique', maxDuration: 30 });
  t.is(ops.length, 2000);
  const start = performance.now();
  const r = checkOperations(kvModel, ops, { maxSteps: STEPS });
  t.log(`checked in ${Math.round(performance.now() - start)} ms`);
  t.deepEqual(r, { result: 'ok', partitions: 4 });
});

test('2000 ops on one key with few values and pending ops: checks quickly', (t) => {
  const ops = generateKvHistory(99, { ops: 2000, clients: 8, keys: 1, values: 3, pendingRate: 0.01, maxDuration: 30 });
  const start = performance.now();
  const r = checkOperations(kvModel, ops, { maxSteps: STEPS });
  t.log(`checked in ${Math.round(performance.now() - start)} ms`);
  t.is(r.result, 'ok');
});

test('timeout yields unknown', (t) => {
  // A deliberately slow model: the search cannot get far within the deadline.
  const slow: Model<KvState, KvInput, KvOutput> = {
    ...kvModel,
    step(state, input, output) {
      const until = Date.now() + 1;
      while (Date.now() < until) {
        // spin
      }
      return kvModel.step(state, input, output);
    },
  };
  const ops = generateKvHistory(5, { ops: 3000, clients: 8, keys: 1, values: 'unique' });
  const r = checkOperations(slow, ops, { timeoutMs: 50 });
  t.deepEqual(r, { result: 'unknown', partitions: 1 });
});
