// `acp sim SCRIPT`: run a scripted cluster simulation.
//
//   acp sim fixtures/scenarios/leader-crash.ts --seed 7 [--trace run.jsonl]
//   acp sim fixtures/scenarios/nemesis-soak.ts --seeds 1..200 --workers 2 [--json out.json] [--trace failures.jsonl]
//
// Every failing seed is printed with the one-line command that replays it.
// Exit codes: 0 all passed, 1 some seed failed, 2 bad arguments or bad script.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';
import { loadScenario } from '../../runtime/sim/load.ts';
import { runScenario } from '../../actors/node/sim/run.ts';
import { ScenarioError } from '../../runtime/sim/scenario.ts';
import type { SweepResult, SweepTask } from '../../actors/node/sim/sweep-worker.ts';

interface SimOptions {
  seed?: string;
  seeds?: string;
  workers?: string;
  trace?: string;
  json?: string;
  duration?: string;
  unsafeLocalReads?: boolean;
}

function parseIntArg(v: string, what: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`${what} must be an integer, got "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} is out of range: ${v}`);
  return n;
}

export function parseSeedRange(v: string): [number, number] {
  const m = /^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$/.exec(v);
  if (!m) throw new UsageError(`--seeds must look like A..B (e.g. 1..100), got "${v}"`);
  const a = parseIntArg(m[1], '--seeds start');
  const b = parseIntArg(m[2], '--seeds end');
  if (b < a) throw new UsageError(`--seeds range is empty: ${v}`);
  if (b - a + 1 > 1_000_000) throw new UsageError(`--seeds range is too large (${b - a + 1} seeds)`);
  return [a, b];
}

function replayCommand(script: string, seed: number, o: SimOptions): string {
  return `acp sim ${script} --seed ${seed}${o.duration ? ` --duration ${o.duration}` : ''}${o.unsafeLocalReads ? ' --unsafe-local-reads' : ''} --trace seed-${seed}.jsonl`;
}

export function register(program: Command): void {
  program
    .command('sim')
    .description('run a deterministic cluster simulation from a scenario script')
    .argument('<script>', 'scenario script (e.g. fixtures/scenarios/leader-crash.ts)')
    .option('--seed <n>', 'run one seed')
    .option('--seeds <a..b>', 'sweep a range of seeds in parallel')
    .option('--workers <k>', 'worker threads for a sweep (default: cores)')
    .option('--trace <file>', 'write the trace as JSON lines (one run), or the failing seeds\' traces (sweep)')
    .option('--json <file>', 'write a summary: { seeds, failed, simSecondsPerWallSecond }')
    .option('--duration <ms>', "override the scenario's safety-phase length (virtual ms)")
    .option('--unsafe-local-reads', 'TEST ONLY: serve reads without ReadIndex (must be caught by the checker)')
    .action(async (script: string, o: SimOptions) => {
      try {
        process.exitCode = await simCommand(script, o);
      } catch (e) {
        if (e instanceof ScenarioError) throw new UsageError(e.message);
        throw e;
      }
    });
}

export async function simCommand(script: string, o: SimOptions): Promise<number> {
  if (o.seed !== undefined && o.seeds !== undefined) throw new UsageError('give either --seed or --seeds, not both');
  const durationMs = o.duration !== undefined ? parseIntArg(o.duration, '--duration') : undefined;
  if (durationMs !== undefined && durationMs <= 0) throw new UsageError('--duration must be positive');
  const scenario = await loadScenario(script);
  if (o.seeds === undefined) {
    const seed = o.seed === undefined ? 1 : parseIntArg(o.seed, '--seed');
    if (o.workers !== undefined) throw new UsageError('--workers only applies to --seeds sweeps');
    const r = await runScenario(scenario, { seed, trace: o.trace !== undefined, unsafeLocalReads: o.unsafeLocalReads ?? false, ...(durationMs ? { durationMs } : {}) });
    if (o.trace) writeFileSync(o.trace, r.trace.text());
    const speed = r.simMs / Math.max(r.wallMs, 1e-3);
    const st = r.stats;
    process.stdout.write(
      `${scenario.name} seed ${seed}: ${r.ok ? 'PASSED' : 'FAILED'} — ${(r.simMs / 1000).toFixed(1)} simulated s in ${(r.wallMs / 1000).toFixed(2)} s (${speed.toFixed(0)}x); ` +
        `${st.ops.issued} ops (${st.ops.ok} ok, ${st.ops.pending} unknown), ${st.faults} faults, ${st.crashes} crashes, commit index ${st.commitIndex}, linearizability ${st.lincheck}\n`,
    );
    if (!r.ok) {
      for (const f of r.failures) process.stdout.write(`  ${f.split('\n').join('\n  ')}\n`);
      process.stdout.write(`  replay: ${replayCommand(script, seed, o)}\n`);
    }
    if (o.trace) process.stdout.write(`trace: ${o.trace} (${r.trace.lines.length} events)\n`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ seeds: 1, failed: r.ok ? [] : [seed], simSecondsPerWallSecond: speed }, null, 2) + '\n');
    return r.ok ? 0 : 1;
  }
  return sweep(script, o, parseSeedRange(o.seeds), durationMs);
}

