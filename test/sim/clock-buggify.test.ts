import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify, defaultBuggify, hashUnit } from '../../runtime/sim/buggify.ts';
import { SimNode, SIM_EPOCH_MS } from '../../runtime/sim/node.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';

test('node clocks: skew, jumps and drift; timers are monotonic and die with the node', async (t) => {
  const sched = new Scheduler();
  const rng = new SeededRng(1);
  const node = new SimNode('n1', sched, new Buggify(1, rng.fork(), defaultBuggify), rng.fork());
  node.jumpClock(5000);
  t.is(node.env.now(), SIM_EPOCH_MS + 5000);
  let fired = 0;
  node.env.setTimer(100, () => fired++);
  node.jumpClock(-60_000); // wall clock steps back: the timer is unaffected
  await sched.runUntil(100);
  t.is(fired, 1);
  t.is(node.env.now(), SIM_EPOCH_MS + 100 + 5000 - 60_000);
  node.setDrift(0.5); // local clock runs 1.5x: a 150 ms local timer takes 100 virtual ms
  node.env.setTimer(150, () => fired++);
  await sched.runUntil(199);
  t.is(fired, 1);
  await sched.runUntil(200);
  t.is(fired, 2);
  node.env.setTimer(10, () => fired++);
  node.crash();
  await sched.runUntil(1000);
  t.is(fired, 2);
});

test('buggify: a site is enabled for a share of seeds and fires with some probability', (t) => {
  let enabled = 0;
  for (let seed = 1; seed <= 400; seed++) if (new Buggify(seed, new SeededRng(seed), defaultBuggify).isEnabled('site.x')) enabled++;
  t.true(enabled > 60 && enabled < 140, `${enabled}/400 seeds`);
  const seed = [...Array(400).keys()].find((s) => hashUnit(s, 'site.x') < 0.25)!;
  const b = new Buggify(seed, new SeededRng(seed), defaultBuggify);
  const seen: string[] = [];
  b.onFire = (site, node) => seen.push(`${site}@${node}`);
  let fires = 0;
  for (let i = 0; i < 400; i++) if (b.ask('site.x', 'n1')) fires++;
  t.true(fires > 50 && fires < 160);
  t.is(seen.length, fires);
  t.is(b.fired.get('site.x'), fires);
  t.false(new Buggify(seed, new SeededRng(seed), { ...defaultBuggify, enabled: false }).ask('site.x', 'n1'));
});
