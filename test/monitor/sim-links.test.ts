// The simulator gives the Monitor the same link evidence a real node's
// transport does: a crashed node is counted unreachable by the survivors
// within a second of virtual time (its closed connections), a node cut off
// by a partition within the transport's idle timeout plus the silent grace —
// both before its meta goes stale (3 s in the simulator) — and health
// returns to 100 once it is back.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify } from '../../runtime/sim/buggify.ts';
import { RaftInvariants } from '../../runtime/sim/invariants.ts';
import { SimNetwork, defaultLatency } from '../../runtime/sim/network.ts';
import { defineScenario } from '../../runtime/sim/scenario.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';
import { Trace } from '../../runtime/sim/trace.ts';
import { SimCluster } from '../../actors/node/sim/cluster.ts';
import { DEFAULT_HEALTH_CONFIG } from '../../actors/monitor/health.ts';
import { BEAT_MS, IDLE_MS } from '../../actors/node/sim/links.ts';

interface Health {
  ok?: boolean;
  score?: number;
  nodes?: { total: number; up: number };
  nodesDown?: { node: string; why: string }[];
}

function simCluster(seed: number) {
  const s = defineScenario({ name: 'links', cluster: { nodes: 3 }, workload: { clients: 0 }, durationMs: 1000, buggify: false });
  const root = new SeededRng(seed);
  const sched = new Scheduler();
  const trace = new Trace(() => sched.now, false);
  const net = new SimNetwork(sched, root.fork(), trace, defaultLatency);
  const cluster = new SimCluster({
    scenario: s,
    sched,
    net,
    trace,
    buggify: new Buggify(seed, root.fork(), { enabled: false, siteShare: 0, fireProbability: 0 }),
    invariants: { cdb: new RaftInvariants(), monitor: new RaftInvariants() },
    rng: root.fork(),
    unsafeLocalReads: false,
    observe: () => {},
  });
  // Every node's latest answer to `health` (asked every 20 virtual ms by `until`).
  const answers = new Map<string, Health>();
  const health = (id: string): Health | undefined => answers.get(id);
  /** Run virtual time until `ok` holds on the answers (asked every 20 ms), up to `withinMs`; the virtual ms it took. */
  const until = async (what: string, ok: () => boolean, withinMs: number): Promise<number> => {
    const start = sched.now;
    for (;;) {
      answers.clear();
      for (const n of cluster.up()) n.api?.call('health', {}, (x) => answers.set(n.id, x as Health));
      await sched.runUntil(sched.now + 20);
      if (ok()) return sched.now - start;
      if (sched.now - start > withinMs) throw new Error(`${what}: not within ${withinMs} virtual ms (last: ${JSON.stringify([...answers])})`);
    }
  };
  const healthy = () => ['n1', 'n2', 'n3'].every((n) => {
    const h = health(n);
    return h?.score === 100 && h.nodes?.up === 3 && h.nodes.total === 3;
  });
  return { sched, net, cluster, health, until, healthy };
}

const unreachable = (h: Health | undefined, node: string) => h?.nodesDown?.some((d) => d.node === node && d.why === 'unreachable') === true && h.score! < 100;

test('a crashed node is unreachable for the survivors within a second of virtual time, and recovers', async (t) => {
  const c = simCluster(7);
  await c.until('health 100 everywhere', c.healthy, 30_000);
  c.cluster.crash('n2');
  // Closed grace + one evaluation (500 ms in the simulator): far below the 3 s staleness.
  const within = DEFAULT_HEALTH_CONFIG.links.closedAfterMs + 500;
  const took = await c.until('n1 and n3 count n2 unreachable', () => unreachable(c.health('n1'), 'n2') && unreachable(c.health('n3'), 'n2'), within);
  t.log(`survivors counted the crashed node unreachable after ${took} virtual ms`);
  t.deepEqual(c.health('n1')?.nodesDown, [{ node: 'n2', why: 'unreachable' }]);
  c.cluster.restart('n2');
  await c.until('health 100 everywhere after the restart', c.healthy, 30_000);
  t.pass();
});

test('a node cut off by a partition is unreachable once silent past the grace, before its meta goes stale; healed, it recovers', async (t) => {
  const c = simCluster(8);
  await c.until('health 100 everywhere', c.healthy, 30_000);
  c.net.partition([['n3'], ['n1', 'n2']]);
  const within = IDLE_MS + BEAT_MS + DEFAULT_HEALTH_CONFIG.links.silentAfterMs + 500;
  t.true(within < 3000, 'faster than the simulator’s meta staleness');
  const took = await c.until('n1 and n2 count n3 unreachable', () => unreachable(c.health('n1'), 'n3') && unreachable(c.health('n2'), 'n3'), within);
  t.log(`the majority counted the cut-off node unreachable after ${took} virtual ms`);
  c.net.heal();
  await c.until('health 100 everywhere after the heal', c.healthy, 30_000);
  t.pass();
});
