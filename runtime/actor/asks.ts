// The asks and offers this thread waits on (the asker's side): their ids,
// their timeouts, and how each one ends — a reply, a timeout, the death of
// the target's thread, or the system's shutdown. Sending them is the
// runtime's business (thread-runtime.ts); the target's side of an ask (the
// open asks an actor owes) is its cell's.
import { AskTimeoutError, toError } from './errors.ts';
import type { RefData } from './wire.ts';
import type { Env, TimerId } from '../env/env.ts';

/** Largest delay a Node timer honours (2^31 - 1 ms). */
export const MAX_TIMEOUT = 2_147_483_647;

interface PendingAsk {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: TimerId;
  thread: string;
  path: string;
}

interface PendingOffer {
  resolve: () => void;
  reject: (e: Error) => void;
  /** The target's thread: its death rejects the offer. */
  thread: string;
}

export class Asks {
  readonly #env: Env;
  /** Ask ids are unique per system: the thread index fills the high bits. */
  readonly #idBase: number;
  #seq = 0;
  readonly #asks = new Map<number, PendingAsk>();
  readonly #offers = new Map<number, PendingOffer>();

  constructor(env: Env, idBase: number) {
    this.#env = env;
    this.#idBase = idBase;
  }

  /**
   * A new ask or offer id. Unique per system (thread index in the high bits):
   * a late reply meant for a dead worker must not settle an ask of its replacement.
   */
  nextId(): number {
    return this.#idBase + ++this.#seq;
  }

  /** Wait for the answer to ask `id` sent to `to`: exactly one callback runs, the error one after `timeoutMs`. */
  expect(id: number, to: RefData, timeoutMs: number, onReply: (v: unknown) => void, onError: (e: Error) => void): void {
    const timer = this.#env.setTimer(timeoutMs, () => {
      if (this.#asks.delete(id)) onError(new AskTimeoutError(to.path, timeoutMs));
    });
    this.#asks.set(id, { resolve: onReply, reject: onError, timer, thread: to.thread, path: to.path });
  }

  /** The answer to ask `id` arrived (`v` is the error if not ok). */
  settle(id: number, ok: boolean, v: unknown): void {
    const p = this.#asks.get(id);
    if (!p) return; // already timed out or answered
    this.#asks.delete(id);
    this.#env.clearTimer(p.timer);
    if (ok) p.resolve(v);
    else p.reject(toError(v));
  }

  /** Wait for offer `id` to `thread` to reach its mailbox. */
  expectOffer(id: number, thread: string, resolve: () => void, reject: (e: Error) => void): void {
    this.#offers.set(id, { resolve, reject, thread });
  }

  /** Offer `id` reached its mailbox, or (`error`) never will. */
  settleOffer(id: number, error: Error | undefined): void {
    const o = this.#offers.get(id);
    if (!o) return;
    this.#offers.delete(id);
    if (error !== undefined) o.reject(error);
    else o.resolve();
  }

  /** `thread` died: fail what waits on it. */
  failThread(thread: string, err: Error): void {
    for (const [id, p] of this.#asks) {
      if (p.thread !== thread) continue;
      this.#asks.delete(id);
      this.#env.clearTimer(p.timer);
      p.reject(err);
    }
    for (const [id, o] of this.#offers) {
      if (o.thread !== thread) continue;
      this.#offers.delete(id);
      o.reject(err);
    }
  }

  /** Reject everything pending (system shutdown). */
  rejectAll(err: Error): void {
    for (const [id, p] of this.#asks) {
      this.#asks.delete(id);
      this.#env.clearTimer(p.timer);
      p.reject(err);
    }
    for (const [id, o] of this.#offers) {
      this.#offers.delete(id);
      o.reject(err);
    }
  }

  get size(): number {
    return this.#asks.size;
  }
}