async function sweep(script: string, o: SimOptions, [a, b]: [number, number], durationMs: number | undefined): Promise<number> {
  const workers = o.workers === undefined ? availableParallelism() : parseIntArg(o.workers, '--workers');
  if (workers < 1 || workers > 256) throw new UsageError('--workers must be between 1 and 256');
  const { Piscina } = await import('piscina');
  const pool = new Piscina({
    filename: new URL('../../actors/node/sim/sweep-worker.ts', import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    // Sim runs are CPU-bound and independent: one at a time per thread.
    concurrentTasksPerWorker: 1,
    // Piscina's async idle mode: an idle worker must not freeze in Atomics.wait.
    atomics: 'disabled',
  });
  const total = b - a + 1;
  const t0 = performance.now();
  let done = 0;
  let simMs = 0;
  const failed: SweepResult[] = [];
  const tty = process.stderr.isTTY === true;
  let lastProgress = 0;
  const progress = (final = false): void => {
    const now = performance.now();
    if (!final && !tty && now - lastProgress < 5000) return;
    if (!final && tty && now - lastProgress < 200) return;
    lastProgress = now;
    const wall = (now - t0) / 1000;
    const line = `[acp sim] ${done}/${total} seeds, ${failed.length} failed, ${(simMs / 1000 / Math.max(wall, 1e-3)).toFixed(0)} simulated s per wall s`;
    process.stderr.write(tty ? `\r${line}${final ? '\n' : ''}` : `${line}\n`);
  };
  const tasks: Promise<void>[] = [];
  for (let seed = a; seed <= b; seed++) {
    const task: SweepTask = { script, seed, unsafeLocalReads: o.unsafeLocalReads ?? false, traceFailures: true, ...(durationMs ? { durationMs } : {}) };
    tasks.push(
      (pool.run(task) as Promise<SweepResult>).then(
        (r) => {
          done++;
          simMs += r.simMs;
          if (!r.ok) {
            failed.push(r);
            if (tty) process.stderr.write('\n');
            process.stdout.write(`seed ${r.seed} FAILED: ${r.failures[0]?.split('\n')[0] ?? 'unknown failure'}\n  replay: ${replayCommand(script, r.seed, o)}\n`);
          }
          progress();
        },
        (e: Error) => {
          done++;
          const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
          failed.push({ seed, ok: false, failures: [`worker error: ${msg}`], simMs: 0, wallMs: 0 });
          process.stdout.write(`seed ${seed} FAILED: worker error: ${msg}\n  replay: ${replayCommand(script, seed, o)}\n`);
        },
      ),
    );
  }
  await Promise.all(tasks);
  await pool.destroy();
  progress(true);
  const wallS = (performance.now() - t0) / 1000;
  const speed = simMs / 1000 / Math.max(wallS, 1e-3);
  failed.sort((x, y) => x.seed - y.seed);
  if (failed.length > 0) {
    const withTrace = failed.filter((f) => f.trace !== undefined);
    if (o.trace) {
      writeFileSync(o.trace, withTrace.map((f) => f.trace).join(''));
      process.stdout.write(`traces of ${withTrace.length} failing seed(s): ${o.trace}\n`);
    } else {
      for (const f of withTrace) {
        const file = join(tmpdir(), `acp-sim-seed-${f.seed}.jsonl`);
        writeFileSync(file, f.trace!);
        process.stdout.write(`trace of seed ${f.seed}: ${file}\n`);
      }
    }
  }
  process.stdout.write(
    `${total} seeds: ${total - failed.length} passed, ${failed.length} failed; ${(simMs / 1000).toFixed(0)} simulated s in ${wallS.toFixed(1)} s = ${speed.toFixed(0)} simulated s per wall s (${workers} workers)\n`,
  );
  if (o.json) writeFileSync(o.json, JSON.stringify({ seeds: total, failed: failed.map((f) => f.seed), simSecondsPerWallSecond: Number(speed.toFixed(2)) }, null, 2) + '\n');
  return failed.length > 0 ? 1 : 0;
}
