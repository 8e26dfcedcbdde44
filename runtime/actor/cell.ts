// One running actor: its mailbox, its current behaviour, its timers and
// stash, and — as a supervisor — the records of its children. A cell lives
// in exactly one thread; everything it does to other threads goes through
// its ThreadRuntime.
import type { ActorContext, ActorRef, Behavior, BehaviorFactory, Logger, Next, ReplyTo, Signal, SpawnOptions, Stash, Timers } from './types.ts';
import { Same, Stopped } from './types.ts';
import type { Envelope, RefData, SpawnSpec } from './wire.ts';
import { Queue } from './mailbox.ts';
import { ActorCrashedError, ActorStoppedError, MailboxFullError, StashOverflowError, serializeError, toError } from './errors.ts';
import { decide, defaultStrategy, type SupervisorStrategy } from '../supervision/decide.ts';
import { messageType } from '../inspect/events.ts';
import type { ThreadRuntime } from './thread-runtime.ts';
import type { Env, TimerId } from '../env/env.ts';
import type { Rng } from '../env/random.ts';

type Status = 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

interface ChildRecord {
  name: string;
  ref: RefData;
  spec: SpawnSpec;
  /** Resolves when a stop we asked for has completed. */
  stopWaiter?: () => void;
  /** True while the supervisor is restarting or stopping it on purpose. */
  managed: boolean;
  /** Its watchers (a copy of its thread's registry, which dies with its worker). */
  watchers?: Map<string, RefData>;
}

const OPEN_ASK_LIMIT = 10_000;
/** Shared by every cell without children / open asks (never written: writes go through the lazy maps). */
const NO_KIDS: ReadonlyMap<string, ChildRecord> = new Map();
const NO_ASKS: ReadonlyMap<number, string> = new Map();
const NAME_OK = /^[A-Za-z0-9_.:@-]+$/;

export class Cell implements ActorContext<unknown> {
  readonly rt: ThreadRuntime;
  readonly path: string;
  readonly spec: SpawnSpec;
  readonly incarnation: number;
  readonly capacity: number;
  status: Status = 'starting';
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
  #strategy: SupervisorStrategy = defaultStrategy;
  // Per-cell structures are allocated on first use: most actors never have
  // children, timers, open asks or supervision work.
  #kids: Map<string, ChildRecord> | null = null;
  #restartLog: number[] | null = null;
  /** Supervision work (restarts, ordered stops) runs one at a time. */
  #supervising: Promise<void> | null = null;
  #timers: Map<string, TimerId> | null = null;
  /** Asks this actor has received and not yet answered: rejected if it dies. */
  #openAsks: Map<number, string> | null = null;
  #self: ActorRef<unknown> | null = null;
  #parent: ActorRef<never> | null | undefined = undefined;
  #log: Logger | null = null;
  #stopRequested = false;
  /**
   * Set when the parent removed this actor for good while it was still
   * stopping: its watchers are told (and its tombstone dropped) once it has
   * actually stopped, not before its PostStop ran.
   */
  terminateWhenDone: { error: Error | undefined } | null = null;

  constructor(rt: ThreadRuntime, spec: SpawnSpec, behavior: Behavior<unknown> | null) {
    this.rt = rt;
    this.path = spec.path;
    this.spec = spec;
    this.incarnation = spec.incarnation;
    this.capacity = spec.mailbox.capacity ?? 10_000;
    this.#behavior = behavior;
  }

