// One running actor: the admission of messages into its mailbox, the loop
// that runs its behaviour, and the end of an incarnation — crash, ordered
// stop, kill. What its behaviour sees (ActorContext) is the superclass,
// CellContext (context.ts). A cell lives in exactly one thread; everything
// it does to other threads goes through its host, the thread's runtime
// (CellHost below).
import type { Behavior, Next, Signal } from './types.ts';
import { Same, Stopped } from './types.ts';
import type { Envelope, RefData, SpawnSpec } from './wire.ts';
import type { EventBus } from '../inspect/events.ts';
import { Queue } from './mailbox.ts';
import { ActorCrashedError, ActorStoppedError, MailboxFullError, toError } from './errors.ts';
import { messageType } from '../inspect/events.ts';
import { CellContext, type ContextHost } from './context.ts';

/** What a cell needs of its thread's runtime (ThreadRuntime implements it). */
export interface CellHost extends ContextHost {
  readonly bus: EventBus;
  spawnLocal(spec: SpawnSpec, restartedAfter?: Error, watchers?: RefData[]): Cell;
  makeReady(cell: Cell): void;
  refuse(cell: Cell, env: Envelope, err: MailboxFullError, policy: string): void;
  settleOffer(env: Envelope): void;
  deadLetter(env: Envelope, reason: string, err?: Error, emit?: boolean): void;
  cellCrashed(cell: Cell, error: Error): void;
  cellStopped(cell: Cell, reason: string, requested: boolean): void;
}

const OPEN_ASK_LIMIT = 10_000;

export class Cell extends CellContext<CellHost> {
  readonly capacity: number;
  /** In the runtime's ready queue or currently running. */
  scheduled = false;
  /** Waiting on a promise returned by a handler. */
  busy = false;
  readonly mailbox = new Queue<Envelope>(0);
  /** Messages parked by the backpressure policy until there is room. */
  parked: Queue<Envelope> | null = null;
  processed = 0;
  #behavior: Behavior<unknown> | null = null;
  /** Why this incarnation crashed (for PreRestart). */
  #crashError: Error | null = null;
  /**
   * Set when the parent removed this actor for good while it was still
   * stopping: its watchers are told (and its tombstone dropped) once it has
   * actually stopped, not before its PostStop ran.
   */
  terminateWhenDone: { error: Error | undefined } | null = null;

  constructor(rt: CellHost, spec: SpawnSpec, behavior: Behavior<unknown> | null) {
    super(rt, spec);
    this.capacity = spec.mailbox.capacity ?? 10_000;
    this.#behavior = behavior;
  }

  /** Re-queue stashed envelopes ahead of newer ones. */
  requeueFront(envs: Envelope[]): void {
    for (let i = envs.length - 1; i >= 0; i--) this.mailbox.unshift(envs[i]!);
    this.rt.makeReady(this);
  }

  // ---- running the behaviour ------------------------------------------------

  /** Build the behaviour (running `setup`) and start processing. */
  start(behavior: Behavior<unknown>): void {
    this.#behavior = behavior;
    try {
      this.#behavior = this.#unfold(behavior);
      this.status = 'running';
    } catch (e) {
      this.status = 'running';
      this.crash(toError(e));
      return;
    }
    this.rt.makeReady(this);
  }

