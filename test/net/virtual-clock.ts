// A virtual NetClock for unit tests: time moves only when the test says so.
import type { NetClock } from '../../runtime/net/clock.ts';

export class VirtualClock implements NetClock {
  t = 0;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  now = (): number => this.t;
  setTimer = (delayMs: number, fn: () => void): unknown => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.t + Math.max(0, delayMs), fn });
    return id;
  };
  clearTimer = (id: unknown): void => {
    this.#timers.delete(id as number);
  };
  get pending(): number {
    return this.#timers.size;
  }
  /** Move time forward to `to`, firing due timers in (time, creation) order. */
  advanceTo(to: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= to && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = to;
  }
  /**
   * Jump to `to` without running anything (the event loop was stalled), then
   * run one timers phase: only the timers due now that existed before it, as
   * Node does; timers they create wait for the next phase.
   */
  stallTo(to: number): void {
    this.t = to;
    const due = [...this.#timers].filter(([, e]) => e.at <= to).sort((x, y) => x[1].at - y[1].at || x[0] - y[0]);
    for (const [id, e] of due) {
      if (!this.#timers.delete(id)) continue;
      e.fn();
    }
  }
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
}
