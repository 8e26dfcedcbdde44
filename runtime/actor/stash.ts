// An actor's stash (Akka's StashBuffer): messages set aside, in order, and
// put back in front of the mailbox by unstashAll.
import type { Stash } from './types.ts';
import type { Envelope } from './wire.ts';
import { StashOverflowError } from './errors.ts';

const STASH_CAPACITY = 1000;

/** What a stash needs of its actor (a Cell). */
export interface StashOwner {
  readonly path: string;
  readonly rt: {
    /** The envelope being handled in this thread, if any. */
    readonly current: Envelope | null;
    /** A fresh envelope to `to`, with no cause. */
    envelopeFor(to: string, msg: unknown): Envelope;
  };
  /** Put envelopes back in front of the mailbox, in order. */
  requeueFront(envs: Envelope[]): void;
}

export class StashBuffer implements Stash<unknown> {
  readonly #owner: StashOwner;
  #items: Envelope[] = [];
  constructor(owner: StashOwner) {
    this.#owner = owner;
  }
  get size(): number {
    return this.#items.length;
  }
  stash(msg: unknown): void {
    const owner = this.#owner;
    if (this.#items.length >= STASH_CAPACITY) throw new StashOverflowError(`stash of ${owner.path} is full (${STASH_CAPACITY})`);
    const cur = owner.rt.current;
    // The message being handled keeps its envelope (ids, and the ask it may carry).
    // Anything else — the API takes `msg` — gets an envelope of its own; before,
    // the argument was ignored and the current message stashed instead, and
    // stashing after an `await` threw.
    if (cur !== null && cur.to === owner.path && cur.msg === msg) this.#items.push(cur);
    else this.#items.push(owner.rt.envelopeFor(owner.path, msg));
  }
  unstashAll(): void {
    if (this.#items.length === 0) return;
    this.#owner.requeueFront(this.take());
  }
  /** Everything stashed, and forget it (the actor is going away, or unstashing). */
  take(): Envelope[] {
    const t = this.#items;
    this.#items = [];
    return t;
  }
}
