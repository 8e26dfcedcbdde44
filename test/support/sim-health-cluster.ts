// A simulated 3-node cluster of real nodes (no clients) for Monitor tests, with each node's
// `health` answer polled every 20 virtual ms (sim-links, sim-placement).
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify } from '../../runtime/sim/buggify.ts';
import { RaftInvariants } from '../../runtime/sim/invariants.ts';
import { SimNetwork, defaultLatency } from '../../runtime/sim/network.ts';
import { defineScenario } from '../../runtime/sim/scenario.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';
import { Trace } from '../../runtime/sim/trace.ts';
import { SimCluster } from '../../actors/node/sim/cluster.ts';

export interface Health {
  ok?: boolean;
  primary?: string;
  term?: number;
  findingIds?: string[];
  score?: number;
  nodes?: { total: number; up: number };
  nodesDown?: { node: string; why: string }[];
}

export function simCluster(name: string, seed: number) {
  const s = defineScenario({ name, cluster: { nodes: 3 }, workload: { clients: 0 }, durationMs: 1000, buggify: false });
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
