import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify, defaultBuggify } from '../../runtime/sim/buggify.ts';
import { SimNetwork } from '../../runtime/sim/network.ts';
import { SimNode } from '../../runtime/sim/node.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';
import { Trace } from '../../runtime/sim/trace.ts';

function setup(seed = 1) {
  const sched = new Scheduler();
  const rng = new SeededRng(seed);
  const net = new SimNetwork(sched, rng.fork(), new Trace(() => sched.now, false));
  const got: Record<string, { from: string; n: number }[]> = { a: [], b: [], c: [] };
  const buggify = new Buggify(seed, rng.fork(), defaultBuggify);
  const nodes: Record<string, SimNode> = {};
  for (const id of ['a', 'b', 'c']) {
    nodes[id] = new SimNode(id, sched, buggify, rng.fork());
    net.register(id, (from, msg) => got[id].push({ from, n: (msg as { n: number }).n }), nodes[id]);
  }
  return { sched, net, got, nodes };
}

test('messages are copied: no shared references between nodes', async (t) => {
  const { sched, net, nodes } = setup();
  const payload = { n: 1, inner: { x: [1, 2] } };
  let received: unknown;
  net.register('b', (_f, m) => (received = m), nodes.b);
  net.send('a', 'b', payload);
  await sched.runUntil(1000);
  t.deepEqual(received, payload);
  t.not(received, payload);
  t.throws(() => net.send('a', 'b', { m: new Map() }), { message: /plain JSON/ });
});

test('loss, duplication and reordering each happen', async (t) => {
  const { sched, net, got } = setup();
  net.setLoss(0.2);
  net.setDuplication(0.2);
  net.setReorder(0.3);
  for (let i = 0; i < 500; i++) net.send('a', 'b', { n: i });
  await sched.runUntil(10_000);
  t.true(net.stats.droppedLoss > 50);
  t.true(net.stats.duplicated > 50);
  t.true(net.stats.reordered > 10);
  const ns = got.b.map((m) => m.n);
  t.true(ns.length !== new Set(ns).size, 'some message delivered twice');
  t.true(ns.some((n, i) => i > 0 && n < ns[i - 1]), 'some message overtaken');
});

test('symmetric and one-way partitions, then heal', async (t) => {
  const { sched, net, got } = setup();
  net.partition([['a'], ['b', 'c']]);
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  net.send('b', 'c', { n: 3 });
  await sched.runUntil(100);
  t.deepEqual(got.b, []);
  t.deepEqual(got.a, []);
  t.deepEqual(got.c.map((m) => m.n), [3]);
  net.heal();
  net.cut('a', 'b'); // one way: a cannot reach b, b can reach a
  net.send('a', 'b', { n: 4 });
  net.send('b', 'a', { n: 5 });
  await sched.runUntil(200);
  t.deepEqual(got.b, []);
  t.deepEqual(got.a.map((m) => m.n), [5]);
  t.is(net.stats.droppedPartition, 3);
  net.heal();
  net.send('a', 'b', { n: 6 });
  await sched.runUntil(300);
  t.deepEqual(got.b.map((m) => m.n), [6]);
});

test('clogging holds messages until unclogged (node and link)', async (t) => {
  const { sched, net, got } = setup();
  net.clogNode('b');
  net.send('a', 'b', { n: 1 });
  await sched.runUntil(500);
  t.deepEqual(got.b, []);
  t.is(net.heldCount, 1);
  net.unclogNode('b');
  await sched.runUntil(1000);
  t.deepEqual(got.b.map((m) => m.n), [1]);
  net.clogLink('a', 'c');
  net.send('a', 'c', { n: 2 });
  net.send('b', 'c', { n: 3 });
  await sched.runUntil(1500);
  t.deepEqual(got.c.map((m) => m.n), [3]);
  net.unclogLink('a', 'c');
  await sched.runUntil(2000);
  t.deepEqual(got.c.map((m) => m.n), [3, 2]);
  t.is(net.stats.droppedLoss + net.stats.droppedPartition, 0);
});

test('crashed nodes drop deliveries; paused nodes hold them', async (t) => {
  const { sched, net, got, nodes } = setup();
  nodes.b.crash();
  net.send('a', 'b', { n: 1 });
  nodes.c.pause();
  net.send('a', 'c', { n: 2 });
  await sched.runUntil(500);
  t.deepEqual(got.b, []);
  t.deepEqual(got.c, []);
  t.is(net.stats.droppedDown, 1);
  nodes.c.resume();
  await sched.runUntil(501);
  t.deepEqual(got.c.map((m) => m.n), [2]);
});
