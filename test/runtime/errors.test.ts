// Error fidelity: name, message, stack, cause chain and custom fields survive
// a reply error and a crash reported to an asker, across threads.
import test from 'ava';
import { deserializeError, serializeError, type ActorRef } from '../../runtime/actor/index.ts';
import { GUARD_MS, makeSystem, rejectionOf } from '../support/harness.ts';
import { counter, counterBehavior, type CounterMsg } from '../support/behaviors.ts';

function assertStorageError(t: import('ava').ExecutionContext, e: Error, where: string) {
  t.is(e.name, 'StorageError', where);
  t.is(e.message, 'write failed', where);
  t.regex(e.stack ?? '', /storageError/, `${where}: the original stack (from the thread that threw) is kept`);
  t.is((e as Error & { code?: string }).code, 'E_QUOTA', where);
  t.deepEqual((e as Error & { details?: unknown }).details, { path: '/var/x' }, where);
  const cause = e.cause as Error & { limit?: number };
  t.true(cause instanceof Error, where);
  t.is(cause.name, 'RangeError', where);
  t.is(cause.message, 'disk quota', where);
  t.is(cause.limit, 42, where);
  t.regex(cause.stack ?? '', /RangeError: disk quota/, where);
}

for (const placement of ['in-thread', 'worker'] as const) {
  const spawn = (t: import('ava').ExecutionContext): ActorRef<CounterMsg> => {
    const { system } = makeSystem(t);
    return placement === 'worker' ? system.spawn(counter, 'c', { placement: { worker: 'err' } }) : system.spawn(counterBehavior(0), 'c');
  };

  test(`${placement}: replyError keeps name, message, stack, cause chain and fields`, async (t) => {
    const c = spawn(t);
    const e = await rejectionOf(c.ask<number>((replyTo) => ({ type: 'customError', replyTo }), { timeoutMs: GUARD_MS }));
    assertStorageError(t, e, placement);
  });

  test(`${placement}: a crash reported to the asker keeps the original error as cause`, async (t) => {
    const c = spawn(t);
    const e = await rejectionOf(c.ask<number>((replyTo) => ({ type: 'customCrash', replyTo }), { timeoutMs: GUARD_MS }));
    t.is(e.name, 'ActorCrashedError');
    t.is(e.message, 'actor /user/c crashed before replying');
    t.is((e as Error & { target?: string }).target, '/user/c');
    assertStorageError(t, e.cause as Error, `${placement} cause`);
  });
}

test('serializeError/deserializeError survive structuredClone: non-Error throws, odd causes and fields', (t) => {
  const round = (x: unknown) => deserializeError(structuredClone(serializeError(x)));
  t.like(round('plain string'), { name: 'NonError', message: 'plain string' });
  t.like(round({ a: 1 }), { name: 'NonError', message: '{"a":1}' });
  const e = new TypeError('outer', { cause: { code: 7 } }) as TypeError & { fn: unknown; sym: unknown; nested: unknown; err: unknown };
  e.fn = () => 1;
  e.sym = Symbol('s');
  e.nested = { deep: [1, 2] };
  e.err = new Error('inner field');
  const r = round(e) as Error & { fn: unknown; sym: unknown; nested: unknown; err: unknown };
  t.is(r.name, 'TypeError');
  t.deepEqual(r.cause, { code: 7 });
  t.is(r.fn, '[function]');
  t.is(r.sym, '[symbol]');
  t.deepEqual(r.nested, { deep: [1, 2] });
  t.like(r.err as object, { $error: 1, message: 'inner field' });
  // A deep cause chain is kept.
  let deep: Error = new Error('level 0');
  for (let i = 1; i <= 5; i++) deep = new Error(`level ${i}`, { cause: deep });
  let d: unknown = round(deep);
  for (let i = 5; i >= 0; i--) {
    t.is((d as Error).message, `level ${i}`);
    d = (d as Error).cause;
  }
  // A cyclic cause does not hang.
  const cyc = new Error('cyclic') as Error & { cause?: unknown };
  cyc.cause = cyc;
  t.is(round(cyc).message, 'cyclic');
});
