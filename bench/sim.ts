// Simulator speed: simulated seconds per wall-clock second for a 5-node Raft
// cluster under steady write load (no faults), trace off — the sweep setting.
//   node bench/sim.ts [simSeconds] [seeds] [clients] [thinkMs] [heartbeatTicks]
// Defaults: 4 clients, 20 ms think time (~130 ops and ~105 writes+cas per
// simulated second), heartbeat 100 ms / election 1 s (etcd's defaults).
import { defineScenario } from '../runtime/sim/scenario.ts';
import { runScenario } from '../runtime/sim/run.ts';

const simSeconds = Number(process.argv[2] ?? 20);
const seeds = Number(process.argv[3] ?? 3);
/** Clients; each issues one operation at a time with ~thinkMs between them. */
const clients = Number(process.argv[4] ?? 4);
const thinkMs = Number(process.argv[5] ?? 20);
/** Heartbeat interval in 10 ms ticks (1 = every 10 ms; etcd's default is 100 ms = 10). Election timeout is 10x it. */
const heartbeatTicks = Number(process.argv[6] ?? 10);
const steady = defineScenario({
  name: 'bench-steady-writes',
  cluster: { nodes: 5, tickMs: 10, electionTicks: 10 * heartbeatTicks, heartbeatTicks, snapshotEvery: 500 },
  workload: { clients, keys: 16, opTimeoutMs: 1000, thinkMs, mix: { read: 0.2, write: 0.7, cas: 0.1 } },
  buggify: false,
  durationMs: simSeconds * 1000,
});

let sim = 0;
let wall = 0;
// CPU time too: on a shared machine wall time also measures the neighbours.
const cpu0 = process.cpuUsage();
let ops = 0;
let writes = 0;
/** Successful reads are not in the stats; estimate them from the mix. */
const reads = (r: { stats: { ops: { ok: number } } }): number => Math.round(r.stats.ops.ok * 0.2);
for (let seed = 1; seed <= seeds; seed++) {
  const r = await runScenario(steady, { seed });
  if (!r.ok) {
    console.error(`seed ${seed} failed:\n${r.failures.join('\n')}`);
    process.exit(1);
  }
  sim += r.simMs;
  wall += r.wallMs;
  ops += r.stats.ops.ok;
  writes += r.stats.ops.ok - reads(r);
  console.log(
    `seed ${seed}: ${(r.simMs / 1000).toFixed(1)} sim s in ${(r.wallMs / 1000).toFixed(2)} wall s = ${(r.simMs / r.wallMs).toFixed(0)}x; ` +
      `${r.events} events, ${r.stats.ops.ok} ok ops (${((r.stats.ops.ok / r.simMs) * 1000).toFixed(0)}/sim s), commit ${r.stats.commitIndex}`,
  );
}
const cpu = process.cpuUsage(cpu0);
console.log(
  `simulated seconds per wall second: ${(sim / wall).toFixed(1)}; per CPU second: ${(sim / ((cpu.user + cpu.system) / 1000)).toFixed(1)} ` +
    `(${seeds} seeds, ${ops} ok ops, ~${((writes / sim) * 1000).toFixed(0)} writes per sim s, ${clients} clients, think ${thinkMs} ms, heartbeat ${heartbeatTicks * 10} ms)`,
);
