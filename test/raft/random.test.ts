// Randomized safety test; the driver and the checked properties are in random-driver.ts.
import test from 'ava';
import { runSeed, stats } from './random-driver.ts';
import type { Variant } from './random-driver.ts';

const variants: Variant[] = [
  { name: 'static membership', seeds: 60, steps: 3000, membership: false },
  { name: 'with membership changes', seeds: 60, steps: 3000, membership: true },
];

for (const v of variants) {
  test(`randomized safety: ${v.name}`, (t) => {
    let ok = 0;
    for (let seed = 1; seed <= v.seeds; seed++) {
      if (!runSeed((m) => t.fail(m), seed + (v.membership ? 10_000 : 0), v)) break;
      ok++;
    }
    t.is(ok, v.seeds);
    t.log(JSON.stringify(stats));
    for (const key of Object.keys(stats) as (keyof typeof stats)[]) stats[key] = 0;
  });
}