  get self(): ActorRef<unknown> {
    return (this.#self ??= this.rt.refFor({ $ref: 1, path: this.path, thread: this.rt.thread }));
  }
  get parent(): ActorRef<never> | null {
    if (this.#parent === undefined) {
      const p = this.spec.parent;
      this.#parent = p ? this.rt.refFor<never>(p) : null;
    }
    return this.#parent;
  }
  /** Children by name (read-only view; an empty shared map until the first child). */
  get kids(): ReadonlyMap<string, ChildRecord> {
    return this.#kids ?? NO_KIDS;
  }
  get openAsks(): ReadonlyMap<number, string> {
    return this.#openAsks ?? NO_ASKS;
  }

  // ---- ActorContext ------------------------------------------------------

  get env(): Env {
    return this.rt.env;
  }
  get rng(): Rng {
    return this.rt.env.rng;
  }
  now(): number {
    return this.rt.env.now();
  }
  get log(): Logger {
    return (this.#log ??= this.rt.logger(this.path));
  }

  spawn<C, A>(behavior: Behavior<C> | BehaviorFactory<C, A>, name: string, opts: SpawnOptions & { args?: A } = {}): ActorRef<C> {
    if (this.status === 'stopping' || this.status === 'stopped' || this.status === 'crashed') {
      throw new ActorStoppedError(this.path, 'is stopping and cannot spawn children');
    }
    if (!NAME_OK.test(name)) throw new Error(`invalid actor name "${name}": use letters, digits and _ . : @ -`);
    if (this.kids.has(name)) throw new Error(`actor ${this.path} already has a child named "${name}"`);
    const spec = this.rt.makeSpec(this.path === '/' ? `/${name}` : `${this.path}/${name}`, this.self as ActorRef<never>, behavior, opts, 'temporary');
    const kids = (this.#kids ??= new Map());
    if (spec.module === undefined) {
      // Same thread: start it here, and hand out its own self ref (one Ref per actor, which is also its ref data).
      const child = this.rt.spawnLocal(spec);
      const self = child.self as unknown as RefData;
      kids.set(name, { name, ref: self, spec, managed: false });
      return self as unknown as ActorRef<C>;
    }
    const ref = this.rt.startChild(spec, opts.placement);
    kids.set(name, { name, ref, spec, managed: false });
    return this.rt.refFor(ref) as ActorRef<C>;
  }

  stop(child: ActorRef<never>): void {
    void this.stopAndWait(child);
  }

  /** ctx.stop, settling once the child has stopped (ActorSystem.stop awaits this). */
  stopAndWait(child: ActorRef<never>): Promise<void> {
    if (child.path === this.path) {
      this.#stopRequested = true;
      return Promise.resolve();
    }
    const rec = this.kids.get(lastSegment(child.path));
    if (!rec || rec.ref.path !== child.path) {
      throw new Error(`${child.path} is not a child of ${this.path}`);
    }
    return new Promise<void>((resolve) => {
      this.#supervise(async () => {
        try {
          // It may have ended and been removed while earlier supervision work ran.
          if (this.kids.get(rec.name) !== rec) return;
          await this.#stopChild(rec, 'stopped by parent');
          // Removed for good: watchers must hear Terminated and the tombstone must go
          // (before, neither happened for a child stopped by its parent).
          this.#removeChild(rec, undefined);
        } finally {
          resolve();
        }
      });
    });
  }

  /** The child is gone for good: forget it and tell its watchers. */
  #removeChild(rec: ChildRecord, error: Error | undefined): void {
    if (this.#kids !== null && this.#kids.get(rec.name) === rec) this.#kids.delete(rec.name);
    this.rt.forgetSpec(rec.spec);
    this.rt.notifyTerminated(rec.ref, error, rec.watchers);
  }

  /** A child's thread reports a watch on it (or its end): keep a copy, and tell the watcher we hold it. */
  childWatchedBy(child: string, watcher: RefData, add: boolean): void {
    const rec = this.kids.get(lastSegment(child));
    if (!rec || rec.ref.path !== child) return;
    const key = `${watcher.thread}|${watcher.path}`;
    if (!add) {
      rec.watchers?.delete(key);
      return;
    }
    (rec.watchers ??= new Map()).set(key, watcher);
    this.rt.sendSys(watcher.thread, { k: 'watchHeld', watcher: watcher.path, target: rec.ref, holder: this.rt.thread });
  }

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

  children(): ActorRef<never>[] {
    return [...this.kids.values()].map((c) => this.rt.refFor(c.ref) as ActorRef<never>);
  }

  watch(ref: ActorRef<never>): void {
    this.rt.watch(this.path, ref);
  }
  unwatch(ref: ActorRef<never>): void {
    this.rt.unwatch(this.path, ref);
  }

  reply<R>(to: ReplyTo<R>, value: R): void {
    if (this.#openAsks !== null) this.#openAsks.delete(to.$ask);
    this.rt.sendReply(to.$thread, to.$ask, true, value);
  }
  replyError<R>(to: ReplyTo<R>, error: Error): void {
    if (this.#openAsks !== null) this.#openAsks.delete(to.$ask);
    this.rt.sendReply(to.$thread, to.$ask, false, error);
  }

  pipeToSelf<T>(p: Promise<T>, map: (r: { ok: true; value: T } | { ok: false; error: Error }) => unknown): void {
    const inc = this.incarnation;
    this.rt.env.settling?.(p);
    p.then(
      (value) => this.#selfIfSame(inc, () => map({ ok: true, value })),
      (e) => this.#selfIfSame(inc, () => map({ ok: false, error: toError(e) })),
    );
  }

  ask<T, R>(target: ActorRef<T>, make: (replyTo: ReplyTo<R>) => T, timeoutMs: number, map: (r: { ok: true; value: R } | { ok: false; error: Error }) => unknown): void {
    const inc = this.incarnation;
    this.rt.askWith<R>(
      target as unknown as RefData,
      make as (r: ReplyTo<R>) => unknown,
      timeoutMs,
      // askWith may answer inside the target's turn (in-thread): hand the result on as a message.
      (value) => this.#selfIfSame(inc, () => map({ ok: true, value })),
      (error) => this.#selfIfSame(inc, () => map({ ok: false, error })),
    );
  }

  #selfIfSame(inc: number, build: () => unknown): void {
    // A result that arrives after a restart belongs to the old incarnation: drop it.
    if (this.status !== 'running' || inc !== this.incarnation) return;
    this.self.tell(build());
  }

  get timers(): Timers<unknown> {
    return (this.#timersApi ??= this.#makeTimersApi());
  }
  #timersApi: Timers<unknown> | null = null;
  #makeTimersApi(): Timers<unknown> {
    return {
    startSingle: (key, msg, delayMs) => this.#startTimer(key, msg, delayMs, false),
    startPeriodic: (key, msg, intervalMs) => this.#startTimer(key, msg, intervalMs, true),
    cancel: (key) => {
      const id = this.#timers?.get(key);
      if (id !== undefined) {
        this.rt.env.clearTimer(id);
        this.#timers!.delete(key);
      }
    },
    isActive: (key) => this.#timers?.has(key) ?? false,
    cancelAll: () => this.#cancelTimers(),
    };
  }

  #startTimer(key: string, msg: unknown, ms: number, periodic: boolean): void {
    this.timers.cancel(key);
    const timers = (this.#timers ??= new Map());
    const fire = (): void => {
      if (periodic) timers.set(key, this.rt.env.setTimer(ms, fire));
      else timers.delete(key);
      if (this.status === 'running') this.rt.sendFromTimer(this, msg);
    };
    timers.set(key, this.rt.env.setTimer(ms, fire));
  }

  #cancelTimers(): void {
    if (!this.#timers) return;
    for (const id of this.#timers.values()) this.rt.env.clearTimer(id);
    this.#timers.clear();
  }

  get stash(): Stash<unknown> {
    return (this.#stashApi ??= new CellStash(this));
  }
  #stashApi: CellStash | null = null;

  /** Re-queue stashed envelopes ahead of newer ones. */
  requeueFront(envs: Envelope[]): void {
    for (let i = envs.length - 1; i >= 0; i--) this.mailbox.unshift(envs[i]!);
    this.rt.makeReady(this);
  }

  // ---- lifecycle -----------------------------------------------------------

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
    this.#strategy = cur.strategy ?? this.#strategy;
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
      if (this.#stopRequested) this.#selfStop();
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
        if (this.#stopRequested) this.#selfStop();
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
      this.#stopRequested = true;
      return;
    }
    try {
      this.#behavior = this.#unfold(next as Behavior<unknown>);
    } catch (e) {
      this.crash(toError(e));
    }
  }

  #trackAsk(env: Envelope): void {
    const open = (this.#openAsks ??= new Map());
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

  // ---- failure and stopping ---------------------------------------------------

  /** The behaviour threw: tear this incarnation down and tell the parent. */
  crash(error: Error, during?: Envelope): void {
    if (this.status === 'crashed' || this.status === 'stopped') return;
    this.status = 'crashed';
    this.#crashError = error;
    this.busy = false;
    this.#cancelTimers();
    const bus = this.rt.bus;
    if (bus.active) {
      bus.emit('crashed', this.path, {
        error: { name: error.name, message: error.message },
        incarnation: this.incarnation,
        ...(during ? { msgType: messageType(during.msg), msgId: during.id, corrId: during.corr } : {}),
      });
    }
    this.#failPending(() => new ActorCrashedError(this.path, error), 'crashed');
    // Children of a crashed actor are stopped (not restarted): the new incarnation starts clean.
    const kids = [...this.kids.values()].reverse();
    this.#kids?.clear();
    for (const c of kids) {
      this.rt.sendSys(c.ref.thread, { k: 'stop', path: c.ref.path, reason: 'parent crashed', parent: this.#selfData(), incarnation: c.spec.incarnation });
      this.rt.forgetSpec(c.spec);
      // Gone for good: its watchers hear Terminated once it has stopped.
      this.rt.notifyTerminated(c.ref, undefined, c.watchers);
    }
    this.rt.cellCrashed(this, error);
  }

  /** Reject every ask this incarnation owes and dead-letter everything queued. */
  #failPending(makeErr: () => Error, reason: string): void {
    // The error (and its stack trace) is built only if someone is owed one.
    let err: Error | null = null;
    if (this.#openAsks !== null && this.#openAsks.size > 0) {
      err = makeErr();
      for (const [id, thread] of this.#openAsks) this.rt.sendReply(thread, id, false, err);
      this.#openAsks.clear();
    }
    if (this.mailbox.size === 0 && (this.parked === null || this.parked.size === 0) && (this.#stashApi === null || this.#stashApi.size === 0)) return;
    const rest = [...this.mailbox.drain(), ...(this.parked?.drain() ?? []), ...(this.#stashApi?.take() ?? [])];
    for (const env of rest) if (env.sig !== true) this.rt.deadLetter(env, reason, (err ??= makeErr()));
  }

  /** The behaviour returned Stopped or stopped itself. */
  #selfStop(): void {
    this.#stopRequested = false;
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
    this.#cancelTimers();
    await this.#supervising;
    for (const c of [...this.kids.values()].reverse()) {
      // kill() (the parent's shutdown timeout) may have ended us while we waited.
      if (this.#gone()) return;
      await this.#stopChild(c, `parent ${reason}`);
      this.#removeChild(c, undefined);
    }
    if (this.#gone()) return;
    this.#kids?.clear();
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

  /** Forced stop: no waiting. */
  kill(): void {
    if (this.status === 'stopped') return;
    this.status = 'stopping';
    this.#cancelTimers();
    for (const c of this.kids.values()) {
      this.rt.sendSys(c.ref.thread, { k: 'kill', path: c.ref.path });
      this.rt.forgetSpec(c.spec);
      this.rt.notifyTerminated(c.ref, undefined, c.watchers);
    }
    this.#kids?.clear();
    this.finish('killed', true);
  }

  finish(reason: string, requested: boolean): void {
    this.status = 'stopped';
    this.#failPending(() => new ActorStoppedError(this.path, 'stopped'), 'stopped');
    this.rt.cellStopped(this, reason, requested);
  }

  // ---- supervising children ---------------------------------------------------

  #supervise(work: () => Promise<void>): void {
    this.#supervising = (this.#supervising ?? Promise.resolve()).then(work).catch((e) => this.crash(toError(e)));
    this.rt.env.settling?.(this.#supervising);
  }

  #selfData(): RefData {
    return { $ref: 1, path: this.path, thread: this.rt.thread };
  }

  async #stopChild(rec: ChildRecord, reason: string): Promise<void> {
    rec.managed = true;
    const done = new Promise<void>((resolve) => (rec.stopWaiter = resolve));
    this.rt.sendSys(rec.ref.thread, { k: 'stop', path: rec.ref.path, reason, parent: this.#selfData(), incarnation: rec.spec.incarnation });
    const timer = this.rt.env.setTimer(rec.spec.shutdownMs, () => {
      // OTP's brutal kill after the shutdown timeout.
      this.log.warn('child did not stop in time; killing it', { child: rec.ref.path, shutdownMs: rec.spec.shutdownMs });
      this.rt.forceKill(rec.ref);
      rec.stopWaiter?.();
    });
    await done;
    this.rt.env.clearTimer(timer);
    rec.stopWaiter = undefined;
  }

  /** A child reported its end (requested by us, or on its own). */
  childStopped(child: string, exit: 'normal' | 'crash', error: Error | undefined, requested: boolean, incarnation: number): void {
    const rec = this.kids.get(lastSegment(child));
    // A late report from an incarnation we already replaced must not end the wait
    // for (or trigger supervision of) the current one.
    if (!rec || rec.ref.path !== child || rec.spec.incarnation !== incarnation) return;
    if (rec.stopWaiter) {
      rec.stopWaiter();
      return;
    }
    if (requested || this.status !== 'running') return;
    this.#onChildEnded(rec, exit, error, incarnation);
  }

  /** A child crashed. */
  childFailed(child: string, error: Error, incarnation: number): void {
    const rec = this.kids.get(lastSegment(child));
    if (!rec || rec.ref.path !== child || rec.spec.incarnation !== incarnation) return;
    if (rec.stopWaiter) {
      rec.stopWaiter();
      return;
    }
    if (this.status !== 'running' && this.status !== 'starting') return;
    this.#onChildEnded(rec, 'crash', error, incarnation);
  }

  #onChildEnded(rec: ChildRecord, exit: 'normal' | 'crash', error: Error | undefined, incarnation: number): void {
    this.#supervise(async () => {
      // The same end can be reported twice (a crash report, then the death of its
      // worker), and a queued report can be overtaken by a group restart that
      // already replaced this incarnation: act once, on the incarnation that ended.
      if (this.kids.get(rec.name) !== rec || rec.spec.incarnation !== incarnation) return;
      // Stopping: the ordered shutdown stops whatever is left; do not restart.
      if (this.status !== 'running') return;
      const ordered = [...this.kids.values()];
      const d = decide(
        this.#strategy,
        ordered.map((c) => ({ name: c.name, restart: c.spec.restart })),
        rec.name,
        exit,
        this.#restartLog ?? [],
        this.rt.env.now(),
      );
      this.#restartLog = d.restartLog;
      if (d.action === 'remove') {
        this.#removeChild(rec, exit === 'crash' ? error : undefined);
        return;
      }
      if (d.action === 'escalate') {
        const bus = this.rt.bus;
        if (bus.active) bus.emit('escalated', this.path, { reason: d.reason });
        const err = new Error(`${this.path}: ${d.reason}`, { cause: error });
        this.#removeChild(rec, error);
        if (this.parent === null) {
          this.rt.rootEscalated(err);
          return;
        }
        // Shut down the remaining children in order, then fail ourselves.
        for (const c of [...this.kids.values()].reverse()) {
          await this.#stopChild(c, 'supervisor gave up');
          this.#removeChild(c, undefined);
        }
        this.#kids?.clear();
        this.crash(err);
        return;
      }
      for (const name of d.stop) {
        const sib = this.kids.get(name);
        if (sib) await this.#stopChild(sib, `sibling ${rec.name} failed (${this.#strategy.kind})`);
      }
      for (const c of ordered) {
        if (!d.start.includes(c.name) && d.stop.includes(c.name)) {
          // A temporary sibling caught in a group restart is not brought back.
          this.#removeChild(c, undefined);
        }
      }
      for (const name of d.start) {
        const c = this.kids.get(name);
        if (!c) continue;
        c.spec = { ...c.spec, incarnation: c.spec.incarnation + 1 };
        c.managed = false;
        const placement = this.rt.placementOf(c.ref);
        c.ref = this.rt.startChild(c.spec, placement, name === rec.name ? error : undefined, c.watchers);
      }
    });
  }

  /** Supervisor-declared children (OTP child specs) are started in order here. */
  addChildRecord(name: string, ref: RefData, spec: SpawnSpec): void {
    (this.#kids ??= new Map()).set(name, { name, ref, spec, managed: false });
  }

  setStrategy(s: SupervisorStrategy): void {
    this.#strategy = s;
  }
}

function isThenable(x: unknown): boolean {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

export function lastSegment(path: string): string {
  const i = path.lastIndexOf('/');
  return path.slice(i + 1);
}

export { serializeError };

const STASH_CAPACITY = 1000;

class CellStash implements Stash<unknown> {
  #cell: Cell;
  #items: Envelope[] = [];
  constructor(cell: Cell) {
    this.#cell = cell;
  }
  get size(): number {
    return this.#items.length;
  }
  stash(msg: unknown): void {
    if (this.#items.length >= STASH_CAPACITY) throw new StashOverflowError(`stash of ${this.#cell.path} is full (${STASH_CAPACITY})`);
    const cur = this.#cell.rt.current;
    // The message being handled keeps its envelope (ids, and the ask it may carry).
    // Anything else — the API takes `msg` — gets an envelope of its own; before,
    // the argument was ignored and the current message stashed instead, and
    // stashing after an `await` threw.
    if (cur !== null && cur.to === this.#cell.path && cur.msg === msg) this.#items.push(cur);
    else this.#items.push(this.#cell.rt.envelopeFor(this.#cell.path, msg));
  }
  unstashAll(): void {
    if (this.#items.length === 0) return;
    this.#cell.requeueFront(this.take());
  }
  take(): Envelope[] {
    const t = this.#items;
    this.#items = [];
    return t;
  }
}
