// The simulator's one source of time: a single event queue ordered by
// (virtual time, sequence number). Everything that "happens later" in a
// simulation — timers, message deliveries, disk completions, scheduled faults —
// is an event here, so one thread runs a whole cluster and one seed replays it.
//
// Two kinds of "soon":
// - `queueImmediate(fn)`: runs right after the current event, before any other
//   event (the simulated microtask queue; Env.schedule maps here).
// - `at(time, fn)` with time = now: runs on a later turn, after events already
//   queued for this instant (Env.defer maps here).
//
// Real promises: actor code may use real Promises (ask). Their reactions run in
// the real microtask queue, which we cannot see into. Before virtual time
// advances we let them run, so a promise settled at time t is observed at time
// t: a complete flush (one setImmediate, a whole event-loop turn) while the
// nodes report promise work unsettled (`unsettled`, counted through
// Env.settling) or the owner's `pendingReactions()` says some may be waiting,
// and otherwise every FORCED_FLUSH_EVERY time steps. Flushing depends only
// on the event sequence, never on wall-clock time, so runs stay deterministic.

export type EventFn = () => void;

/**
 * Real promise reactions that may be waiting when virtual time is about to advance:
 * - 'none': nothing to run;
 * - 'chained': reactions (which may settle further promises): flush completely.
 */
export type PendingReactions = 'none' | 'chained';

/** A queued event; `at` hands it out so its owner can cancel it. */
export interface SimEvent {
  readonly time: number;
  readonly seq: number;
  /** null once cancelled. */
  fn: EventFn | null;
}

/** Min-heap on (time, seq). Hand-rolled: this is the hottest structure in the simulator. */
class EventHeap {
  #a: SimEvent[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): SimEvent | undefined {
    return this.#a[0];
  }
  push(e: SimEvent): void {
    const a = this.#a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = a[p];
      if (pe.time < e.time || (pe.time === e.time && pe.seq < e.seq)) break;
      a[i] = pe;
      i = p;
    }
    a[i] = e;
  }
  /** Drop cancelled events (fn === null) and restore the heap order: O(n). */
  removeCancelled(): void {
    const a = this.#a.filter((e) => e.fn !== null);
    this.#a = a;
    for (let i = (a.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }
  #siftDown(i: number): void {
    const a = this.#a;
    const n = a.length;
    const e = a[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (a[r].time < a[l].time || (a[r].time === a[l].time && a[r].seq < a[l].seq))) c = r;
      const ce = a[c];
      if (e.time < ce.time || (e.time === ce.time && e.seq < ce.seq)) break;
      a[i] = ce;
      i = c;
    }
    a[i] = e;
  }
  pop(): SimEvent | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    this.#siftDown(0);
    return top;
  }
}

/**
 * A safety net for reactions nobody reports (a behaviour's own fire-and-forget
 * promise): a complete flush at least this often. Rare, because each one costs
 * a real event-loop turn; the runtime reports its own promises (Env.settling).
 */
const FORCED_FLUSH_EVERY = 1024;

/** Flush rounds in one instant before time moves on regardless. */
const MAX_FLUSH_ROUNDS = 1000;

const flushRealMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Scheduler {
  #now = 0;
  #seq = 0;
  #heap = new EventHeap();
  // The immediate queue: slots [head, count) are waiting. Slots are reused,
  // never truncated: `length = 0` would free the backing store and the next
  // push would allocate a new one, for nearly every event.
  #immediate: (EventFn | undefined)[] = [];
  #immediateHead = 0;
  #immediateCount = 0;
  #stopped = false;
  /** Events executed so far (a cheap progress / cost counter). */
  eventsRun = 0;
  /** Set by the first exception escaping an event: the run stops and reports it. */
  failure: Error | undefined;
  /**
   * Real promise reactions the owner knows may be waiting, besides the nodes'
   * own (`unsettled`). The default assumes some always may; the simulator's
   * run sets 'none', since all of its promises are the nodes'.
   */
  pendingReactions: () => PendingReactions = () => 'chained';
  /**
   * Promise work reported through the nodes' Env.settling and not yet
   * settled: while any is, real reactions are flushed before time moves.
   */
  unsettled = 0;
  #advancesSinceFlush = 0;

  get now(): number {
    return this.#now;
  }

  /** Run fn at virtual time `time` (clamped to now). Events at equal times run in the order they were queued. */
  at(time: number, fn: EventFn): SimEvent {
    const e: SimEvent = { time: time < this.#now ? this.#now : time, seq: this.#seq++, fn };
    this.#heap.push(e);
    return e;
  }

  after(delayMs: number, fn: EventFn): SimEvent {
    return this.at(this.#now + (delayMs > 0 ? delayMs : 0), fn);
  }

  /**
   * Forget a queued event. It stays in the heap (removal from the middle would
   * cost more) but is dropped when it reaches the top: it neither runs, nor
   * advances time, nor counts as an event. Most cleared timers are ask
   * timeouts, one per client request.
   */
  cancel(e: SimEvent): void {
    if (e.fn === null) return;
    e.fn = null;
    // Most cancelled timers (ask timeouts) would sit in the heap for a second
    // or more, making every push and pop deeper: sweep them out once they are
    // half of it.
    if (++this.#cancelled * 2 > this.#heap.size + 64) {
      this.#heap.removeCancelled();
      this.#cancelled = 0;
    }
  }

  /** Cancelled events still in the heap. */
  #cancelled = 0;

  /** The earliest live event, dropping cancelled ones on the way. */
  #peekLive(): SimEvent | undefined {
    const heap = this.#heap;
    let next = heap.peek();
    while (next !== undefined && next.fn === null) {
      heap.pop();
      this.#cancelled--;
      next = heap.peek();
    }
    return next;
  }

  queueImmediate(fn: EventFn): void {
    this.#immediate[this.#immediateCount++] = fn;
  }

  /** Make `run` return after the current event. */
  stop(): void {
    this.#stopped = true;
  }

  get pending(): number {
    return this.#heap.size;
  }

  #runOne(fn: EventFn): void {
    try {
      fn();
      this.#drainImmediate();
    } catch (err) {
      this.#immediate.fill(undefined, this.#immediateHead, this.#immediateCount);
      this.#immediateHead = 0;
      this.#immediateCount = 0;
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      this.#stopped = true;
    }
  }

  #drainImmediate(): void {
    const q = this.#immediate;
    while (this.#immediateHead < this.#immediateCount) {
      const i = this.#immediateHead++;
      const fn = q[i]!;
      q[i] = undefined;
      fn();
    }
    this.#immediateHead = 0;
    this.#immediateCount = 0;
  }

  /**
   * Let real promise reactions run, then the work they queued for this
   * instant; again while that work leaves reactions behind (an async
   * behaviour's next message), up to a bound against code that never rests.
   */
  async #flushReactions(): Promise<void> {
    for (let round = 0; round < MAX_FLUSH_ROUNDS; round++) {
      await flushRealMicrotasks();
      const queued = this.#immediateCount > 0;
      this.#runOne(() => {});
      if (!queued || this.#stopped || this.failure !== undefined || (this.unsettled === 0 && this.pendingReactions() !== 'chained')) return;
    }
  }

  /**
   * Run events until virtual time `until` (inclusive of events at `until`), the
   * queue empties, `stop()` is called, or an event throws. Returns the virtual time reached.
   */
  async runUntil(until: number): Promise<number> {
    this.#stopped = false;
    await flushRealMicrotasks();
    this.#runOne(() => {});
    while (!this.#stopped && this.failure === undefined) {
      let next = this.#peekLive();
      if (next === undefined || next.time > until) break;
      if (next.time > this.#now) {
        // Let real promise reactions from this instant run before time moves on.
        if (this.unsettled > 0 || this.pendingReactions() === 'chained' || ++this.#advancesSinceFlush >= FORCED_FLUSH_EVERY) {
          this.#advancesSinceFlush = 0;
          await this.#flushReactions();
          if (this.#stopped || this.failure !== undefined) break;
          // The reactions may have queued earlier events: always take the heap's current top.
          next = this.#peekLive();
          if (next === undefined || next.time > until) break;
        }
        if (next.time > this.#now) this.#now = next.time;
      }
      this.#heap.pop();
      this.eventsRun++;
      const fn = next.fn!;
      next.fn = null; // ran: a later cancel() is a no-op
      this.#runOne(fn);
    }
    await flushRealMicrotasks();
    this.#runOne(() => {});
    if (!this.#stopped && this.failure === undefined && this.#now < until) this.#now = until;
    return this.#now;
  }
}
