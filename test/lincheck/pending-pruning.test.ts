// The pruning of pending operations (kvModel.simplifyPending) and the search's
// reductions (symmetric pending ops, read-only ops taken greedily) must never
// change a verdict. Each rule gets a direct test, and random small histories
// rich in pending writes, CASes and failed CASes are cross-checked against a
// brute-force search, which uses none of them.
import test, { type ExecutionContext } from 'ava';
import { checkOperations, isPending, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvInput, KvOperation, KvOutput, KvValue } from '../../runtime/lincheck/index.ts';
import { UNREAD_VALUE } from '../../runtime/lincheck/kv-simplify.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { bruteForce, cas, generateKvHistory, read, write } from './helpers.ts';

const simplify = (ops: KvOperation[]) => kvModel.simplifyPending!(ops);

/** kvModel without its speed-up hooks: the plain Wing–Gong–Lowe search. */
const plainKvModel = { ...kvModel, simplifyPending: undefined, inputKey: undefined, isReadOnly: undefined };

test('rule 1: a pending read is dropped', (t) => {
  const ops = [read(1, 'x', null, 0, undefined), write(2, 'x', '1', 0, 5)];
  t.deepEqual(simplify(ops), [null, ops[1]]);
});

test('rule 2: a pending write nobody can observe is dropped', (t) => {
  const ops = [write(1, 'x', 'lost', 0, undefined), write(2, 'x', '1', 5, 10), read(3, 'x', '1', 20, 30)];
  t.deepEqual(simplify(ops), [null, ops[1], ops[2]]);
});

test('rule 2: ...but not when its value is read, or a pending CAS expects it', (t) => {
  const readBack = [write(1, 'x', 'v', 0, undefined), read(3, 'x', 'v', 20, 30)];
  t.is(simplify(readBack)[0], readBack[0]);
  const expected = [write(1, 'x', 'v', 0, undefined), cas(2, 'x', 'v', 'w', true, 5, undefined), read(3, 'x', 'w', 20, 30)];
  t.is(simplify(expected)[0], expected[0]);
});

test('rule 2 does not apply when a failed CAS may follow; rule 5 renames the value instead', (t) => {
  // The pending write is what lets the CAS fail: dropping it would be wrong.
  const ops = [write(1, 'x', 'e', 0, 5), write(2, 'x', 'lost', 6, undefined), cas(3, 'x', 'e', 'f', false, 10, 20)];
  const s = simplify(ops);
  t.is(s[1]?.input.op, 'write');
  t.is((s[1]?.input as { value: KvValue }).value, UNREAD_VALUE);
  t.is(checkOperations(kvModel, ops).result, 'ok');
  t.is(checkOperations(kvModel, [ops[0], ops[2]]).result, 'illegal');
});

test('rule 3: a pending CAS to an unobserved value is dropped unless a failed CAS on its expectation may follow', (t) => {
  const base = [write(1, 'x', 'e', 0, 5), cas(2, 'x', 'e', 'lost', false, 6, undefined)];
  t.is(simplify([...base, read(3, 'x', 'e', 10, 20)])[1], null);
  const s = simplify([...base, cas(3, 'x', 'e', 'f', false, 10, 20)]);
  t.not(s[1], null);
  t.is(checkOperations(kvModel, [...base, cas(3, 'x', 'e', 'f', false, 10, 20)]).result, 'ok');
});

test('rule 4: a pending CAS whose expected value is never written is dropped', (t) => {
  const ops = [cas(1, 'x', 'ghost', 'v', false, 0, undefined), read(2, 'x', 'v', 10, 20)];
  t.deepEqual(simplify(ops), [null, ops[1]]);
  t.is(checkOperations(kvModel, ops).result, 'illegal');
});

test('drops cascade: a dropped CAS can make a write unobservable', (t) => {
  // The write of "a" is wanted only by the CAS, which is dropped by rule 3.
  const ops = [write(1, 'x', 'a', 0, undefined), cas(2, 'x', 'a', 'b', false, 1, undefined), read(3, 'x', null, 10, 20)];
  t.deepEqual(simplify(ops), [null, null, ops[2]]);
});

test('completed operations come back unchanged, key by key', (t) => {
  const ops = generateKvHistory(3, { ops: 200, clients: 6, keys: 3, values: 4, pendingRate: 0.3 });
  const s = simplify(ops);
  ops.forEach((op, i) => {
    if (!isPending(op)) t.is(s[i], op);
    else if (s[i] !== null) t.is(s[i]!.input.key, op.input.key);
  });
});

