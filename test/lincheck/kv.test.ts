import test from 'ava';
import { checkOperations, kvModel, renderCheckResult } from '../../runtime/lincheck/index.ts';
import type { KvOperation } from '../../runtime/lincheck/index.ts';
import { cas, read, write } from './helpers.ts';

const check = (ops: KvOperation[]) => checkOperations(kvModel, ops);

// ---------- linearizable ----------

test('empty history is ok', (t) => {
  t.deepEqual(check([]), { result: 'ok', partitions: 0 });
});

test('sequential history is ok', (t) => {
  const r = check([
    read(1, 'x', null, 0, 5),
    write(1, 'x', '1', 10, 20),
    read(2, 'x', '1', 30, 40),
    write(2, 'x', '2', 50, 60),
    read(1, 'x', '2', 70, 80),
    write(1, 'x', null, 90, 95),
    read(3, 'x', null, 100, 110),
  ]);
  t.is(r.result, 'ok');
  t.is(r.partitions, 1);
});

test('concurrent overlapping writes: reads may see either, consistently', (t) => {
  const writes = [write(1, 'x', '1', 0, 100), write(2, 'x', '2', 10, 90)];
  for (const [a, b] of [
    ['1', '1'],
    ['2', '2'],
    ['1', '2'],
    ['2', '1'],
  ]) {
    // Reads during the writes may see old or either new value, in any order
    // consistent with some order of the two writes.
    const r = check([...writes, read(3, 'x', a, 20, 30), read(3, 'x', b, 40, 50)]);
    t.is(r.result, 'ok', `${a} then ${b}`);
  }
  t.is(check([...writes, read(3, 'x', null, 20, 30), read(4, 'x', '2', 25, 35), read(3, 'x', '1', 40, 50)]).result, 'ok');
});

test('touching intervals are concurrent', (t) => {
  // write returns at 10, read is called at 10: the read may precede the write.
  t.is(check([write(1, 'x', '1', 0, 10), read(2, 'x', null, 10, 20)]).result, 'ok');
});

test('cas chain is ok', (t) => {
  const r = check([
    write(1, 'x', '0', 0, 10),
    cas(1, 'x', '0', '1', true, 20, 30),
    cas(2, 'x', '0', '9', false, 25, 35),
    cas(3, 'x', '1', '2', true, 40, 50),
    cas(1, 'x', '1', '3', false, 60, 70),
    read(2, 'x', '2', 80, 90),
  ]);
  t.is(r.result, 'ok');
});

test('concurrent cas race: exactly one wins', (t) => {
  const r = check([
    write(1, 'x', '0', 0, 10),
    cas(1, 'x', '0', '1', true, 20, 40),
    cas(2, 'x', '0', '2', false, 20, 40),
    read(3, 'x', '1', 50, 60),
  ]);
  t.is(r.result, 'ok');
});

test('independent keys partition separately', (t) => {
  const r = check([write(1, 'x', '1', 0, 10), write(2, 'y', '2', 0, 10), read(1, 'x', '1', 20, 30), read(2, 'y', '2', 20, 30)]);
  t.deepEqual(r, { result: 'ok', partitions: 2 });
});

// ---------- not linearizable ----------

test('stale read after a completed write is caught', (t) => {
  const stale = read(2, 'x', '1', 120, 140);
  const r = check([write(1, 'x', '1', 0, 10), write(1, 'x', '2', 20, 30), stale]);
  t.is(r.result, 'illegal');
  const bad = r.illegalPartition!;
  t.is(bad.culprit, stale);
  t.is(bad.key, 'x');
  t.regex(bad.explanation, /read\(x\) → "1" by client 2 at \[120, 140\]/);
  t.regex(bad.explanation, /x = "2"/);
  t.deepEqual(
    bad.longestLinearizablePrefix.map((op) => op.input),
    [
      { op: 'write', key: 'x', value: '1' },
      { op: 'write', key: 'x', value: '2' },
    ],
  );
  t.log(renderCheckResult(r, kvModel));
});

test('read of a value never written is caught; explanation lists the possible values', (t) => {
  const bogus = read(2, 'x', '3', 120, 140);
  const r = check([write(1, 'x', '1', 0, 100), write(3, 'x', '2', 0, 100), bogus]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit, bogus);
  const e = r.illegalPartition!.explanation;
  t.regex(e, /read\(x\) → "3" by client 2 at \[120, 140\]/);
  t.regex(e, /x = "1"/);
  t.regex(e, /x = "2"/);
  t.log(e);
});

test('two cas from the same expected value cannot both succeed', (t) => {
  const a = cas(1, 'x', '0', '1', true, 20, 40);
  const b = cas(2, 'x', '0', '2', true, 25, 45);
  const r = check([write(1, 'x', '0', 0, 10), a, b]);
  t.is(r.result, 'illegal');
  const bad = r.illegalPartition!;
  t.true(bad.culprit === a || bad.culprit === b);
  t.regex(bad.explanation, /cas\(x, "0" → "[12]"\) → ok by client [12]/);
  t.log(bad.explanation);
});

test('a newer read followed in real time by an older read is caught', (t) => {
  const older = read(4, 'x', '1', 30, 40);
  const r = check([
    write(1, 'x', '1', 0, 5),
    write(2, 'x', '2', 0, 100), // concurrent with both reads
    read(3, 'x', '2', 10, 20),
    older,
  ]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit, older);
  t.regex(r.illegalPartition!.explanation, /read\(x\) → "1" by client 4 at \[30, 40\]/);
  t.regex(r.illegalPartition!.explanation, /x = "2"/);
});

test('lost write is caught', (t) => {
  // Client 1's write is acknowledged, yet a later read still sees the initial state.
  const lost = read(2, 'x', null, 30, 40);
  const r = check([write(1, 'y', 'a', 0, 5), write(1, 'x', '1', 10, 20), lost, read(2, 'y', 'a', 30, 40)]);
  t.is(r.result, 'illegal');
  t.is(r.partitions, 2);
  t.is(r.illegalPartition!.key, 'x');
  t.is(r.illegalPartition!.culprit, lost);
  t.regex(r.illegalPartition!.explanation, /read\(x\) → null by client 2 at \[30, 40\]/);
});

test('lost write among concurrent writes is caught', (t) => {
  // Two sequential acknowledged writes, then reads alternate between them: the
  // second write appears to have been undone.
  const r = check([
    write(1, 'x', '1', 0, 10),
    write(2, 'x', '2', 20, 30),
    read(3, 'x', '2', 40, 50),
    read(3, 'x', '1', 60, 70),
  ]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit.call, 60);
});

test('failed cas that should have succeeded is caught', (t) => {
  const c = cas(2, 'x', '1', '2', false, 20, 30);
  const r = check([write(1, 'x', '1', 0, 10), c]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit, c);
  t.regex(r.illegalPartition!.explanation, /cas\(x, "1" → "2"\) → failed by client 2/);
});
