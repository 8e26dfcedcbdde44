// Time for the network layer's own bookkeeping (handshake deadlines, log
// summaries, heartbeats): injected, so the pure parts run under virtual time
// in tests. Same shape as runtime/env's now/setTimer/clearTimer.

export interface NetClock {
  /** Milliseconds, monotonic (any epoch). */
  now(): number;
  /** Run fn once after delayMs. Real timers are unref'd: they never keep a process alive. */
  setTimer(delayMs: number, fn: () => void): unknown;
  clearTimer(id: unknown): void;
}

export const realClock: NetClock = {
  now: () => performance.now(),
  setTimer: (delayMs, fn) => {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return t;
  },
  clearTimer: (id) => clearTimeout(id as NodeJS.Timeout),
};
