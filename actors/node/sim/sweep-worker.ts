// Piscina worker for seed sweeps: runs one (script, seed) with the trace off
// (fast); a failing seed is re-run with the trace on — the run is
// deterministic, so the second run fails the same way and its trace shows how.
import { loadScenario } from '../../../runtime/sim/load.ts';
import { runScenario } from './run.ts';
import type { Scenario } from '../../../runtime/sim/scenario.ts';

export interface SweepTask {
  script: string;
  seed: number;
  unsafeLocalReads?: boolean;
  durationMs?: number;
  /** Keep the trace of a failing seed (returned as text). */
  traceFailures?: boolean;
}

export interface SweepResult {
  seed: number;
  ok: boolean;
  failures: string[];
  simMs: number;
  wallMs: number;
  trace?: string;
}

const cache = new Map<string, Promise<Scenario>>();

export default async function runSeed(task: SweepTask): Promise<SweepResult> {
  let p = cache.get(task.script);
  if (p === undefined) cache.set(task.script, (p = loadScenario(task.script)));
  const s = await p;
  const opts = { seed: task.seed, unsafeLocalReads: task.unsafeLocalReads ?? false, ...(task.durationMs ? { durationMs: task.durationMs } : {}) };
  const r = await runScenario(s, opts);
  const out: SweepResult = { seed: task.seed, ok: r.ok, failures: r.failures, simMs: r.simMs, wallMs: r.wallMs };
  if (!r.ok && task.traceFailures) {
    const again = await runScenario(s, { ...opts, trace: true });
    out.trace = again.trace.text();
  }
  return out;
}
