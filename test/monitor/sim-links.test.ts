// The simulator gives the Monitor the same link evidence a real node's
// transport does: a crashed node is counted unreachable by the survivors
// within a second of virtual time (its closed connections), a node cut off
// by a partition within the transport's idle timeout plus the silent grace —
// both before its meta goes stale (3 s in the simulator) — and health
// returns to 100 once it is back.
import test from 'ava';
import { simCluster, type Health } from '../support/sim-health-cluster.ts';
import { DEFAULT_HEALTH_CONFIG } from '../../actors/monitor/health.ts';
import { LINK_TIMING } from '../../runtime/sim/links.ts';

const unreachable = (h: Health | undefined, node: string) => h?.nodesDown?.some((d) => d.node === node && d.why === 'unreachable') === true && h.score! < 100;

test('a crashed node is unreachable for the survivors within a second of virtual time, and recovers', async (t) => {
  const c = simCluster('links', 7);
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
  const c = simCluster('links', 8);
  await c.until('health 100 everywhere', c.healthy, 30_000);
  c.net.partition([['n3'], ['n1', 'n2']]);
  const within = LINK_TIMING.idleMs + LINK_TIMING.pollMs + LINK_TIMING.reconnectMaxMs + DEFAULT_HEALTH_CONFIG.links.silentAfterMs + 500;
  t.true(within < 3000, 'faster than the simulator’s meta staleness');
  const took = await c.until('n1 and n2 count n3 unreachable', () => unreachable(c.health('n1'), 'n3') && unreachable(c.health('n2'), 'n3'), within);
  t.log(`the majority counted the cut-off node unreachable after ${took} virtual ms`);
  c.net.heal();
  await c.until('health 100 everywhere after the heal', c.healthy, 30_000);
  t.pass();
});