  #unfold(b: Behavior<unknown>): Behavior<unknown> {
    let cur = b;
    for (let i = 0; cur.$behavior === 'setup'; i++) {
      if (i > 100) throw new Error('setup() returned setup() more than 100 times');
      const strategy = cur.strategy;
      cur = cur.setup!(this);
      if (strategy && !cur.strategy) cur = { ...cur, strategy };
    }
    this.strategy = cur.strategy ?? this.strategy;
    return cur;
  }

  /**
   * Process up to `budget` messages. Returns how many were processed. A handler
   * returning a promise suspends the cell until it settles.
   */
  run(budget: number): number {
    let n = 0;
    const rt = this.rt;
    const bus = rt.bus;
    while (n < budget && this.status === 'running' && !this.busy) {
      const env = this.mailbox.shift();
      if (env === undefined) break;
      if (this.parked !== null && this.parked.size > 0) this.#unpark();
      n++;
      if (env.ask !== undefined) this.#trackAsk(env);
      const isSignal = env.sig === true;
      rt.current = isSignal ? null : env;
      let next: unknown;
      try {
        if (isSignal) {
          const h = this.#behavior!.onSignal;
          next = h ? h(this, env.msg as Signal) : undefined;
        } else next = this.#behavior!.onMessage!(this, env.msg);
      } catch (e) {
        rt.current = null;
        this.crash(toError(e), isSignal ? undefined : env);
        return n;
      }
      rt.current = null;
      this.processed++;
      if (bus.active && !isSignal) bus.emit('processed', this.path, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, depth: this.mailbox.size });
      if (next !== undefined && next !== Same) {
        if (isThenable(next)) {
          this.#await(next as Promise<Next<unknown>>, env);
          return n;
        }
        this.#become(next as Next<unknown>);
      }
      if (this.stopRequested) this.#selfStop();
    }
    return n;
  }

  #await(p: Promise<Next<unknown>>, env: Envelope): void {
    this.busy = true;
    this.rt.env.settling?.(p);
    const inc = this.incarnation;
    p.then(
      (next) => {
        if (this.status !== 'running' || inc !== this.incarnation) return;
        this.busy = false;
        this.#become(next);
        if (this.stopRequested) this.#selfStop();
        this.rt.makeReady(this);
      },
      (e) => {
        if (this.status !== 'running') return;
        this.busy = false;
        this.crash(toError(e), env);
      },
    );
  }

  #become(next: Next<unknown>): void {
    if (next === undefined || next === Same) return;
    if (next === Stopped) {
      this.stopRequested = true;
      return;
    }
    try {
      this.#behavior = this.#unfold(next as Behavior<unknown>);
    } catch (e) {
      this.crash(toError(e));
    }
  }

  #trackAsk(env: Envelope): void {
    const open = (this.openAsks ??= new Map());
    if (open.size >= OPEN_ASK_LIMIT) {
      // The oldest askers have long timed out; forget them rather than grow forever.
      const oldest = open.keys().next().value as number;
      open.delete(oldest);
    }
    open.set(env.ask!, env.askThread!);
  }

  /**
   * Deliver a signal (Terminated) to the behaviour. It is queued in the mailbox
   * like a message (past the capacity check): calling the handler directly let
   * it run while an async message handler was still pending, and a promise it
   * returned then cleared `busy` under the other handler.
   */
  signal(sig: Signal): void {
    if (this.status !== 'running' && this.status !== 'starting') return;
    this.mailbox.push({ to: this.path, msg: sig, id: 0, corr: 0, cause: 0, sig: true });
    this.rt.makeReady(this);
  }

  // ---- mailbox admission ------------------------------------------------------

  /** Admit an envelope under the overflow policy. */
  admit(env: Envelope): 'queued' | 'parked' | 'refused' {
    // Parked messages go first: a newcomer must not overtake them.
    if (this.parked !== null && this.parked.size > 0 && this.mailbox.size < this.capacity) this.#unpark();
    if (this.mailbox.size < this.capacity) {
      this.mailbox.push(env);
      return 'queued';
    }
    const policy = this.spec.mailbox.overflow ?? 'drop';
    if (policy === 'backpressure') {
      const parked = (this.parked ??= new Queue());
      // An offer or ask has a sender waiting for it (an ask also has its own timeout),
      // so it always waits for room, as documented; only plain tells are bounded.
      // (Before, offers beyond 2 x capacity were refused even under backpressure.)
      if (env.offer !== undefined || env.ask !== undefined || parked.size < this.capacity) {
        parked.push(env);
        return 'parked';
      }
    }
    this.rt.refuse(this, env, new MailboxFullError(this.path, this.capacity), policy);
    return 'refused';
  }

  #unpark(): void {
    while (this.parked!.size > 0 && this.mailbox.size < this.capacity) {
      const env = this.parked!.shift()!;
      this.mailbox.push(env);
      if (env.offer !== undefined) this.rt.settleOffer(env);
    }
  }

  // ---- the end of an incarnation ----------------------------------------------

  /**
   * This incarnation crashed and its parent restarts it: let the old behaviour
   * clean up (Akka's PreRestart) before the new one starts. A promise it
   * returns is waited for.
   */
  preRestart(): Promise<void> | undefined {
    const h = this.#behavior?.onSignal;
    const error = this.#crashError;
    this.#behavior = null;
    if (!h || error === null) return undefined;
    const failed = (e: unknown): void => this.log.error('PreRestart handler failed', { error: toError(e).message });
    try {
      const r = h(this, { signal: 'PreRestart', error });
      if (isThenable(r)) return (r as Promise<unknown>).then(() => undefined, failed);
    } catch (e) {
      failed(e);
    }
    return undefined;
  }

  /** The behaviour threw: tear this incarnation down and tell the parent. */
  crash(error: Error, during?: Envelope): void {
    if (this.status === 'crashed' || this.status === 'stopped') return;
    this.status = 'crashed';
    this.#crashError = error;
    this.busy = false;
    this.actorTimers?.cancelAll();
    const bus = this.rt.bus;
    if (bus.active) {
      bus.emit('crashed', this.path, {
        error: { name: error.name, message: error.message },
        incarnation: this.incarnation,
        ...(during ? { msgType: messageType(during.msg), msgId: during.id, corrId: during.corr } : {}),
      });
    }
    this.#failPending(() => new ActorCrashedError(this.path, error), 'crashed');
    this.supervised?.stopAllAfterCrash();
    this.rt.cellCrashed(this, error);
  }

  /** Reject every ask this incarnation owes and dead-letter everything queued. */
  #failPending(makeErr: () => Error, reason: string): void {
    // The error (and its stack trace) is built only if someone is owed one.
    let err: Error | null = null;
    if (this.openAsks !== null && this.openAsks.size > 0) {
      err = makeErr();
      for (const [id, thread] of this.openAsks) this.rt.sendReply(thread, id, false, err);
      this.openAsks.clear();
    }
    if (this.mailbox.size === 0 && (this.parked === null || this.parked.size === 0) && (this.stashBuffer === null || this.stashBuffer.size === 0)) return;
    const rest = [...this.mailbox.drain(), ...(this.parked?.drain() ?? []), ...(this.stashBuffer?.take() ?? [])];
    for (const env of rest) if (env.sig !== true) this.rt.deadLetter(env, reason, (err ??= makeErr()));
  }

  /** The behaviour returned Stopped or stopped itself. */
  #selfStop(): void {
    this.stopRequested = false;
    void this.stopGracefully('stopped itself', false);
  }

  /**
   * Ordered shutdown: children in reverse start order (each within its
   * shutdown timeout), then PostStop, then tell the parent and watchers.
   */
  stopGracefully(reason: string, requested: boolean): Promise<void> {
    const p = this.#stopGracefully(reason, requested);
    this.rt.env.settling?.(p);
    return p;
  }

  async #stopGracefully(reason: string, requested: boolean): Promise<void> {
    if (this.status === 'stopping' || this.status === 'stopped') return;
    const wasCrashed = this.status === 'crashed';
    this.status = 'stopping';
    this.actorTimers?.cancelAll();
    await this.supervised?.supervising;
    const children = this.supervised;
    if (children !== null) {
      for (const c of [...children.records.values()].reverse()) {
        // kill() (the parent's shutdown timeout) may have ended us while we waited.
        if (this.#gone()) return;
        await children.stopChild(c, `parent ${reason}`);
        children.remove(c, undefined);
      }
    }
    if (this.#gone()) return;
    this.supervised?.records.clear();
    // PostStop may return a promise: wait for it (before, finish() ran at once, so
    // async cleanup was cut short and the parent's shutdown timeout never applied).
    if (!wasCrashed) await this.#postStop();
    if (this.#gone()) return;
    this.finish(reason, requested);
  }

  /** Ended by kill() while an async stop was in progress (a method, so TS does not narrow status away). */
  #gone(): boolean {
    return this.status === 'stopped';
  }

  /** Run the PostStop handler and wait for it (a never-settling one is cut off by the parent's shutdown timeout). */
  async #postStop(): Promise<void> {
    const h = this.#behavior?.onSignal;
    if (!h) return;
    try {
      const r = h(this, { signal: 'PostStop' });
      if (isThenable(r)) await r;
    } catch (e) {
      // The actor is going away anyway: a failing PostStop must not turn the stop into a crash.
      this.log.error('PostStop handler failed', { error: toError(e).message });
    }
  }

  /** Forced stop: no waiting. */
  kill(): void {
    if (this.status === 'stopped') return;
    this.status = 'stopping';
    this.actorTimers?.cancelAll();
    this.supervised?.killAll();
    this.finish('killed', true);
  }

  finish(reason: string, requested: boolean): void {
    this.status = 'stopped';
    this.#failPending(() => new ActorStoppedError(this.path, 'stopped'), 'stopped');
    this.rt.cellStopped(this, reason, requested);
  }

}

function isThenable(x: unknown): boolean {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}
