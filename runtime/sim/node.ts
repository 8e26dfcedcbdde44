// One simulated machine's view of the world: its own clock (which may be
// skewed, drift, or jump), its own timers and "soon" queues (all cancelled when
// it crashes), pause/resume, and buggify. Code running "on" a node reaches
// nondeterminism only through the Env this hands out.
import type { Env, TimerId } from '../env/env.ts';
import type { Rng } from '../env/random.ts';
import type { Buggify } from './buggify.ts';
import type { Scheduler, EventFn, SimEvent } from './scheduler.ts';

/**
 * Where every simulated wall clock starts (2026-01-01T00:00:00Z): a node's clock
 * reads like a real one, so a skewed or stepped-back clock never goes below zero
 * (a negative reading is no wall clock, and the schemas of what nodes publish
 * rightly refuse it).
 */
export const SIM_EPOCH_MS = 1_767_225_600_000;

export class SimNode {
  readonly id: string;
  #sched: Scheduler;
  #buggify: Buggify;
  #rngSource: Rng;
  /** Bumped on every crash: events queued by an earlier incarnation are void. */
  incarnation = 0;
  up = true;
  paused = false;
  /** Events that came due while paused, in order; replayed on resume. */
  #held: EventFn[] = [];
  // Clock: local = base + (virtual - anchor) * (1 + drift).
  #clockBase = SIM_EPOCH_MS;
  #clockAnchor = 0;
  #drift = 0;
  #env: NodeEnv;

  constructor(id: string, sched: Scheduler, buggify: Buggify, rng: Rng) {
    this.id = id;
    this.#sched = sched;
    this.#buggify = buggify;
    this.#rngSource = rng;
    this.#env = new NodeEnv(this, this.incarnation, rng.fork());
  }

  /** The Env for code running in the node's current incarnation. */
  get env(): Env {
    return this.#env;
  }

  localNow(): number {
    return this.#clockBase + (this.#sched.now - this.#clockAnchor) * (1 + this.#drift);
  }

  /** Promise work of the current incarnation's runtime not yet settled (see Env.settling). */
  get settling(): number {
    return this.#env.dead ? 0 : this.#env.settlingCount;
  }

  /** Local clock reading minus virtual time: how wrong this node's clock is. */
  get skew(): number {
    return this.localNow() - SIM_EPOCH_MS - this.#sched.now;
  }

  #reanchor(): void {
    this.#clockBase = this.localNow();
    this.#clockAnchor = this.#sched.now;
  }

  /** Step the wall clock (NTP correction, VM migration). Timers are monotonic and unaffected, as in Node. */
  jumpClock(deltaMs: number): void {
    this.#reanchor();
    this.#clockBase += deltaMs;
  }

  /** Run the clock fast (drift > 0) or slow; timers stretch accordingly. */
  setDrift(drift: number): void {
    this.#reanchor();
    this.#drift = drift;
  }

  get drift(): number {
    return this.#drift;
  }

  /** Local milliseconds → virtual milliseconds (a slow clock makes timers fire late). */
  localToVirtual(ms: number): number {
    return ms / (1 + this.#drift);
  }

  /** Run fn if the node is up; hold it while paused. Used for deliveries (not tied to an incarnation). */
  deliver(fn: EventFn): boolean {
    if (!this.up) return false;
    if (this.paused) this.#held.push(fn);
    else fn();
    return true;
  }

  /** Run fn only if the node has not crashed since `inc`; hold it while paused. */
  runFor(inc: number, fn: EventFn): void {
    if (inc !== this.incarnation || !this.up) return;
    if (this.paused) this.#held.push(() => this.runFor(inc, fn));
    else fn();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.#held;
    this.#held = [];
    // Replay in the order they came due, each on its own turn, at the resume instant.
    for (const fn of held) this.#sched.at(this.#sched.now, () => this.deliver(fn));
  }

  /** Power off: every timer and queued turn of this incarnation is void, the env goes inert. */
  crash(): void {
    this.up = false;
    this.paused = false;
    this.#held = [];
    // Its promise work will never be waited for again.
    this.#sched.unsettled -= this.#env.settlingCount;
    this.#env.dead = true;
    this.incarnation++;
  }

  /** Power on with a fresh Env (the process restarts; the disk is whatever survived). */
  restart(): void {
    this.up = true;
    this.#env = new NodeEnv(this, this.incarnation, this.#rngSource.fork());
  }

  // Internals for NodeEnv.
  schedulerFor(): Scheduler {
    return this.#sched;
  }
  buggifyFor(): Buggify {
    return this.#buggify;
  }
}

class NodeEnv implements Env {
  readonly rng: Rng;
  dead = false;
  settlingCount = 0;
  #node: SimNode;
  #inc: number;
  #sched: Scheduler;
  /** Pending timers and their queued events (cancelled on clearTimer). */
  #timers = new Map<TimerId, SimEvent>();
  #nextTimer = 1;

  constructor(node: SimNode, inc: number, rng: Rng) {
    this.#node = node;
    this.#inc = inc;
    this.#sched = node.schedulerFor();
    this.rng = rng;
  }

  now(): number {
    return this.#node.localNow();
  }

  setTimer(delayMs: number, fn: () => void): TimerId {
    const id = this.#nextTimer++;
    if (this.dead) return id;
    const node = this.#node;
    const inc = this.#inc;
    const event = this.#sched.after(node.localToVirtual(delayMs), () =>
      // Still checked: a timer that came due while the node was paused is cleared while held.
      node.runFor(inc, () => {
        if (this.#timers.delete(id)) fn();
      }),
    );
    this.#timers.set(id, event);
    return id;
  }

  clearTimer(id: TimerId): void {
    const event = this.#timers.get(id);
    if (event === undefined) return;
    this.#timers.delete(id);
    this.#sched.cancel(event);
  }

  schedule(fn: () => void): void {
    if (this.dead) return;
    const node = this.#node;
    const inc = this.#inc;
    if (node.paused) {
      this.#sched.at(this.#sched.now, () => node.runFor(inc, fn));
      return;
    }
    this.#sched.queueImmediate(() => node.runFor(inc, fn));
  }

  defer(fn: () => void): void {
    if (this.dead) return;
    const node = this.#node;
    const inc = this.#inc;
    this.#sched.at(this.#sched.now, () => node.runFor(inc, fn));
  }

  buggify(site: string): boolean {
    if (this.dead) return false;
    return this.#node.buggifyFor().ask(site, this.#node.id);
  }

  settling(p: PromiseLike<unknown>): void {
    if (this.dead) return;
    this.settlingCount++;
    this.#sched.unsettled++;
    const settled = (): void => {
      if (this.dead) return; // the crash took it off the scheduler's count
      this.settlingCount--;
      this.#sched.unsettled--;
    };
    p.then(settled, settled);
  }
}
