import test from 'ava';
import { checkOperations, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvOperation } from '../../runtime/lincheck/index.ts';
import { cas, read, write } from './helpers.ts';

const check = (ops: KvOperation[]) => checkOperations(kvModel, ops);

test('a pending write can explain a later read', (t) => {
  t.is(check([write(1, 'x', '1', 0, undefined), read(2, 'x', '1', 50, 60)]).result, 'ok');
});

test('a pending write may also never take effect', (t) => {
  t.is(check([write(1, 'x', '1', 0, undefined), read(2, 'x', null, 50, 60)]).result, 'ok');
  // ...or take effect late, after reads that did not see it.
  t.is(check([write(1, 'x', '1', 0, undefined), read(2, 'x', null, 50, 60), read(2, 'x', '1', 70, 80)]).result, 'ok');
});

test('a pending write cannot justify a read that happened before its call', (t) => {
  const early = read(2, 'x', '1', 0, 10);
  const r = check([early, write(1, 'x', '1', 20, undefined)]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit, early);
});

test('a pending write cannot be undone once observed', (t) => {
  const r = check([
    write(1, 'x', '1', 0, undefined),
    read(2, 'x', '1', 10, 20),
    read(2, 'x', null, 30, 40),
  ]);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit.call, 30);
});

test('output undefined with a return time is pending too', (t) => {
  const op: KvOperation = { client: 1, input: { op: 'write', key: 'x', value: '7' }, output: undefined, call: 0, return: 5 };
  t.is(check([op, read(2, 'x', '7', 50, 60)]).result, 'ok');
  t.is(check([op, read(2, 'x', null, 50, 60)]).result, 'ok');
});

test('pending cas takes effect only if its expectation held', (t) => {
  const base = [write(1, 'x', '0', 0, 10), cas(2, 'x', '0', '1', false, 20, undefined)];
  t.is(check([...base, read(3, 'x', '1', 30, 40)]).result, 'ok');
  t.is(check([...base, read(3, 'x', '0', 30, 40)]).result, 'ok');
  const r = check([write(1, 'x', '5', 0, 10), cas(2, 'x', '0', '1', false, 20, undefined), read(3, 'x', '1', 30, 40)]);
  t.is(r.result, 'illegal');
});

test('pending reads are unconstrained', (t) => {
  t.is(check([read(1, 'x', null, 0, undefined), write(2, 'x', '1', 5, 10), read(3, 'x', '1', 20, 30)]).result, 'ok');
});
