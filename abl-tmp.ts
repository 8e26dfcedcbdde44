// ablation: node abl-tmp.ts simSeconds seeds snapshotEvery clients
import { runScenario } from './actors/node/sim/run.ts';
import steadyWrites from './fixtures/scenarios/steady-writes.ts';
const [simS, seeds, snapEvery, clients] = process.argv.slice(2).map(Number);
const s = { ...steadyWrites, durationMs: simS * 1000, cluster: { ...steadyWrites.cluster, snapshotEvery: snapEvery }, workload: { ...steadyWrites.workload, clients } };
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
await runScenario(s, { seed: 1 });
const c0 = cpu(); let sim = 0; let ev = 0;
for (let seed = 2; seed <= seeds; seed++) { const r = await runScenario(s, { seed }); sim += r.simMs; ev += r.events; }
console.log(`snapEvery ${snapEvery} clients ${clients}: ${(sim / (cpu() - c0)).toFixed(1)}x per CPU s, ${(ev / (sim / 1000)).toFixed(0)} events per sim s, ${((cpu() - c0) * 1000 / ev).toFixed(1)} us/event`);
