// The typed actor API. Everything a behaviour sees is here; how messages move
// (same thread, another worker) is the runtime's business, not the actor's.
import type { Env } from '../env/env.ts';
import type { Rng } from '../env/random.ts';
import type { SupervisorStrategy, RestartType } from '../supervision/decide.ts';

/** A typed address. `M` is the union of messages the actor accepts. */
export interface ActorRef<M> {
  /** Unique path, e.g. `/user/cdb/raft`. Stays valid across restarts. */
  readonly path: string;
  /** Fire and forget. Full mailbox: see MailboxOptions.overflow. */
  tell(msg: M): void;
  /**
   * Request/response with a required timeout. `make` builds the request from a
   * typed reply address; the promise resolves with what the target passes to
   * `ctx.reply`, and rejects with AskTimeoutError, or promptly with
   * ActorStoppedError / ActorCrashedError / WorkerDiedError / MailboxFullError.
   */
  ask<R>(make: (replyTo: ReplyTo<R>) => M, opts?: AskOptions): Promise<R>;
  /**
   * Like tell, but settles once the message is in the mailbox. Under the
   * `backpressure` policy it waits for room, so a producer that awaits it is
   * slowed to the consumer's pace; under `reject` it rejects with MailboxFullError.
   */
  offer(msg: M): Promise<void>;
}

/** A reply address carried inside a request message. Plain data: crosses threads as is. */
export interface ReplyTo<R> {
  readonly $ask: number;
  readonly $thread: string;
  /** Phantom: only ties the reply type to the address; never present at run time. */
  readonly $type?: (r: R) => void;
}

export interface AskOptions {
  /** Milliseconds before the ask rejects with AskTimeoutError. Default 5000. */
  timeoutMs?: number;
}

/**
 * Lifecycle signals, delivered to a behaviour's signal handler in mailbox order:
 * - PreRestart: this incarnation crashed with `error` and its parent restarts it;
 *   clean up here (a returned promise is awaited before the successor starts).
 *   Not delivered when the actor's worker died: there is nothing left to run it.
 * - PostStop: the actor stopped on purpose (asked to, or it stopped itself). A
 *   crash runs no handler of the crashed behaviour unless it is restarted.
 * - Terminated: a watched actor ended for good (`error` if it failed). A restart,
 *   in any thread and even after its worker died, is not an end.
 * - ChildFailed: instead of Terminated, when the watched actor is the watcher's
 *   own child and it failed.
 */
export type Signal =
  | { readonly signal: 'PreRestart'; readonly error: Error }
  | { readonly signal: 'PostStop' }
  | { readonly signal: 'Terminated'; readonly ref: ActorRef<never>; readonly error?: Error }
  | { readonly signal: 'ChildFailed'; readonly ref: ActorRef<never>; readonly error: Error };

/** What a handler returns: a new behaviour, `Same` (keep), or `Stopped`. `undefined` means Same. */
export type Next<M> = Behavior<M> | typeof Same | typeof Stopped | undefined | void;

export const Same: unique symbol = Symbol.for('acp.Same');
export const Stopped: unique symbol = Symbol.for('acp.Stopped');

export interface Behavior<M> {
  readonly $behavior: 'receive' | 'setup';
  /** For 'setup' behaviours: builds the real behaviour when the actor starts (and on every restart). */
  readonly setup?: (ctx: ActorContext<M>) => Behavior<M>;
  /** May return a promise: the actor then processes its next message only after it settles. */
  readonly onMessage?: (ctx: ActorContext<M>, msg: M) => Next<M> | Promise<Next<M>>;
  readonly onSignal?: (ctx: ActorContext<M>, sig: Signal) => Next<M> | Promise<Next<M>>;
  /** Supervisor strategy this actor applies to its own children. */
  readonly strategy?: SupervisorStrategy;
}

/**
 * A behaviour that can be started in another thread: the worker imports
 * `module` and calls its export `name` with `args` (plain, cloneable data).
 * Create with `defineBehavior(import.meta.url, 'name', fn)` and export it as `name`.
 */
export interface BehaviorFactory<M, A> {
  readonly $factory: true;
  readonly module: string;
  readonly name: string;
  readonly create: (args: A) => Behavior<M>;
  /** Phantom: the message type, for inference. */
  readonly $msg?: (m: M) => void;
}

