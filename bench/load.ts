// Closed-loop load: K clients, each issuing its next request when the last
// one completes, for a fixed time. Shared by every cluster benchmark so ACP
// and its anchor see exactly the same workload.
import { readFileSync } from 'node:fs';

export interface LoadResult {
  perSec: number;
  p50ms: number;
  p99ms: number;
  ok: number;
  errors: number;
  /** The first error's message, if any. */
  firstError?: string;
}

export async function closedLoop(clients: number, durationMs: number, op: (client: number, seq: number) => Promise<unknown>): Promise<LoadResult> {
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let seq = 0; performance.now() < end; seq++) {
        const s = performance.now();
        try {
          await op(c, seq);
          lat.push(performance.now() - s);
        } catch (e) {
          errors++;
          firstError ??= (e as Error)?.message ?? String(e);
        }
      }
    }),
  );
  const elapsed = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const pick = (q: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * q))]! : NaN);
  return { perSec: (lat.length / elapsed) * 1000, p50ms: pick(0.5), p99ms: pick(0.99), ok: lat.length, errors, ...(firstError === undefined ? {} : { firstError }) };
}

export function summarize(xs: number[]): { median: number; max: number; trials: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN, trials: s.length };
}

/**
 * Latency histogram for millions of samples without keeping them: buckets 1% wide from 1 µs
 * (a quantile is exact to within 1%), plus an exact count of zeros.
 */
export class Histogram {
  static readonly #GROWTH = Math.log(1.01);
  static readonly #MIN_MS = 0.001;
  #buckets = new Float64Array(2400); // 1.01^2400 µs ≈ 23 days: anything measurable
  #zeros = 0;
  count = 0;
  max = 0;

  add(ms: number): void {
    this.count++;
    if (ms > this.max) this.max = ms;
    if (ms <= Histogram.#MIN_MS) {
      this.#zeros++;
      return;
    }
    const i = Math.min(this.#buckets.length - 1, Math.floor(Math.log(ms / Histogram.#MIN_MS) / Histogram.#GROWTH));
    this.#buckets[i]!++;
  }

  /** The q-quantile (upper edge of its bucket), NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(this.count * q);
    let seen = this.#zeros;
    if (seen >= rank) return 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return Math.min(this.max, Histogram.#MIN_MS * Math.exp((i + 1) * Histogram.#GROWTH));
    }
    return this.max;
  }
}

/** Resident set size of a process in bytes (Linux /proc), or NaN. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far (Linux /proc), or NaN. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state is 3rd overall, so utime (14th) and stime (15th) are [11], [12]
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}
