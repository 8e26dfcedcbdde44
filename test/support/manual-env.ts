// A hand-driven Env for in-thread runtime tests: virtual time that moves only
// when the test calls advance(), so timeouts, timers and restart windows are
// exact and never depend on how fast the machine is.
import type { Env, TimerId } from '../../runtime/env/env.ts';
import { SeededRng, type Rng } from '../../runtime/env/random.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualEnv implements Env {
  readonly rng: Rng;
  #now: number;
  #timers = new Map<TimerId, Pending>();
  #nextId = 1;
  #seq = 0;

  constructor(start = 1_000_000, seed = 1) {
    this.#now = start;
    this.rng = new SeededRng(seed);
  }
  now(): number {
    return this.#now;
  }
  setTimer(delayMs: number, fn: () => void): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn });
    return id;
  }
  clearTimer(id: TimerId): void {
    this.#timers.delete(id);
  }
  schedule(fn: () => void): void {
    queueMicrotask(fn);
  }
  defer(fn: () => void): void {
    setImmediate(fn);
  }
  buggify(): boolean {
    return false;
  }
  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /**
   * Move the clock forward by `ms`, firing due timers in time order and
   * letting the runtime settle (microtasks and deferred turns) after each.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      let next: [TimerId, Pending] | undefined;
      for (const e of this.#timers) {
        if (e[1].at > end) continue;
        if (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq)) next = e;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Let queued microtasks and setImmediate turns run (the runtime's schedule/defer). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