export type Placement =
  /** The spawning actor's thread (default). */
  | { readonly thread: 'local' }
  /** A named worker thread (created on first use; many actors may share one: M:N). */
  | { readonly worker: string; readonly resourceLimits?: WorkerLimits };

export interface WorkerLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
  stackSizeMb?: number;
}

export type OverflowPolicy = 'drop' | 'reject' | 'backpressure';

export interface MailboxOptions {
  /** Max queued messages. Default 10 000. */
  capacity?: number;
  /**
   * What happens to a message that arrives at a full mailbox:
   * - `drop`: it goes to dead letters (reason `mailbox-full`); the sender is not told (asks reject).
   * - `reject`: it goes to dead letters and the sender is told: `offer`/`ask` reject with
   *   MailboxFullError, a `tell` from inside an actor delivers a `MessageRejected` dead-letter
   *   event and, for in-thread targets, throws MailboxFullError in the sender.
   * - `backpressure`: `offer`/`ask` wait for room; a plain `tell` is parked (up to `capacity`
   *   more) until there is room, beyond that it is dropped to dead letters.
   */
  overflow?: OverflowPolicy;
}

export interface SpawnOptions {
  placement?: Placement;
  mailbox?: MailboxOptions;
  /** How the parent treats this child when it ends. Default `temporary` for ctx.spawn, `permanent` in a supervisor spec. */
  restart?: RestartType;
  /** How long the parent waits for this child to stop before abandoning it (ms). Default 5000. */
  shutdownMs?: number;
}

export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly path: string;
  readonly parent: ActorRef<never> | null;
  /** The environment: clock, timers, randomness, buggify. Never use Date/setTimeout/Math.random in actors. */
  readonly env: Env;
  now(): number;
  readonly rng: Rng;
  readonly log: Logger;
  /** Incremented on every restart of this actor (0 for the first start). */
  readonly incarnation: number;

  spawn<C, A>(behavior: Behavior<C> | BehaviorFactory<C, A>, name: string, opts?: SpawnOptions & { args?: A }): ActorRef<C>;
  stop(child: ActorRef<never>): void;
  children(): ActorRef<never>[];
  watch(ref: ActorRef<never>): void;
  unwatch(ref: ActorRef<never>): void;

  /** Answer an ask. Calling it twice, or after the asker gave up, is harmless. */
  reply<R>(to: ReplyTo<R>, value: R): void;
  // Generic so that any ReplyTo<R> is accepted (ReplyTo is contravariant in R, so
  // ReplyTo<number> is not assignable to ReplyTo<unknown>).
  replyError<R>(to: ReplyTo<R>, error: Error): void;
  /** Ask from inside an actor; the result comes back as a message built by `map`. */
  pipeToSelf<T>(p: Promise<T>, map: (r: { ok: true; value: T } | { ok: false; error: Error }) => M): void;
  /**
   * Ask `target` and get the answer (or the failure: timeout, target stopped…) back as a
   * message to self built by `map`, as Akka Typed's `context.ask`. No promise is involved,
   * so the state change stays inside message handling and the simulator needs no real
   * microtask turn. An answer that arrives after this actor restarted is dropped.
   */
  ask<T, R>(target: ActorRef<T>, make: (replyTo: ReplyTo<R>) => T, timeoutMs: number, map: (r: { ok: true; value: R } | { ok: false; error: Error }) => M): void;

  readonly timers: Timers<M>;
  readonly stash: Stash<M>;
}

export interface Timers<M> {
  /** Deliver msg to self once after delayMs; a timer with the same key is replaced. */
  startSingle(key: string, msg: M, delayMs: number): void;
  /** Deliver msg to self every intervalMs. */
  startPeriodic(key: string, msg: M, intervalMs: number): void;
  cancel(key: string): void;
  isActive(key: string): boolean;
  cancelAll(): void;
}

export interface Stash<M> {
  /** Keep msg for later. Throws StashOverflowError beyond the capacity (default 1000). */
  stash(msg: M): void;
  /** Re-deliver all stashed messages, in order, before any newer message. */
  unstashAll(): void;
  readonly size: number;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
