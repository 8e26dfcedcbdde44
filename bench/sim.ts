// Simulator speed: simulated seconds per wall-clock second for a 5-node Raft
// cluster under steady write load (no faults), trace off — the sweep setting.
//   node bench/sim.ts [simSeconds] [seeds] [clients] [thinkMs] [tickMs]
// With no more than [simSeconds] [seeds] it runs the scenario users run,
// fixtures/scenarios/steady-writes.ts: 4 clients, 20 ms think time (~130 ops
// and ~105 writes+cas per simulated second) and etcd's default timing — a
// 100 ms tick, heartbeat every tick, election timeout 10 ticks (1 s). Finer
// ticks (e.g. 10 ms) keep the same timing at 10x the tick events.
//
// Besides wall time it reports CPU time (on a shared machine wall time also
// measures the neighbours), and the figure without the first seed: that one
// also pays for JIT warm-up, which a long sweep amortises.
import { defineScenario } from '../runtime/sim/scenario.ts';
import { runScenario } from '../actors/node/sim/run.ts';
import steadyWrites from '../fixtures/scenarios/steady-writes.ts';

const simSeconds = Number(process.argv[2] ?? 20);
const seeds = Number(process.argv[3] ?? 3);
const custom = process.argv.length > 4;
/** Clients; each issues one operation at a time with ~thinkMs between them. */
const clients = Number(process.argv[4] ?? steadyWrites.workload.clients);
const thinkMs = Number(process.argv[5] ?? steadyWrites.workload.thinkMs);
const tickMs = Number(process.argv[6] ?? steadyWrites.cluster.tickMs);
const ticksPerSecond = 1000 / tickMs;
const steady = custom
  ? defineScenario({
      name: 'bench-steady-writes',
      // Heartbeat every 100 ms, election timeout 1 s, whatever the tick.
      cluster: { nodes: 5, tickMs, electionTicks: ticksPerSecond, heartbeatTicks: ticksPerSecond / 10, snapshotEvery: 500 },
      workload: { clients, keys: 16, opTimeoutMs: 1000, thinkMs, mix: { read: 0.2, write: 0.7, cas: 0.1 } },
      buggify: false,
      durationMs: simSeconds * 1000,
    })
  : { ...steadyWrites, durationMs: simSeconds * 1000 };

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Totals over a set of seeds. */
const total = () => ({ sim: 0, wall: 0, cpu: 0, seeds: 0 });
const all = total();
const afterFirst = total();
let ops = 0;
let writes = 0;
/** Successful reads are not in the stats; estimate them from the mix. */
const reads = (r: { stats: { ops: { ok: number } } }): number => Math.round(r.stats.ops.ok * 0.2);
let cpu0 = cpuMs();
for (let seed = 1; seed <= seeds; seed++) {
  const r = await runScenario(steady, { seed });
  const cpu1 = cpuMs();
  const cpu = cpu1 - cpu0;
  cpu0 = cpu1;
  if (!r.ok) {
    console.error(`seed ${seed} failed:\n${r.failures.join('\n')}`);
    process.exit(1);
  }
  for (const t of seed === 1 ? [all] : [all, afterFirst]) {
    t.sim += r.simMs;
    t.wall += r.wallMs;
    t.cpu += cpu;
    t.seeds++;
  }
  ops += r.stats.ops.ok;
  writes += r.stats.ops.ok - reads(r);
  console.log(
    `seed ${seed}: ${(r.simMs / 1000).toFixed(1)} sim s in ${(r.wallMs / 1000).toFixed(3)} wall s = ${(r.simMs / r.wallMs).toFixed(0)}x, ${(r.simMs / cpu).toFixed(0)}x per CPU s; ` +
      `${r.events} events, ${r.stats.ops.ok} ok ops (${((r.stats.ops.ok / r.simMs) * 1000).toFixed(0)}/sim s), commit ${r.stats.commitIndex}`,
  );
}
const speed = (t: ReturnType<typeof total>): string => `${(t.sim / t.wall).toFixed(1)}x per wall s, ${(t.sim / t.cpu).toFixed(1)}x per CPU s`;
console.log(
  `simulated seconds: ${speed(all)} (${seeds} seeds)` + (afterFirst.seeds > 0 ? `; steady state (without seed 1): ${speed(afterFirst)}` : '') +
    ` — ${ops} ok ops, ~${((writes / all.sim) * 1000).toFixed(0)} writes per sim s, ${clients} clients, think ${thinkMs} ms, tick ${tickMs} ms`,
);
