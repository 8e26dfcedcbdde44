import test from 'ava';
import { checkEvents, eventsToOperations, historyToJSON, kvModel, renderHistory } from '../../runtime/lincheck/index.ts';
import type { HistoryEvent, KvInput, KvOutput } from '../../runtime/lincheck/index.ts';
import { read, write } from './helpers.ts';

type Ev = HistoryEvent<KvInput, KvOutput>;

test('event-form history converts by position', (t) => {
  const events: Ev[] = [
    { kind: 'call', id: 'a', client: 1, input: { op: 'write', key: 'x', value: '1' } },
    { kind: 'call', id: 'b', client: 2, input: { op: 'read', key: 'x' } },
    { kind: 'return', id: 'b', output: { value: null } },
    { kind: 'return', id: 'a', output: { ok: true } },
    { kind: 'call', id: 'c', client: 2, input: { op: 'write', key: 'x', value: '2' } },
  ];
  const ops = eventsToOperations(events);
  t.deepEqual(ops, [
    { client: 1, input: { op: 'write', key: 'x', value: '1' }, output: { ok: true }, call: 0, return: 3 },
    { client: 2, input: { op: 'read', key: 'x' }, output: { value: null }, call: 1, return: 2 },
    { client: 2, input: { op: 'write', key: 'x', value: '2' }, output: undefined, call: 4, return: undefined },
  ]);
  t.is(checkEvents(kvModel, events).result, 'ok');
});

test('event-form history with explicit times; illegal detected', (t) => {
  const events: Ev[] = [
    { kind: 'call', id: 1, client: 1, input: { op: 'write', key: 'x', value: '1' }, time: 0 },
    { kind: 'return', id: 1, output: { ok: true }, time: 10 },
    { kind: 'call', id: 2, client: 2, input: { op: 'read', key: 'x' }, time: 20 },
    { kind: 'return', id: 2, output: { value: null }, time: 30 },
  ];
  const r = checkEvents(kvModel, events);
  t.is(r.result, 'illegal');
  t.is(r.illegalPartition!.culprit.call, 20);
});

test('malformed event histories are rejected', (t) => {
  t.throws(() => eventsToOperations<KvInput, KvOutput>([{ kind: 'return', id: 1, output: { ok: true } }]));
  t.throws(() =>
    eventsToOperations<KvInput, KvOutput>([
      { kind: 'call', id: 1, client: 1, input: { op: 'read', key: 'x' } },
      { kind: 'call', id: 1, client: 1, input: { op: 'read', key: 'x' } },
    ]),
  );
  t.throws(() =>
    eventsToOperations<KvInput, KvOutput>([
      { kind: 'call', id: 1, client: 1, input: { op: 'read', key: 'x' }, time: 5 },
      { kind: 'return', id: 1, output: { value: null } },
    ]),
  );
});

test('renderHistory gives one line per op sorted by call time', (t) => {
  const ops = [read(2, 'x', '1', 30, 40), write(1, 'x', '1', 0, 10), write(3, 'x', '2', 5, undefined)];
  const text = renderHistory(ops, kvModel);
  t.is(
    text,
    [
      '[ 0, 10]  client 1  write(x, "1") → ok',
      '[ 5,  …]  client 3  write(x, "2") → ?  (pending)',
      '[30, 40]  client 2  read(x) → "1"',
    ].join('\n'),
  );
  const json = JSON.parse(historyToJSON(ops)) as { call: number; return: number | null }[];
  t.deepEqual(
    json.map((r) => [r.call, r.return]),
    [
      [0, 10],
      [5, null],
      [30, 40],
    ],
  );
});
