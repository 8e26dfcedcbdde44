// Reconnect backoff: a pure function of (attempt, policy, random draw), so it
// is unit-testable and replayable. The random draw comes from an injected
// source (crypto by default), never Math.random.
import crypto from 'node:crypto';

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  baseMs: number;
  /** Upper bound of the exponential part, in ms. */
  maxMs: number;
  /** Growth per attempt (2 = doubling). */
  factor: number;
  /**
   * Fraction of the delay that is randomised, in [0, 1]. The delay is drawn
   * uniformly from [d·(1−jitter), d] where d is the capped exponential value:
   * 0 = no jitter, 1 = "full jitter". Default 0.5 keeps at least half of d, so
   * a restarted peer is never hammered in a tight loop, while spreading
   * simultaneous reconnects of many nodes.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 10_000, factor: 2, jitter: 0.5 };

/** Random source in [0, 1); compatible with runtime/env's Rng. */
export interface RandomSource {
  next(): number;
}

export const cryptoRandom: RandomSource = {
  // randomInt needs max - min < 2^48.
  next: () => crypto.randomInt(0, 2 ** 48 - 1) / 2 ** 48,
};

/**
 * Delay in ms before reconnect attempt number `attempt` (0 = first retry).
 * `rand` is a draw in [0, 1). Always an integer in [ceil(d·(1−jitter)), d].
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, rand: number): number {
  const a = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, Number.isFinite(rand) ? rand : 0));
  // factor^a overflows to Infinity for large a; min() caps it.
  const d = Math.max(0, Math.min(policy.maxMs, policy.baseMs * Math.pow(Math.max(1, policy.factor), a)));
  const lo = d * (1 - jitter);
  return Math.min(Math.round(d), Math.ceil(lo + (d - lo) * r));
}

export function resolveBackoff(p?: Partial<BackoffPolicy>): BackoffPolicy {
  const out = { ...DEFAULT_BACKOFF, ...p };
  if (!(out.baseMs >= 0) || !(out.maxMs >= out.baseMs) || !(out.factor >= 1) || !(out.jitter >= 0 && out.jitter <= 1)) {
    throw new RangeError(`invalid backoff policy ${JSON.stringify(out)}`);
  }
  return out;
}
