// The one door through which nondeterminism reaches actor code: time, timers,
// "run this soon", randomness and fault-injection hooks. Real mode wires these
// to the OS; the simulator wires them to virtual time and one seed.
import type { Rng } from './random.ts';

export type TimerId = number;

export interface Env {
  /** Milliseconds since an arbitrary epoch (wall clock in real mode, virtual in simulation). */
  now(): number;
  /** Run fn once after delayMs. */
  setTimer(delayMs: number, fn: () => void): TimerId;
  clearTimer(id: TimerId): void;
  /** Run fn right after the current turn (a microtask in real mode): the low-latency path. */
  schedule(fn: () => void): void;
  /** Run fn on a later turn, after pending I/O (setImmediate in real mode): for yielding after a long batch. */
  defer(fn: () => void): void;
  readonly rng: Rng;
  /**
   * FoundationDB-style buggify: true when the simulation has chosen to force
   * the rare path at this named site for this seed. Always false in real mode.
   */
  buggify(site: string): boolean;
  /**
   * Promise work the runtime started — a restart, an async behaviour, a
   * graceful stop, an ask's promise — whose reactions run in the real
   * microtask queue, outside any event queue. A simulator lets them run
   * before virtual time moves on while any is unsettled (and skips that
   * costly flush while none is); real mode needs nothing.
   */
  settling?(p: PromiseLike<unknown>): void;
}
