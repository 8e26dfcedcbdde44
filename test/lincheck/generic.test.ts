// The checker with a model other than the KV one, and without partitioning.
import test from 'ava';
import { checkOperations, renderCheckResult } from '../../runtime/lincheck/index.ts';
import type { Model, Operation } from '../../runtime/lincheck/index.ts';

type In = { op: 'inc' } | { op: 'get' };
type Out = { value: number } | { ok: true };

const counter: Model<number, In, Out> = {
  init: () => 0,
  step(state, input, output) {
    if (input.op === 'inc') return { ok: true, state: state + 1 };
    if (output === undefined) return { ok: true, state };
    return { ok: 'value' in output && output.value === state, state };
  },
  hash: (s) => String(s),
  describe: (input, output) =>
    input.op === 'inc' ? 'inc()' : `get() → ${output && 'value' in output ? output.value : '?'}`,
  describeState: (s) => `count = ${s}`,
};

const inc = (client: number, call: number, ret: number | undefined): Operation<In, Out> => ({
  client,
  input: { op: 'inc' },
  output: ret === undefined ? undefined : { ok: true },
  call,
  return: ret,
});
const get = (client: number, value: number, call: number, ret: number): Operation<In, Out> => ({
  client,
  input: { op: 'get' },
  output: { value },
  call,
  return: ret,
});

test('counter: concurrent increments, reads see a consistent count', (t) => {
  const r = checkOperations(counter, [inc(1, 0, 50), inc(2, 0, 50), get(3, 1, 10, 20), get(3, 2, 60, 70)]);
  t.deepEqual(r, { result: 'ok', partitions: 1 });
});

test('counter: pending increments may count or not, but not twice', (t) => {
  t.is(checkOperations(counter, [inc(1, 0, undefined), get(2, 1, 10, 20)]).result, 'ok');
  t.is(checkOperations(counter, [inc(1, 0, undefined), get(2, 0, 10, 20)]).result, 'ok');
  const r = checkOperations(counter, [inc(1, 0, undefined), get(2, 2, 10, 20)]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.key, 0);
  t.regex(r.illegalPartition!.explanation, /get\(\) → 2 by client 2 at \[10, 20\]/);
  t.regex(r.illegalPartition!.explanation, /count = 0 or count = 1|count = 1 or count = 0/);
  t.regex(renderCheckResult(r, counter), /^linearizability: illegal \(1 partition\)/);
});
