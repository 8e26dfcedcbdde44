// One simulation run of real nodes: a scenario and a seed in, a verdict (and
// optionally a trace) out. Phases, as in TigerBeetle's VOPR:
//   1. safety: workload + scripted faults + nemesis, Raft invariants (of both
//      the cdb and the monitor group) and the Monitor's fencing invariants
//      checked as the nodes report, and periodically over their logs;
//   2. heal-and-converge: every fault undone, every node restarted; the
//      cluster must elect a leader, accept new writes, bring all members of
//      each group to the same applied log and state, and every node's health
//      score must settle on the same healthy value — within the timeout;
//   3. the client history of CDB objects must be linearizable.
import { SeededRng } from '../../../runtime/env/random.ts';
import { checkOperations, renderCheckResult } from '../../../runtime/lincheck/index.ts';
import { Buggify, defaultBuggify } from '../../../runtime/sim/buggify.ts';
import type { SimLinks } from '../../../runtime/sim/links.ts';
import { FaultInjector } from '../../../runtime/sim/faults.ts';
import { RaftInvariants } from '../../../runtime/sim/invariants.ts';
import type { LogView } from '../../../runtime/sim/invariants.ts';
import { SimNetwork, defaultLatency } from '../../../runtime/sim/network.ts';
import type { Scenario } from '../../../runtime/sim/scenario.ts';
import { Scheduler } from '../../../runtime/sim/scheduler.ts';
import { Trace } from '../../../runtime/sim/trace.ts';
import { cdbModel } from '../../cdb/lincheck-model.ts';
import { GROUPS, SimCluster, type Group } from './cluster.ts';
import { MonitorInvariants } from './monitor-invariants.ts';
import { servicesUnsettled } from './services.ts';
import type { CdbObject } from '../../cdb/client.ts';
import { Workload } from './workload.ts';

/** Search steps per key partition before the linearizability check gives up ('unknown', not a failure). */
const LINCHECK_MAX_STEPS = 20_000_000;

export interface RunOptions {
  seed: number;
  /** Keep the full trace (slower; needed for --trace and failing-seed traces). */
  trace?: boolean;
  /** TEST ONLY: serve CDB reads locally on any node (breaks linearizability on purpose). */
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
    /** Link changes the nodes were told of (down, up) and links that dropped while fine (buggify). */
    links: SimLinks['stats'];
    faults: number;
    nemesisActions: number;
    ineffectiveNemesis: number;
    crashes: number;
    snapshotsTaken: number;
    snapshotsRestored: number;
    buggifyFired: Record<string, number>;
    invariantChecks: number;
    alarmsAccepted: number;
    /** 'settled' when every node's health reached 100 after the heal (else the run fails). */
    health: string;
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
  const invariants = { cdb: new RaftInvariants(), monitor: new RaftInvariants() } satisfies Record<Group, RaftInvariants>;
  for (const g of GROUPS) {
    invariants[g].onViolation = (v) => {
      fail(`invariant ${v.invariant} violated on ${v.node} (${g} group): ${v.message}`);
      sched.stop();
    };
  }
  const monitorInv = new MonitorInvariants();
  monitorInv.onViolation = (v) => {
    fail(`monitor invariant ${v.invariant} violated on ${v.node}: ${v.message}`);
    sched.stop();
  };
  const cluster = new SimCluster({ scenario: s, sched, net, trace, buggify, invariants, rng: rngCluster, unsafeLocalReads: opts.unsafeLocalReads ?? false, observe: (k, d) => monitorInv.observe(k, d) });
  // Every real promise here is a node runtime's (admin asks included), reported
  // through Env.settling; client requests use callback asks and need none.
  sched.pendingReactions = () => 'none';
  const workload = new Workload(s, cluster, sched, net, trace, rngWork);
  const faults = new FaultInjector(s, sched, net, cluster, rngFaults);
  const duration = opts.durationMs ?? s.durationMs;

  const logs = (g: Group): Map<string, LogView> => {
    const m = new Map<string, LogView>();
    for (const n of cluster.nodes.values()) {
      const v = n.views[g];
      if (n.sim.up && v) m.set(n.id, v.log);
    }
    return m;
  };
  const checkLogs = (): void => {
    for (const g of GROUPS) invariants[g].checkLogs(logs(g));
  };
  let driverFailed = false;
  const checkDrivers = (): void => {
    if (driverFailed) return;
    const problems = cluster.driverInvariants();
    if (problems.length) {
      driverFailed = true;
      fail(`driver invariant violated: ${problems.join('; ')}`);
    }
  };
  const periodic = (): void => {
    checkLogs();
    checkDrivers();
    sched.after(s.invariantEveryMs, periodic);
  };
  sched.after(s.invariantEveryMs, periodic);

