import test from 'ava';
import { DEFAULT_BACKOFF, backoffDelay, resolveBackoff } from '../../runtime/net/backoff.ts';
import { SeededRng } from '../../runtime/env/random.ts';

const p = { baseMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

test('exponential growth, capped', (t) => {
  const noJitter = { ...p, jitter: 0 };
  t.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((a) => backoffDelay(a, noJitter, 0.7)), [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
});

test('jitter stays within [d(1-j), d] and uses the draw', (t) => {
  for (let a = 0; a < 12; a++) {
    const d = Math.min(p.maxMs, p.baseMs * 2 ** a);
    const lo = backoffDelay(a, p, 0);
    const hi = backoffDelay(a, p, 0.999999);
    t.is(lo, Math.ceil(d * 0.5));
    t.true(hi <= d && hi >= d - 1);
    t.true(backoffDelay(a, p, 0.3) <= backoffDelay(a, p, 0.6));
  }
  const full = { ...p, jitter: 1 };
  t.is(backoffDelay(3, full, 0), 0);
});

test('deterministic with a seeded rng; spreads values', (t) => {
  const run = (seed: number) => {
    const rng = new SeededRng(seed);
    return Array.from({ length: 20 }, (_, a) => backoffDelay(a, DEFAULT_BACKOFF, rng.next()));
  };
  t.deepEqual(run(7), run(7));
  t.notDeepEqual(run(7), run(8));
  t.true(new Set(Array.from({ length: 50 }, () => backoffDelay(4, DEFAULT_BACKOFF, Math.random()))).size > 10);
});

test('garbage inputs are clamped; bad policies refused', (t) => {
  t.is(backoffDelay(-3, { ...p, jitter: 0 }, 0.5), 100);
  t.is(backoffDelay(Number.NaN, { ...p, jitter: 0 }, 0.5), 100);
  t.is(backoffDelay(1e9, { ...p, jitter: 0 }, Number.NaN), 5000);
  t.throws(() => resolveBackoff({ baseMs: 10, maxMs: 5 }));
  t.throws(() => resolveBackoff({ jitter: 2 }));
  t.throws(() => resolveBackoff({ factor: 0.5 }));
  t.deepEqual(resolveBackoff({ baseMs: 5 }), { ...DEFAULT_BACKOFF, baseMs: 5 });
});
