// The CLI-latency row of bench:cdb: wall time of one command run as a fresh
// process, start-up included — what a person or a script waits for. The
// commands run interleaved (one of each per trial), so a burst of load on the
// shared machine hits all of them alike; the median of each is reported.
import { spawn } from 'node:child_process';
import { delimiter } from 'node:path';

export interface CliCommand {
  name: string;
  cmd: string;
  args: string[];
  cwd: string;
  /** Run only in the first this-many trials (slow commands shown for information). */
  trials?: number;
}

export interface CliTimes {
  /** Median wall time (ms) per command name. */
  medianMs: Record<string, number>;
  samples: Record<string, number[]>;
}

/**
 * The environment a person's shell would give the command: no npm_* variables and no
 * node_modules/.bin on PATH (npm run adds both; `npx` and a plain `node` must find what a user's
 * shell finds).
 */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !p.includes('node_modules/.bin'))
    .join(delimiter);
  delete env.NODE_COMPILE_CACHE;
  return env;
}

/** Run once; resolves with the wall time in ms, rejects with the command's stderr if it fails. */
export function timeOnce(c: CliCommand, env: NodeJS.ProcessEnv, expect?: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(c.cmd, c.args, { cwd: c.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${c.name} exited ${code ?? signal}: ${(err || out).trim().split('\n').slice(-3).join(' | ')}`));
      if (expect && !expect.test(out)) return reject(new Error(`${c.name}: unexpected output: ${out.slice(0, 200)}`));
      resolve(ms);
    });
  });
}

/** `warmup` untimed runs of each (compile caches, page cache), then `trials` interleaved rounds. */
export async function timeInterleaved(cmds: CliCommand[], trials: number, o: { warmup?: number; expect?: Record<string, RegExp> } = {}): Promise<CliTimes> {
  const env = userEnv();
  const samples: Record<string, number[]> = Object.fromEntries(cmds.map((c) => [c.name, []]));
  for (let i = 0; i < (o.warmup ?? 2); i++) for (const c of cmds) await timeOnce(c, env, o.expect?.[c.name]);
  for (let t = 0; t < trials; t++) {
    for (const c of cmds) {
      if (c.trials !== undefined && t >= c.trials) continue;
      samples[c.name]!.push(await timeOnce(c, env, o.expect?.[c.name]));
    }
  }
  const medianMs: Record<string, number> = {};
  for (const [k, xs] of Object.entries(samples)) {
    const s = [...xs].sort((a, b) => a - b);
    medianMs[k] = Math.round(s[Math.floor(s.length / 2)] ?? NaN);
  }
  return { medianMs, samples };
}