/** Small one-key histories built to exercise the rules: many pending writes and CASes, failed CASes, unobserved values. */
function pendingRichHistory(seed: number): KvOperation[] {
  const rng = new SeededRng(seed);
  const n = rng.int(2, 8);
  const pool = rng.int(2, 6);
  const val = (): KvValue => (rng.chance(0.15) ? null : `v${rng.int(0, pool - 1)}`);
  const pendingRate = [0.2, 0.5, 0.8][rng.int(0, 2)];
  const ops: KvOperation[] = [];
  for (let i = 0; i < n; i++) {
    const call = rng.int(0, 25);
    const ret = rng.chance(pendingRate) ? undefined : call + rng.int(0, 12);
    const roll = rng.next();
    let input: KvInput;
    let output: KvOutput;
    if (roll < 0.35) {
      input = { op: 'read', key: 'x' };
      output = { value: val() };
    } else if (roll < 0.7) {
      input = { op: 'write', key: 'x', value: val() };
      output = { ok: true };
    } else {
      input = { op: 'cas', key: 'x', expected: val(), value: val() };
      output = { ok: rng.chance(0.4) };
    }
    ops.push({ client: i, input, output: ret === undefined ? undefined : output, call, return: ret });
  }
  return ops;
}

test('simplification preserves linearizability (brute force on both sides), 4000 random histories', (t) => {
  let ok = 0;
  let illegal = 0;
  let changed = 0;
  for (let seed = 1; seed <= 4000; seed++) {
    const ops = pendingRichHistory(seed * 104729 + 17);
    const simplified = simplify(ops).filter((op): op is KvOperation => op !== null);
    const expected = bruteForce(ops);
    if (simplified.length !== ops.length || simplified.some((op, i) => op !== ops[i])) changed++;
    if (bruteForce(simplified) !== expected) {
      t.fail(`seed ${seed}: simplification changed the verdict (original ${expected ? 'ok' : 'illegal'})\n${JSON.stringify(ops)}`);
      return;
    }
    if (expected) ok++;
    else illegal++;
  }
  t.log(`${ok} linearizable, ${illegal} not, ${changed} simplified`);
  t.true(ok >= 500 && illegal >= 500 && changed >= 1000);
});

/**
 * Compare the checker with brute force on `seeds` histories; fail on the
 * first disagreement, and demand at least `atLeast` of each verdict (so a
 * generator drifting to one side cannot make the comparison vacuous).
 */
function agreesWithBruteForce(t: ExecutionContext, seeds: number, make: (seed: number) => KvOperation[], atLeast: number): void {
  let ok = 0;
  let illegal = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const ops = make(seed);
    const expected = bruteForce(ops);
    const r = checkOperations(kvModel, ops);
    if ((r.result === 'ok') !== expected) {
      t.fail(`seed ${seed}: checker says ${r.result}, brute force says ${expected ? 'ok' : 'illegal'}\n${JSON.stringify(ops)}`);
      return;
    }
    if (expected) ok++;
    else illegal++;
  }
  t.log(`${ok} linearizable, ${illegal} not`);
  t.true(ok >= atLeast && illegal >= atLeast);
}

test('the optimized checker agrees with brute force on 4000 random pending-rich histories', (t) => {
  agreesWithBruteForce(t, 4000, (seed) => pendingRichHistory(seed * 7919 + 3), 500);
});

/** A legal history with one random operation's output (or pending status) changed: often still legal, often not. */
function perturbed(seed: number, opts: Parameters<typeof generateKvHistory>[1]): KvOperation[] {
  const ops = generateKvHistory(seed, opts);
  const rng = new SeededRng(seed ^ 0x2545f491);
  const i = rng.int(0, ops.length - 1);
  const op = ops[i];
  const values: KvValue[] = [null, ...ops.flatMap((o) => ('value' in o.input ? [o.input.value] : []))];
  const other = values[rng.int(0, values.length - 1)];
  let changed: KvOperation;
  if (isPending(op)) changed = { ...op, return: op.call + rng.int(0, 30), output: op.input.op === 'read' ? { value: other } : { ok: rng.chance(0.5) } };
  else if (op.input.op === 'read') changed = { ...op, output: { value: other } };
  else if (op.input.op === 'cas') changed = { ...op, output: { ok: !(op.output as { ok: boolean }).ok } };
  else changed = { ...op, output: undefined, return: undefined };
  return ops.map((o, j) => (j === i ? changed : o));
}

test('the optimized checker agrees with brute force on perturbed legal histories of 8 ops', (t) => {
  agreesWithBruteForce(t, 1500, (seed) => perturbed(seed, { ops: 8, clients: 4, keys: 1, values: 3, pendingRate: 0.4, maxDuration: 12 }), 100);
});

test('the optimized checker agrees with the plain search on 300 perturbed histories of 40 ops', (t) => {
  let ok = 0;
  let illegal = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const values = seed % 2 === 0 ? ('unique' as const) : 3;
    const ops = perturbed(seed, { ops: 40, clients: 5, keys: 1, values, pendingRate: 0.35, maxDuration: 15 });
    // A step budget, not a time limit: which seeds get compared must not depend on the machine.
    const plain = checkOperations(plainKvModel, ops, { maxSteps: 500_000 });
    if (plain.result === 'unknown') continue;
    const r = checkOperations(kvModel, ops);
    t.is(r.result, plain.result, `seed ${seed}`);
    if (plain.result === 'ok') ok++;
    else illegal++;
  }
  t.log(`${ok} linearizable, ${illegal} not`);
  t.true(ok >= 50 && illegal >= 50);
});
