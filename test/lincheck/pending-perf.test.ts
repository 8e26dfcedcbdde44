// Histories with many pending operations: legal ones must be accepted and
// illegal ones refuted (`illegal`, never `unknown`) within a fixed step budget.
import test from 'ava';
import { checkOperations, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvOperation } from '../../runtime/lincheck/index.ts';
import { cas, generateKvHistory, read, write } from './helpers.ts';

/**
 * The search budget in steps, not milliseconds, so the verdict does not
 * depend on how loaded the machine is. Each case needs well under this;
 * the checker before the pending-operation rules ran out on most of them.
 */
const STEPS = 2_000_000;

function check(ops: KvOperation[]) {
  return checkOperations(kvModel, ops, { maxSteps: STEPS });
}

/** A write of "a", then of "b", then a read returning "a": stale whatever the pending writes did (none writes "a"). */
function staleRead(at: number): { ops: KvOperation[]; stale: KvOperation } {
  const stale = read(2, 'x', 'a', at + 4, at + 5);
  return { ops: [write(1, 'x', 'a', at, at + 1), write(1, 'x', 'b', at + 2, at + 3), stale], stale };
}

const illegalCases: Record<string, () => KvOperation[]> = {
  '40 pending writes of values nobody reads, interleaved with completed writes and reads'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 40; i++) {
      ops.push(write(100 + i, 'x', `p${i}`, 10 * i, undefined));
      ops.push(write(1, 'x', `c${i}`, 10 * i + 1, 10 * i + 3), read(2, 'x', `c${i}`, 10 * i + 4, 10 * i + 6));
    }
    return ops;
  },
  '35 pending writes all called at 0'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 35; i++) ops.push(write(100 + i, 'x', `p${i}`, 0, undefined));
    for (let i = 0; i < 10; i++) ops.push(write(1, 'x', `c${i}`, 10 * i + 1, 10 * i + 3), read(2, 'x', `c${i}`, 10 * i + 4, 10 * i + 6));
    return ops;
  },
  '30 pending writes, each value read back later'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 30; i++) ops.push(write(100 + i, 'x', `p${i}`, i, undefined));
    for (let i = 0; i < 30; i++) ops.push(read(2, 'x', `p${i}`, 100 + 10 * i, 105 + 10 * i));
    return ops;
  },
  '30 pending writes of three values, read back'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 30; i++) ops.push(write(100 + i, 'x', String(i % 3), i, undefined));
    for (let i = 0; i < 20; i++) ops.push(read(2, 'x', String(i % 3), 100 + 10 * i, 105 + 10 * i));
    return ops;
  },
  '30 pending writes that failed CASes depend on'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 30; i++) ops.push(write(100 + i, 'x', `p${i}`, i, undefined));
    // Each CAS expects the value just written, so it can only fail if some pending write came between.
    for (let i = 0; i < 20; i++) {
      ops.push(write(1, 'x', `c${i}`, 100 + 10 * i, 101 + 10 * i), cas(2, 'x', `c${i}`, `d${i}`, false, 102 + 10 * i, 103 + 10 * i));
    }
    return ops;
  },
  // Pending CASes whose expected values pending writes produce: nothing can be
  // pruned, only the symmetry reduction helps. 20 + 20 takes seconds (a known
  // limit), 12 + 12 well under a second.
  '12 pending CASes and 12 pending writes on four shared values'() {
    const ops: KvOperation[] = [];
    for (let i = 0; i < 12; i++) {
      ops.push(write(100 + i, 'x', String(i % 4), i, undefined), cas(200 + i, 'x', String(i % 4), String((i + 1) % 4), false, i, undefined));
    }
    for (let i = 0; i < 20; i++) ops.push(read(2, 'x', String(i % 4), 100 + 10 * i, 105 + 10 * i));
    return ops;
  },
};

for (const [name, make] of Object.entries(illegalCases)) {
  test(`illegal, within the budget: ${name}, then a stale read`, (t) => {
    const { ops: tail, stale } = staleRead(1000);
    const result = check([...make(), ...tail]);
    t.is(result.result, 'illegal');
    t.is(result.illegalPartition?.culprit, stale);
  });

  test(`legal, within the budget: ${name}, without the stale read`, (t) => {
    const result = check([...make(), ...staleRead(1000).ops.slice(0, 2)]);
    t.is(result.result, 'ok');
  });
}

for (const values of ['unique', 3] as const) {
  test(`1500 ops on one key, 30% pending, ${values} values: ok within the budget`, (t) => {
    const ops = generateKvHistory(7, { ops: 1500, clients: 10, keys: 1, values, pendingRate: 0.3, maxDuration: 30 });
    const result = check(ops);
    t.is(result.result, 'ok');
  });

  // Refuting a read late in a long history means exhausting every order of
  // what precedes it, so these are smaller (the 1500-op versions run out of
  // time, as they did before, with a single read wrong).
  const corrupted = values === 'unique' ? { ops: 400, pendingRate: 0.3 } : { ops: 400, pendingRate: 0.05 };
  test(`${corrupted.ops} ops on one key, ${corrupted.pendingRate * 100}% pending, ${values} values, one corrupted read: illegal within the budget`, (t) => {
    const ops = generateKvHistory(7, { ...corrupted, clients: 10, keys: 1, values, maxDuration: 30 });
    const reads = ops.filter((op) => op.input.op === 'read' && op.return !== undefined);
    const target = reads[Math.floor(reads.length * 0.8)];
    const victim: KvOperation = { ...target, output: { value: 'never-written' } };
    const result = check(ops.map((op) => (op === target ? victim : op)));
    t.is(result.result, 'illegal');
    t.is(result.illegalPartition?.culprit, victim);
  });
}
