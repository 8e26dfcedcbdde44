// Env backed by the real clock and timers, for production nodes.
import { SeededRng, type Rng } from './random.ts';
import type { Env, TimerId } from './env.ts';

export class RealEnv implements Env {
  readonly rng: Rng;
  #timers = new Map<number, NodeJS.Timeout>();
  #nextId = 1;
  constructor(seed: number = (Date.now() ^ (process.pid << 16)) | 0) {
    this.rng = new SeededRng(seed);
  }
  now(): number {
    return performance.timeOrigin + performance.now();
  }
  setTimer(delayMs: number, fn: () => void): TimerId {
    const id = this.#nextId++;
    const t = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, Math.max(0, delayMs));
    this.#timers.set(id, t);
    return id;
  }
  clearTimer(id: TimerId): void {
    const t = this.#timers.get(id);
    if (t !== undefined) {
      clearTimeout(t);
      this.#timers.delete(id);
    }
  }
  schedule(fn: () => void): void {
    queueMicrotask(fn);
  }
  defer(fn: () => void): void {
    setImmediate(fn);
  }
  buggify(_site: string): boolean {
    return false;
  }
  /** Cancel every pending timer (used on shutdown so the process can exit). */
  dispose(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
