// One simulation run: a scenario and a seed in, a verdict (and optionally a
// trace) out. Phases, as in TigerBeetle's VOPR:
//   1. safety: workload + scripted faults + nemesis, invariants checked as the
//      nodes report, and periodically over their logs;
//   2. heal-and-converge: every fault undone, every node restarted; the
//      cluster must elect a leader, bring all members to the same applied log
//      and state, and accept new writes — within the scenario's timeout;
//   3. the client history must be linearizable.
import { SeededRng } from '../env/random.ts';
import { checkOperations, kvModel, renderCheckResult } from '../lincheck/index.ts';
import { Buggify, defaultBuggify } from './buggify.ts';
import { SimCluster } from './cluster.ts';
import { FaultInjector } from './faults.ts';
import { RaftInvariants } from './invariants.ts';
import type { LogView } from './invariants.ts';
import { SimNetwork, defaultLatency } from './network.ts';
import type { Scenario } from './scenario.ts';
import { Scheduler } from './scheduler.ts';
import { Trace } from './trace.ts';
import { Workload } from './workload.ts';

/** Search steps per key partition before the linearizability check gives up ('unknown', not a failure). */
const LINCHECK_MAX_STEPS = 20_000_000;

export interface RunOptions {
  seed: number;
  /** Keep the full trace (slower; needed for --trace and failing-seed traces). */
  trace?: boolean;
  /** TEST ONLY: serve reads locally on any node (breaks linearizability on purpose). */
  unsafeLocalReads?: boolean;
  /** Override the scenario's safety-phase length (ms). */
  durationMs?: number;
}

export interface RunResult {
  scenario: string;
  seed: number;
  ok: boolean;
  failures: string[];
  simMs: number;
  wallMs: number;
  events: number;
  trace: Trace;
  stats: {
    ops: { issued: number; ok: number; failed: number; pending: number; redirects: number };
    net: SimNetwork['stats'];
    faults: number;
    nemesisActions: number;
    ineffectiveNemesis: number;
    crashes: number;
    snapshotsTaken: number;
    snapshotsRestored: number;
    buggifyFired: Record<string, number>;
    invariantChecks: number;
    lincheck: string;
    commitIndex: number;
  };
}

export async function runScenario(s: Scenario, opts: RunOptions): Promise<RunResult> {
  const wall0 = performance.now();
  const root = new SeededRng(opts.seed);
  // One stream per purpose: adding a consumer to one does not shift the others.
  const rngNet = root.fork();
  const rngCluster = root.fork();
  const rngWork = root.fork();
  const rngFaults = root.fork();
  const rngBuggify = root.fork();
  const sched = new Scheduler();
  const trace = new Trace(() => sched.now, opts.trace ?? false);
  const failures: string[] = [];
  const fail = (msg: string): void => {
    failures.push(msg);
    trace.sim('invariant', 'sim', '/sim/checks', { reason: msg });
  };

  const buggify = new Buggify(opts.seed, rngBuggify, { ...defaultBuggify, enabled: s.buggify });
  buggify.onFire = (site, node) => trace.sim('buggify', node, '/sim/buggify', { reason: site });
  const net = new SimNetwork(sched, rngNet, trace, s.network.latency ?? defaultLatency);
  net.setLoss(s.network.loss);
  net.setDuplication(s.network.duplication);
  net.setReorder(s.network.reorder);
  const invariants = new RaftInvariants();
  invariants.onViolation = (v) => {
    fail(`invariant ${v.invariant} violated on ${v.node}: ${v.message}`);
    sched.stop();
  };
  const cluster = new SimCluster({ scenario: s, sched, net, trace, buggify, invariants, rng: rngCluster, unsafeLocalReads: opts.unsafeLocalReads ?? false });
  // Every real promise here is a node runtime's (admin asks included), reported
  // through Env.settling; client requests use callback asks and need none.
  sched.pendingReactions = () => 'none';
  const workload = new Workload(s, cluster, sched, net, trace, rngWork);
  const faults = new FaultInjector(s, sched, net, cluster, rngFaults);
  const duration = opts.durationMs ?? s.durationMs;

  const logs = (): Map<string, LogView> => {
    const m = new Map<string, LogView>();
    for (const n of cluster.nodes.values()) if (n.sim.up && n.view) m.set(n.id, n.view.log);
    return m;
  };
  const periodic = (): void => {
    invariants.checkLogs(logs());
    sched.after(s.invariantEveryMs, periodic);
  };
  sched.after(s.invariantEveryMs, periodic);

  trace.sim('note', 'sim', '/sim', { reason: 'start', data: { scenario: s.name, seed: opts.seed } });
  // ---- 1. safety phase
  workload.start();
  faults.scheduleScript();
  faults.startNemesis(duration);
  await sched.runUntil(duration);

  // ---- 2. heal and converge
  let lincheck = 'not run';
  if (failures.length === 0 && sched.failure === undefined) {
    workload.stop();
    faults.healAll();
    // Let in-flight operations finish or time out.
    const drainUntil = sched.now + s.workload.opTimeoutMs + 10;
    while (workload.busy && sched.now < drainUntil && !failures.length) await sched.runUntil(Math.min(drainUntil, sched.now + 50));
    const deadline = sched.now + s.converge.timeoutMs;
    const converged = await converge(s, sched, cluster, workload, deadline, fail);
    if (converged) invariants.checkLogs(logs());
    // ---- 3. linearizability
    if (failures.length === 0 && sched.failure === undefined) {
      // A step budget, not a wall-clock one: a seed's verdict must not depend on machine load.
      const res = checkOperations(kvModel, workload.history, { maxSteps: LINCHECK_MAX_STEPS });
      lincheck = res.result;
      if (res.result === 'illegal') fail(`history is not linearizable:\n${renderCheckResult(res, kvModel)}`);
    }
  }
  if (sched.failure) fail(`simulator or node code threw: ${sched.failure.stack ?? sched.failure.message}`);
  const fx = faults.verify();
  for (const f of fx.failures) fail(f);

  const ops = workload.stats;
  let crashes = 0;
  let commitIndex = 0;
  for (const n of cluster.nodes.values()) {
    crashes += n.crashes;
    if (n.view) commitIndex = Math.max(commitIndex, n.view.status().commit);
  }
  trace.sim('note', 'sim', '/sim', { reason: failures.length === 0 ? 'passed' : 'failed', data: { failures: failures.length } });
  return {
    scenario: s.name,
    seed: opts.seed,
    ok: failures.length === 0,
    failures,
    simMs: sched.now,
    wallMs: performance.now() - wall0,
    events: sched.eventsRun,
    trace,
    stats: {
      ops: { ...ops },
      net: { ...net.stats },
      faults: faults.appliedCount,
      nemesisActions: faults.nemesisActions,
      ineffectiveNemesis: fx.ineffectiveNemesis,
      crashes,
      snapshotsTaken: cluster.snapshotsTaken,
      snapshotsRestored: cluster.snapshotsRestored,
      buggifyFired: Object.fromEntries([...buggify.fired.entries()].sort()),
      invariantChecks: invariants.checks,
      lincheck,
      commitIndex,
    },
  };
}

