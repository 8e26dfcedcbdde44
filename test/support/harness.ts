// Test harness: systems that are always shut down (even when a test fails),
// and an inspection-event recorder that tests wait on instead of sleeping.
import type { ExecutionContext } from 'ava';
import { ActorSystem, type InspectionEvent, type LogEntry, type SystemOptions } from '../../runtime/actor/index.ts';

/** Upper bound for any single wait: a guard so a broken runtime fails the test with a message instead of hanging. */
export const GUARD_MS = 20_000;

export interface TestSystem {
  system: ActorSystem;
  logs: LogEntry[];
}

/** A system whose shutdown is registered with t.teardown. Logs are captured, not printed. */
export function makeSystem(t: ExecutionContext, opts: SystemOptions = {}): TestSystem {
  const logs: LogEntry[] = [];
  const system = new ActorSystem({ log: (e) => logs.push(e), ...opts });
  t.teardown(() => system.shutdown());
  return { system, logs };
}

type Pred = (e: InspectionEvent) => boolean;

/** Records every inspection event of a system from creation on; wait for one with `next`/`waitFor`. */
export class Recorder {
  readonly events: InspectionEvent[] = [];
  readonly off: () => void;
  #waiters: { pred: Pred; resolve: (e: InspectionEvent) => void }[] = [];

  constructor(system: ActorSystem) {
    this.off = system.onEvent((e) => {
      this.events.push(e);
      for (const w of [...this.#waiters]) {
        if (w.pred(e)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
  }

  /** The first recorded event matching pred, or the next one to arrive. */
  waitFor(pred: Pred, what = 'event'): Promise<InspectionEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.next(pred, what);
  }

  /** The next event (from now on) matching pred. */
  next(pred: Pred, what = 'event'): Promise<InspectionEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        const tail = this.events.slice(-30).map((e) => `${e.thread} ${e.kind} ${e.path} ${e.msgType ?? ''} ${e.reason ?? ''}`);
        reject(new Error(`no ${what} within ${GUARD_MS} ms; last events:\n${tail.join('\n')}`));
      }, GUARD_MS);
      timer.unref();
      const done = (e: InspectionEvent): void => {
        clearTimeout(timer);
        resolve(e);
      };
      this.#waiters.push({ pred, resolve: done });
    });
  }

  /** Wait until `n` events match pred (counting those already recorded). */
  async count(pred: Pred, n: number, what = 'events'): Promise<InspectionEvent[]> {
    for (;;) {
      const got = this.events.filter(pred);
      if (got.length >= n) return got;
      await this.next(pred, `${what} (${got.length}/${n} so far)`);
    }
  }

  of(kind: InspectionEvent['kind'], path?: string): InspectionEvent[] {
    return this.events.filter((e) => e.kind === kind && (path === undefined || e.path === path));
  }
}

export const is =
  (kind: InspectionEvent['kind'], path?: string, extra?: (e: InspectionEvent) => boolean): Pred =>
  (e) =>
    e.kind === kind && (path === undefined || e.path === path) && (extra === undefined || extra(e));

/** A promise plus its resolver. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolve with the rejection of p (fails if p resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

import { receive, type ActorRef } from '../../runtime/actor/index.ts';

type ProbeMsg = { type: 'watch'; ref: ActorRef<never>; replyTo: import('../../runtime/actor/index.ts').ReplyTo<true> } | { type: 'unwatch'; ref: ActorRef<never>; replyTo: import('../../runtime/actor/index.ts').ReplyTo<true> };

/**
 * An in-thread actor that watches refs for the test: `watch` resolves once the
 * watch is registered, `terminated(path)` once Terminated for that path arrived.
 */
export function spawnProbe(system: ActorSystem, name = 'probe') {
  const got = new Map<string, ReturnType<typeof deferred<Error | undefined>>>();
  const all: string[] = [];
  const slot = (path: string) => {
    let d = got.get(path);
    if (!d) got.set(path, (d = deferred<Error | undefined>()));
    return d;
  };
  const ref = system.spawn(
    receive<ProbeMsg>(
      (ctx, m) => {
        if (m.type === 'watch') ctx.watch(m.ref);
        else ctx.unwatch(m.ref);
        ctx.reply(m.replyTo, true);
      },
      (_ctx, sig) => {
        if (sig.signal !== 'Terminated') return;
        all.push(sig.ref.path);
        slot(sig.ref.path).resolve(sig.error);
      },
    ),
    name,
  );
  return {
    ref,
    /** Paths for which Terminated arrived, in order. */
    all,
    watch: (r: ActorRef<never>) => ref.ask<true>((replyTo) => ({ type: 'watch', ref: r, replyTo }), { timeoutMs: GUARD_MS }),
    unwatch: (r: ActorRef<never>) => ref.ask<true>((replyTo) => ({ type: 'unwatch', ref: r, replyTo }), { timeoutMs: GUARD_MS }),
    terminated: (path: string): Promise<Error | undefined> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Terminated for ${path} within ${GUARD_MS} ms`)), GUARD_MS);
        timer.unref();
        void slot(path).promise.then((e) => {
          clearTimeout(timer);
          resolve(e);
        });
      }),
    hasTerminated: (path: string) => all.includes(path),
  };
}
