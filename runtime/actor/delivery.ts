// Delivery inside one thread: an envelope into its actor's mailbox, the
// ready queue of actors with work and the drain that runs them in turn (the
// dispatcher), and dead letters for what cannot be delivered.
import type { Cell } from './cell.ts';
import type { Asks } from './asks.ts';
import type { Envelope, SysMsg, WireItem } from './wire.ts';
import { Queue } from './mailbox.ts';
import { ActorCrashedError, ActorStoppedError, type MailboxFullError, serializeError } from './errors.ts';
import { messageType, type EventBus } from '../inspect/events.ts';
import type { Env } from '../env/env.ts';

/** Messages processed per cell before the next cell gets a turn (fairness). */
const THROUGHPUT = 300;
/** Messages processed per dispatcher turn before yielding to I/O. */
const TURN_BUDGET = 20_000;

/** What delivery needs of the thread's runtime (ThreadRuntime). */
export interface DeliveryHost {
  readonly thread: string;
  readonly env: Env;
  readonly bus: EventBus;
  readonly cells: ReadonlyMap<string, Cell>;
  /** The envelope being handled in this thread, if any. */
  readonly current: Envelope | null;
  sendReply(thread: string, id: number, ok: boolean, v: unknown): void;
  sendSys(thread: string, s: SysMsg): void;
}

export class Delivery {
  deadLetters = 0;
  readonly #host: DeliveryHost;
  readonly #cells: ReadonlyMap<string, Cell>;
  readonly #bus: EventBus;
  readonly #env: Env;
  readonly #asks: Asks;
  readonly #ready = new Queue<Cell>(64);
  #draining = false;
  #drainScheduled = false;
  /** Decoding a batch: deliveries make the cells ready, and the drain runs right after. */
  #receiving = false;
  #drainAfterReceive = false;

  constructor(host: DeliveryHost, asks: Asks) {
    this.#host = host;
    this.#cells = host.cells;
    this.#bus = host.bus;
    this.#env = host.env;
    this.#asks = asks;
  }

  deliver(env: Envelope): void {
    const cell = this.#cells.get(env.to);
    if (cell === undefined || cell.status === 'stopped' || cell.status === 'stopping' || cell.status === 'crashed') {
      const why = cell === undefined ? 'no such actor' : cell.status === 'crashed' ? 'crashed' : 'stopped';
      const err = cell?.status === 'crashed' ? new ActorCrashedError(env.to, 'restarting') : new ActorStoppedError(env.to, why === 'no such actor' ? 'does not exist' : 'is stopped');
      this.deadLetter(env, why, err);
      return;
    }
    const admitted = cell.admit(env);
    if (admitted === 'refused') return;
    if (this.#bus.active) this.#bus.emit('received', env.to, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, depth: cell.mailbox.size });
    if (env.offer !== undefined && admitted === 'queued') this.settleOffer(env);
    if (!cell.scheduled && !cell.busy && cell.status === 'running') {
      cell.scheduled = true;
      this.#ready.push(cell);
      this.#scheduleDrain();
    }
  }

  /** An offered envelope is in its mailbox: tell the sender. */
  settleOffer(env: Envelope): void {
    const id = env.offer!;
    env.offer = undefined;
    if (env.askThread === this.#host.thread) this.#asks.settleOffer(id, undefined);
    else this.#host.sendSys(env.askThread!, { k: 'offered', id });
  }

  /** A full mailbox refused a message. */
  refuse(cell: Cell, env: Envelope, err: MailboxFullError, policy: string): void {
    if (this.#bus.active) this.#bus.emit('dropped', cell.path, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, reason: `mailbox-full (${policy})`, depth: cell.mailbox.size });
    this.deadLetter(env, 'mailbox-full', err, false);
    const current = this.#host.current;
    if (policy === 'reject' && env.ask === undefined && env.offer === undefined && env.askThread === undefined && current !== null && env.from === current.to) {
      // In-thread tell from an actor under `reject`: the sender learns at once.
      throw err;
    }
  }

  deadLetter(env: Envelope, reason: string, err?: Error, emit = true): void {
    this.deadLetters++;
    if (emit && this.#bus.active) this.#bus.emit('dead-letter', env.to, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, reason });
    const e = err ?? new ActorStoppedError(env.to, reason);
    if (env.ask !== undefined) this.#host.sendReply(env.askThread!, env.ask, false, e);
    if (env.offer !== undefined) {
      if (env.askThread === this.#host.thread) this.#asks.settleOffer(env.offer, e);
      else this.#host.sendSys(env.askThread!, { k: 'offered', id: env.offer, error: serializeError(e) });
    }
  }

  /** Items addressed to a thread that is gone (`err` says why): fail them as if the actors had stopped. */
  undeliverable(items: WireItem[], err: Error): void {
    for (const it of items) {
      if (it.t === 'e') this.deadLetter(it.e, 'worker died', err);
      else if (it.t === 's' && it.s.k === 'stop' && it.s.parent) {
        // Its host is gone, so it is stopped: answer for it.
        const p = it.s.parent;
        this.#host.sendSys(p.thread, { k: 'stopped', parent: p.path, child: it.s.path, exit: 'normal', requested: true, incarnation: it.s.incarnation ?? 0 });
      }
      // Replies, Terminated and other system messages have nobody to reach.
    }
  }

  // ---- the dispatcher ----------------------------------------------------------

  makeReady(cell: Cell): void {
    if (cell.scheduled || cell.busy || cell.status !== 'running' || cell.mailbox.size === 0) return;
    cell.scheduled = true;
    this.#ready.push(cell);
    this.#scheduleDrain();
  }

  /** A batch from another thread is being decoded: its deliveries wait for endBatch to drain. */
  beginBatch(): void {
    this.#receiving = true;
  }

  /** A batch has been decoded: its deliveries made cells ready, so drain now (saves a microtask). */
  endBatch(): void {
    this.#receiving = false;
    if (this.#drainAfterReceive) {
      this.#drainAfterReceive = false;
      if (!this.#drainScheduled && !this.#draining) {
        this.#drainScheduled = true;
        this.#drain();
      }
    }
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#draining) return;
    if (this.#receiving) {
      // endBatch drains once the batch is in (saves a microtask per batch).
      this.#drainAfterReceive = true;
      return;
    }
    this.#drainScheduled = true;
    this.#env.schedule(this.#drain);
  }

  #drain = (): void => {
    this.#drainScheduled = false;
    this.#draining = true;
    let budget = TURN_BUDGET;
    try {
      while (budget > 0) {
        const cell = this.#ready.shift();
        if (cell === undefined) break;
        cell.scheduled = false;
        budget -= cell.run(THROUGHPUT) + 1;
        if (cell.mailbox.size > 0 && !cell.busy && cell.status === 'running' && !cell.scheduled) {
          cell.scheduled = true;
          this.#ready.push(cell);
        }
      }
    } finally {
      this.#draining = false;
    }
    if (this.#ready.size > 0 && !this.#drainScheduled) {
      // Yield to I/O and timers before continuing, so a flood cannot starve the thread.
      this.#drainScheduled = true;
      this.#env.defer(this.#drain);
    }
  };
}