/** Phase 2: a leader, every member at the same applied index with the same state, and new writes succeed. */
async function converge(
  s: Scenario,
  sched: Scheduler,
  cluster: SimCluster,
  workload: Workload,
  deadline: number,
  fail: (m: string) => void,
): Promise<boolean> {
  const status = (): string => {
    const parts: string[] = [];
    for (const n of cluster.nodes.values()) {
      if (!n.view) {
        parts.push(`${n.id}: down`);
        continue;
      }
      const st = n.view.status();
      parts.push(`${n.id}: ${st.role} term ${st.term} commit ${st.commit} applied ${n.view.applied()}`);
    }
    return parts.join('; ');
  };
  // New writes must succeed (the checker client retries on definite errors).
  const checker = workload.checker;
  for (let i = 1; i <= s.converge.writes; i++) {
    let ok = false;
    while (!ok && sched.now < deadline) {
      const done = new Promise<boolean>((resolve) => checker.run({ op: 'write', key: 'k1', value: `converge-${i}-${Math.round(sched.now)}` }, Math.min(2000, deadline - sched.now), resolve));
      let settled: boolean | undefined;
      void done.then((v) => (settled = v));
      while (settled === undefined && sched.now < deadline) await sched.runUntil(sched.now + 20);
      ok = settled === true;
    }
    if (!ok) {
      fail(`liveness: no new write succeeded within the converge timeout (${s.converge.timeoutMs}ms). ${status()}`);
      return false;
    }
  }
  // Every member applied the same log and holds the same state.
  for (;;) {
    const lead = cluster.leader();
    if (lead !== undefined) {
      const lv = cluster.nodes.get(lead)!.view!;
      const st = lv.status();
      const members = [...st.voters, ...st.learners];
      const target = lv.applied();
      const digest = lv.stateDigest();
      const lagging = members.filter((m) => {
        const v = cluster.nodes.get(m)?.view;
        return v === undefined || v.applied() !== target || v.status().commit < target;
      });
      if (lagging.length === 0 && target >= st.commit) {
        for (const m of members) {
          if (cluster.nodes.get(m)!.view!.stateDigest() !== digest) {
            fail(`convergence: ${m} applied through ${target} like ${lead} but its state differs`);
            return false;
          }
        }
        return true;
      }
    }
    if (sched.now >= deadline) {
      fail(`liveness: members did not converge to the same applied log within ${s.converge.timeoutMs}ms. ${status()}`);
      return false;
    }
    await sched.runUntil(sched.now + 20);
  }
}
