// Cross-check the checker against a brute-force search over all orders on
// small random histories (linearizable or not).
import test from 'ava';
import { checkOperations, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvInput, KvOperation, KvOutput } from '../../runtime/lincheck/index.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { bruteForce } from './helpers.ts';

function randomHistory(seed: number, maxOps: number, pendingRate: number): KvOperation[] {
  const rng = new SeededRng(seed);
  const n = rng.int(1, maxOps);
  const val = () => (rng.chance(0.2) ? null : String(rng.int(0, 2)));
  const ops: KvOperation[] = [];
  for (let i = 0; i < n; i++) {
    const call = rng.int(0, 20);
    const ret = rng.chance(pendingRate) ? undefined : call + rng.int(0, 10);
    const roll = rng.next();
    let input: KvInput;
    let output: KvOutput;
    if (roll < 0.4) {
      input = { op: 'read', key: 'x' };
      output = { value: val() };
    } else if (roll < 0.75) {
      input = { op: 'write', key: 'x', value: val() };
      output = { ok: true };
    } else {
      input = { op: 'cas', key: 'x', expected: val(), value: val() };
      output = { ok: rng.chance(0.5) };
    }
    ops.push({ client: i, input, output: ret === undefined ? undefined : output, call, return: ret });
  }
  return ops;
}

for (const { name, seeds, maxOps, pendingRate, minEach } of [
  { name: 'small histories', seeds: 3000, maxOps: 7, pendingRate: 0.15, minEach: 300 },
  { name: 'pending-heavy histories', seeds: 1500, maxOps: 7, pendingRate: 0.5, minEach: 100 },
  { name: 'larger histories', seeds: 300, maxOps: 9, pendingRate: 0.2, minEach: 20 },
]) {
  test(`agrees with brute force on ${seeds} random ${name}`, (t) => {
    let ok = 0;
    let illegal = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const ops = randomHistory(seed * 7919 + maxOps, maxOps, pendingRate);
      const expected = bruteForce(ops);
      const r = checkOperations(kvModel, ops);
      if ((r.result === 'ok') !== expected) {
        t.fail(`seed ${seed}: checker says ${r.result}, brute force says ${expected ? 'ok' : 'illegal'}`);
        return;
      }
      if (expected) ok++;
      else {
        illegal++;
        t.truthy(r.illegalPartition?.explanation);
      }
    }
    t.log(`${ok} linearizable, ${illegal} not`);
    t.true(ok >= minEach && illegal >= minEach);
  });
}
