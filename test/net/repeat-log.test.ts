// Aggregation of repeated warnings, under virtual time.
import test from 'ava';
import { RepeatAggregator, RepeatLog, formatSpan } from '../../runtime/net/log.ts';
import type { LogRecord } from '../../runtime/net/log.ts';
import { MemLog } from './helpers.ts';
import { VirtualClock } from './virtual-clock.ts';

const KIND = 'refused handshake';

function agg(opts = {}) {
  const clock = new VirtualClock();
  const out: LogRecord[] = [];
  const a = new RepeatAggregator(clock.now, (r) => out.push(r), opts);
  /** Advance to `to`, ticking at every due time as the shell's timer would. */
  const runTo = (to: number) => {
    for (let due = a.nextDue(); due !== null && due <= to; due = a.nextDue()) {
      clock.advanceTo(Math.max(clock.t, due));
      a.tick();
    }
    clock.advanceTo(to);
  };
  return { a, clock, out, runTo };
}

test('200 refusals in a burst: the first at once, then one summary with the count when the window closes', (t) => {
  const { a, clock, out, runTo } = agg();
  a.note('warn', KIND, 'bad api key', '127.0.0.1', { remote: '127.0.0.1:40000', reason: 'bad api key' });
  t.deepEqual(out, [{ level: 'warn', msg: KIND, fields: { remote: '127.0.0.1:40000', reason: 'bad api key' } }], 'first occurrence written at once, as given');
  for (let i = 1; i < 200; i++) {
    clock.advance(5);
    a.note('warn', KIND, 'bad api key', '127.0.0.1');
  }
  t.is(out.length, 1, 'repeats are counted, not written');
  t.is(a.nextDue(), 1000);
  runTo(999);
  t.is(out.length, 1);
  runTo(1000);
  t.is(out.length, 2);
  t.deepEqual(out[1], {
    level: 'warn',
    msg: 'refused handshake from 127.0.0.1: bad api key ×200 in 995 ms',
    fields: { kind: KIND, reason: 'bad api key', source: '127.0.0.1', count: 200, spanMs: 995, summary: true },
  });
  // Quiet afterwards: the key is forgotten after one empty window, so a later occurrence is written at once.
  runTo(10_000);
  t.is(out.length, 2);
  t.is(a.nextDue(), null);
  a.note('warn', KIND, 'bad api key', '127.0.0.1', { again: true });
  t.deepEqual(out[2], { level: 'warn', msg: KIND, fields: { again: true } });
});

test('a single occurrence writes one line and no summary', (t) => {
  const { a, out, runTo } = agg();
  a.note('warn', KIND, 'bad api key', '10.0.0.1');
  runTo(60_000);
  t.is(out.length, 1);
});

test('different reasons and sources are separate keys; a sustained flood costs one line per (doubling) window', (t) => {
  const { a, clock, out, runTo } = agg({ windowMs: 1000, maxWindowMs: 4000 });
  a.note('warn', KIND, 'bad api key', 'x');
  a.note('warn', KIND, 'bad api key', 'y');
  a.note('warn', KIND, 'no hello', 'x');
  t.is(out.length, 3);
  // 10 per second from x for 20 s.
  for (let i = 1; i <= 200; i++) {
    runTo(i * 100);
    a.note('warn', KIND, 'bad api key', 'x');
  }
  runTo(30_000);
  const summaries = out.filter((r) => r.fields?.summary === true && r.fields?.source === 'x' && r.fields?.reason === 'bad api key');
  // Windows of 1, 2, 4, 4, 4, 4 … s: a handful of lines, not 200.
  t.true(summaries.length >= 5 && summaries.length <= 7, `${summaries.length} summaries`);
  t.is(summaries.reduce((n, r) => n + Number(r.fields?.count), 0), 201, 'every occurrence counted once');
  t.is(summaries[0]!.fields?.count, 10, 'first window: the announced occurrence and 9 repeats');
  t.true(clock.t === 30_000);
});

test('rate limit per kind: an attacker cycling sources cannot fill the disk', (t) => {
  const { a, clock, out, runTo } = agg({ linesPerKind: 5, rateWindowMs: 10_000, keysPerKind: 1000 });
  // 1000 distinct sources, one refusal each, within one second.
  for (let i = 0; i < 1000; i++) {
    a.note('warn', KIND, 'bad certificate', `10.0.${i >> 8}.${i & 255}`);
    clock.advance(1);
  }
  t.is(out.length, 5, 'at most linesPerKind lines per rate window');
  runTo(10_000);
  t.is(out.length, 6, 'then one line reporting what the limit held back');
  t.like(out[5]!.fields, { kind: KIND, suppressedLines: 995, occurrences: 995, rateLimited: true });
  t.regex(out[5]!.msg, /^refused handshake: 995 more lines \(995 occurrences\) held back by the log rate limit in 10 s$/);
  // Another kind has its own budget.
  a.note('warn', 'protocol error', 'bad json', 'z');
  t.is(out.length, 7);
});

test('beyond keysPerKind, new keys are counted together', (t) => {
  const { a, out, runTo } = agg({ keysPerKind: 2 });
  for (let i = 0; i < 50; i++) a.note('warn', KIND, 'r', `s${i}`);
  // s0, s1 tracked (written at once), the 48 others counted under one key: its first written at once.
  t.is(out.length, 3);
  t.like(out[2]!.fields, { reason: '(various reasons)', source: '(various sources)' });
  runTo(2000);
  const s = out.find((r) => r.fields?.summary === true);
  t.is(s?.msg, 'refused handshake from (various sources): (various reasons) ×48 in 0 ms');
});

test('flush writes pending summaries at once (shutdown)', (t) => {
  const { a, out } = agg();
  for (let i = 0; i < 3; i++) a.note('warn', KIND, 'r', 's');
  a.flush();
  t.is(out.length, 2);
  t.is(out[1]!.fields?.count, 3);
  t.is(a.nextDue(), null);
});

test('RepeatLog drives the aggregator with a timer and writes to a NetLogger', (t) => {
  const clock = new VirtualClock();
  const log = new MemLog();
  const r = new RepeatLog(log, {}, clock);
  for (let i = 0; i < 200; i++) r.warn(KIND, 'bad api key', '127.0.0.1', { reason: 'bad api key' });
  t.is(log.lines.length, 1);
  clock.advance(1000);
  t.is(log.lines.length, 2);
  t.is(log.lines[1]!.msg, 'refused handshake from 127.0.0.1: bad api key ×200 in 0 ms');
  t.is(log.lines[1]!.level, 'warn');
  clock.advance(5000);
  t.is(clock.pending, 0, 'no timer once quiet');
  r.warn(KIND, 'x', 'y');
  r.warn(KIND, 'x', 'y');
  r.close();
  t.is(log.lines.length, 4, 'close flushes the pending summary');
  t.is(clock.pending, 0);
  r.warn(KIND, 'x', 'y');
  t.is(log.lines.length, 4, 'nothing after close');
});

test('formatSpan', (t) => {
  t.is(formatSpan(0), '0 ms');
  t.is(formatSpan(999.4), '999 ms');
  t.is(formatSpan(1000), '1 s');
  t.is(formatSpan(2540), '2.5 s');
});