  trace.sim('note', 'sim', '/sim', { reason: 'start', data: { scenario: s.name, seed: opts.seed } });
  // ---- 1. safety phase
  if (s.objects.length) putObjects(s, sched, cluster);
  workload.start();
  faults.scheduleScript();
  faults.startNemesis(duration);
  await sched.runUntil(duration);

  // ---- 2. heal and converge
  let lincheck = 'not run';
  let health: string | boolean = 'not run';
  if (failures.length === 0 && sched.failure === undefined) {
    workload.stop();
    faults.healAll();
    // Let in-flight operations finish or time out.
    const drainUntil = sched.now + s.workload.opTimeoutMs + 10;
    while (workload.busy && sched.now < drainUntil && !failures.length) await sched.runUntil(Math.min(drainUntil, sched.now + 50));
    const deadline = sched.now + s.converge.timeoutMs;
    const converged = await converge(s, sched, cluster, workload, deadline, fail);
    if (converged) {
      checkLogs();
      // Health converges after the faults heal: every node's Monitor settles at 100 with no finding.
      health = await healthSettles(s, sched, cluster, Math.max(deadline, sched.now + 5000), fail);
      if (s.objects.length) await objectsSettle(s, sched, cluster, sched.now + 10_000, fail);
      checkDrivers();
      // The node services: every machine's resources exactly what the objects ask for.
      if (failures.length === 0) await servicesSettle(s, sched, cluster, Math.max(deadline, sched.now + 5000), fail);
    }
    // ---- 3. linearizability
    if (failures.length === 0 && sched.failure === undefined) {
      // A step budget, not a wall-clock one: a seed's verdict must not depend on machine load.
      const res = checkOperations(cdbModel, workload.history, { maxSteps: LINCHECK_MAX_STEPS });
      lincheck = res.result;
      if (res.result === 'illegal') fail(`history is not linearizable:\n${renderCheckResult(res, cdbModel)}`);
    }
  }
  if (sched.failure) fail(`simulator or node code threw: ${sched.failure.stack ?? sched.failure.message}`);
  const fx = faults.verify();
  for (const f of fx.failures) fail(f);
  for (const p of cluster.problems) fail(p);

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
      links: { ...cluster.links.stats },
      faults: faults.appliedCount,
      nemesisActions: faults.nemesisActions,
      ineffectiveNemesis: fx.ineffectiveNemesis,
      crashes,
      snapshotsTaken: cluster.snapshotsTaken,
      snapshotsRestored: cluster.snapshotsRestored,
      buggifyFired: Object.fromEntries([...buggify.fired.entries()].sort()),
      invariantChecks: invariants.cdb.checks + invariants.monitor.checks,
      alarmsAccepted: monitorInv.accepted,
      health: health === true ? 'settled' : health === false ? 'did not settle' : health,
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
      const done = new Promise<boolean>((resolve) => checker.run({ op: 'put', key: 'k1', value: `converge-${i}-${Math.round(sched.now)}` }, Math.min(2000, deadline - sched.now), resolve));
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
  // Every member of each group applied the same log and holds the same state.
  for (const g of GROUPS) if (!(await sameState(g, s, sched, cluster, deadline, fail, status))) return false;
  return true;
}

async function sameState(g: Group, s: Scenario, sched: Scheduler, cluster: SimCluster, deadline: number, fail: (m: string) => void, status: () => string): Promise<boolean> {
  for (;;) {
    const lead = cluster.leader(g);
    if (lead !== undefined) {
      const lv = cluster.nodes.get(lead)!.views[g]!;
      const st = lv.status();
      const members = [...st.voters, ...st.learners];
      const target = lv.applied();
      const lagging = members.filter((m) => {
        const v = cluster.nodes.get(m)?.views[g];
        return v === undefined || v.applied() !== target || v.status().commit < target;
      });
      if (lagging.length === 0 && target >= st.commit) {
        // (The digest is a whole serialization of the state: only once every member is there.)
        const digest = lv.stateDigest();
        for (const m of members) {
          if (cluster.nodes.get(m)!.views[g]!.stateDigest() !== digest) {
            fail(`convergence: ${m} applied the ${g} group through ${target} like ${lead} but its state differs`);
            return false;
          }
        }
        return true;
      }
    }
    if (sched.now >= deadline) {
      fail(`liveness: members of the ${g} group did not converge to the same applied log within ${s.converge.timeoutMs}ms. ${status()}`);
      return false;
    }
    await sched.runUntil(sched.now + 20);
  }
}

