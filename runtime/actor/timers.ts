// An actor's timers (Akka's TimerScheduler): single and periodic timers by
// key, a new one replacing an active one of the same key. Their messages
// reach the actor like any other, and only while it runs.
import type { Timers } from './types.ts';
import type { Env, TimerId } from '../env/env.ts';

/** What timers need of their actor (a Cell). */
export interface TimerOwner {
  readonly env: Env;
  /** A timer fired: send `msg` to the actor if it is still running. */
  timerFired(msg: unknown): void;
}

export class ActorTimers implements Timers<unknown> {
  readonly #owner: TimerOwner;
  readonly #env: Env;
  /** Allocated on the first timer. */
  #ids: Map<string, TimerId> | null = null;
  constructor(owner: TimerOwner) {
    this.#owner = owner;
    this.#env = owner.env;
  }

  startSingle(key: string, msg: unknown, delayMs: number): void {
    this.#start(key, msg, delayMs, false);
  }
  startPeriodic(key: string, msg: unknown, intervalMs: number): void {
    this.#start(key, msg, intervalMs, true);
  }
  cancel(key: string): void {
    const id = this.#ids?.get(key);
    if (id !== undefined) {
      this.#env.clearTimer(id);
      this.#ids!.delete(key);
    }
  }
  isActive(key: string): boolean {
    return this.#ids?.has(key) ?? false;
  }
  cancelAll(): void {
    if (!this.#ids) return;
    for (const id of this.#ids.values()) this.#env.clearTimer(id);
    this.#ids.clear();
  }

  #start(key: string, msg: unknown, ms: number, periodic: boolean): void {
    this.cancel(key);
    const ids = (this.#ids ??= new Map());
    const env = this.#env;
    const owner = this.#owner;
    const fire = (): void => {
      if (periodic) ids.set(key, env.setTimer(ms, fire));
      else ids.delete(key);
      owner.timerFired(msg);
    };
    ids.set(key, env.setTimer(ms, fire));
  }
}
