import test from 'ava';
import { checkOperations, kvModel, renderHistory } from '../../runtime/lincheck/index.ts';
import type { KvOperation } from '../../runtime/lincheck/index.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { generateKvHistory } from './helpers.ts';
import type { GenOptions } from './helpers.ts';

const configs: { name: string; seeds: number; opts: GenOptions }[] = [
  { name: 'unique values', seeds: 40, opts: { ops: 120, clients: 5, keys: 2, values: 'unique' } },
  { name: 'few values', seeds: 40, opts: { ops: 120, clients: 5, keys: 2, values: 3 } },
  { name: 'one key, long ops', seeds: 30, opts: { ops: 80, clients: 6, keys: 1, values: 4, maxDuration: 60 } },
  { name: 'with pending ops', seeds: 40, opts: { ops: 100, clients: 5, keys: 2, values: 'unique', pendingRate: 0.05 } },
  { name: 'pending, few values', seeds: 30, opts: { ops: 100, clients: 4, keys: 1, values: 3, pendingRate: 0.05 } },
];

/** Replace one completed read's value with one no write ever wrote: always observable. */
function corruptOneRead(ops: KvOperation[], seed: number): { ops: KvOperation[]; victim: KvOperation } | undefined {
  const reads = ops.filter((op) => op.input.op === 'read' && op.return !== undefined);
  if (reads.length === 0) return undefined;
  const target = reads[new SeededRng(seed ^ 0x5bd1e995).int(0, reads.length - 1)];
  const victim: KvOperation = { ...target, output: { value: 'never-written' } };
  return { ops: ops.map((op) => (op === target ? victim : op)), victim };
}

for (const { name, seeds, opts } of configs) {
  test(`random linearizable histories pass: ${name}`, (t) => {
    for (let seed = 1; seed <= seeds; seed++) {
      const ops = generateKvHistory(seed, opts);
      const r = checkOperations(kvModel, ops);
      if (r.result !== 'ok') t.log(`seed ${seed}\n${renderHistory(ops, kvModel)}\n${r.illegalPartition?.explanation}`);
      t.is(r.result, 'ok', `seed ${seed}`);
    }
  });

  test(`random histories with one corrupted read fail: ${name}`, (t) => {
    let named = 0;
    let tried = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const bad = corruptOneRead(generateKvHistory(seed, opts), seed);
      if (!bad) continue;
      tried++;
      const r = checkOperations(kvModel, bad.ops);
      t.is(r.result, 'illegal', `seed ${seed}`);
      if (r.illegalPartition?.culprit === bad.victim) named++;
      t.is(r.illegalPartition!.culprit, bad.victim, `seed ${seed}: ${r.illegalPartition?.explanation}`);
      t.regex(r.illegalPartition!.explanation, /"never-written"/);
    }
    t.true(tried > seeds / 2);
    t.is(named, tried);
  });
}

test('random check is deterministic', (t) => {
  const opts: GenOptions = { ops: 60, clients: 4, keys: 2, values: 2, pendingRate: 0.05 };
  t.deepEqual(generateKvHistory(7, opts), generateKvHistory(7, opts));
  const bad = corruptOneRead(generateKvHistory(7, opts), 7)!;
  t.deepEqual(checkOperations(kvModel, bad.ops), checkOperations(kvModel, bad.ops));
});