/** After the heal, every running node's Monitor must report the same health score, with no finding left. */
async function healthSettles(s: Scenario, sched: Scheduler, cluster: SimCluster, deadline: number, fail: (m: string) => void): Promise<boolean> {
  let last = '';
  for (;;) {
    const answers: { id: string; r: { ok?: boolean; score?: number; findings?: number; findingIds?: string[]; primary?: string } }[] = [];
    for (const n of cluster.up()) n.api?.call('health', {}, (r) => answers.push({ id: n.id, r: r as never }));
    await sched.runUntil(sched.now + 20);
    const up = cluster.up().length;
    const settled = answers.length === up && answers.every((a) => a.r.ok === true && a.r.score === 100 && a.r.findings === 0);
    last = answers.map((a) => `${a.id}: ${a.r.ok ? `score ${a.r.score} findings ${(a.r.findingIds ?? []).join(',') || 0}` : 'no answer'}`).join('; ');
    if (settled) return true;
    if (sched.now >= deadline) {
      fail(`liveness: health did not settle at 100 on every node within ${s.converge.timeoutMs}ms after the heal (${last || 'no answers'})`);
      return false;
    }
    await sched.runUntil(sched.now + 200);
  }
}

/** After the heal, every running machine's service resources must match the CDB's objects. */
async function servicesSettle(s: Scenario, sched: Scheduler, cluster: SimCluster, deadline: number, fail: (m: string) => void): Promise<boolean> {
  let last = 'no answer';
  for (;;) {
    let objects: CdbObject[] | undefined;
    const n = cluster.up()[0];
    n?.api?.call('cdb', { op: 'ls', consistency: 'stale' }, (r) => {
      const a = r as { ok?: boolean; objects?: CdbObject[] };
      if (a.ok) objects = a.objects;
    });
    await sched.runUntil(sched.now + 20);
    if (objects) {
      const why = await servicesUnsettled(cluster, objects);
      if (why === undefined) return true;
      last = why;
    }
    if (sched.now >= deadline) {
      fail(`liveness: the node services did not settle within ${s.converge.timeoutMs}ms after the heal: ${last}`);
      return false;
    }
    await sched.runUntil(sched.now + 200);
  }
}

/** Put the scenario's objects create-only through any running node, again until each is in. */
function putObjects(s: Scenario, sched: Scheduler, cluster: SimCluster): void {
  const left = new Set(s.objects.map((_, i) => i));
  const round = (): void => {
    if (left.size === 0) return;
    const node = cluster.up().find((n) => n.api !== undefined);
    for (const i of left) {
      node?.api?.call('cdb', { op: 'put', object: s.objects[i], expectRevision: 0 }, (r) => {
        const res = r as { ok?: boolean; code?: string };
        if (res.ok || res.code === 'conflict') left.delete(i);
      });
    }
    sched.after(100, round);
  };
  sched.after(0, round);
}

/** After the heal, every scenario object reaches its expected state (default ready) as the CDB's meta says. */
async function objectsSettle(s: Scenario, sched: Scheduler, cluster: SimCluster, deadline: number, fail: (m: string) => void): Promise<boolean> {
  const keys = s.objects.map((o) => `${String(o.type)}/${String(o.id)}`);
  for (;;) {
    const seen = new Map<string, string>();
    const node = cluster.up().find((n) => n.api !== undefined);
    for (const key of keys) {
      const [type, id] = key.split('/');
      node?.api?.call('cdb', { op: 'meta', type, id }, (r) => {
        const v = (r as { view?: { state?: string; meta?: { reason?: string } } }).view;
        seen.set(key, `${v?.state ?? 'unknown'}${v?.meta?.reason ? ` (${v.meta.reason})` : ''}`);
      });
    }
    await sched.runUntil(sched.now + 50);
    const wrong = keys.filter((k) => !(seen.get(k) ?? '').startsWith(s.expect[k] ?? 'ready'));
    if (wrong.length === 0) return true;
    if (sched.now >= deadline) {
      fail(`liveness: objects did not settle after the heal: ${wrong.map((k) => `${k} is ${seen.get(k) ?? 'not answered'}, expected ${s.expect[k] ?? 'ready'}`).join('; ')}`);
      return false;
    }
    await sched.runUntil(sched.now + 200);
  }
}
