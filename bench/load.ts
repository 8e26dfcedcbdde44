// Closed-loop load: K clients, each issuing its next request when the last
// one completes, for a fixed time. Shared by every cluster benchmark so ACP
// and its anchor see exactly the same workload.

export interface LoadResult {
  perSec: number;
  p50ms: number;
  p99ms: number;
  ok: number;
  errors: number;
}

export async function closedLoop(clients: number, durationMs: number, op: (client: number, seq: number) => Promise<unknown>): Promise<LoadResult> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let seq = 0; performance.now() < end; seq++) {
        const s = performance.now();
        try {
          await op(c, seq);
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const pick = (q: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * q))]! : NaN);
  return { perSec: (lat.length / elapsed) * 1000, p50ms: pick(0.5), p99ms: pick(0.99), ok: lat.length, errors };
}

export function summarize(xs: number[]): { median: number; max: number; trials: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN, trials: s.length };
}
