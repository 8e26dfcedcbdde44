// What a behaviour sees of its actor (ActorContext): refs, clock and log,
// spawning and stopping children, watches, replies and asks, timers and
// stash. Its subclass Cell (cell.ts) runs the actor — mailbox, message
// loop, crash and stop; one object per actor, so a context costs no extra
// allocation. Children, timers and stash are objects of their own
// (children.ts, timers.ts, stash.ts), made on first use.
import type { ActorContext, ActorRef, Behavior, BehaviorFactory, Logger, ReplyTo, SpawnOptions, Stash, Timers } from './types.ts';
import type { Envelope, RefData, SpawnSpec } from './wire.ts';
import { ActorStoppedError, toError } from './errors.ts';
import { defaultStrategy, type SupervisorStrategy } from '../supervision/decide.ts';
import { Children, type ChildRecord, type ChildrenHost, type ParentCell } from './children.ts';
import { ActorTimers, type TimerOwner } from './timers.ts';
import { StashBuffer, type StashOwner } from './stash.ts';
import type { Env } from '../env/env.ts';
import type { Rng } from '../env/random.ts';

export type Status = 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

/** What a context needs of its thread's runtime (ThreadRuntime). */
export interface ContextHost extends ChildrenHost {
  /** The envelope being handled in this thread (set by the cell running it). */
  current: Envelope | null;
  refFor<M>(d: RefData): ActorRef<M>;
  logger(path: string): Logger;
  makeSpec(path: string, parent: ActorRef<never> | null, behavior: Behavior<any> | BehaviorFactory<any, any>, opts: SpawnOptions & { args?: unknown }, defaultRestart: SpawnSpec['restart']): SpawnSpec;
  /** Start an actor in this thread. */
  spawnLocal(spec: SpawnSpec): { readonly self: ActorRef<unknown> };
  sendReply(thread: string, id: number, ok: boolean, v: unknown): void;
  /** An ask whose answer (or failure) comes to exactly one of the callbacks. */
  askWith<R>(to: RefData, make: (r: ReplyTo<R>) => unknown, timeoutMs: number, onReply: (v: R) => void, onError: (e: Error) => void): void;
  /** A timer's message to the actor at `to` (no cause: it comes from no message). */
  sendFromTimer(to: string, msg: unknown): void;
  envelopeFor(to: string, msg: unknown): Envelope;
  watch(watcher: string, target: ActorRef<never>): void;
  unwatch(watcher: string, target: ActorRef<never>): void;
}

/** Shared by every cell without children (never written: writes go through the lazy Children). */
const NO_KIDS: ReadonlyMap<string, ChildRecord> = new Map();
const NAME_OK = /^[A-Za-z0-9_.:@-]+$/;

export abstract class CellContext<H extends ContextHost> implements ActorContext<unknown>, ParentCell, StashOwner, TimerOwner {
  readonly rt: H;
  readonly path: string;
  readonly spec: SpawnSpec;
  readonly incarnation: number;
  status: Status = 'starting';
  /** How this actor supervises its children (the behaviour's, else the last one set). */
  strategy: SupervisorStrategy = defaultStrategy;
  // Allocated on first use: most actors never have children, open asks,
  // timers or a stash.
  protected supervised: Children | null = null;
  /** Asks this actor has received and not yet answered: rejected if it dies. */
  protected openAsks: Map<number, string> | null = null;
  protected actorTimers: ActorTimers | null = null;
  protected stashBuffer: StashBuffer | null = null;
  /** ctx.stop(ctx.self) or a handler returned Stopped: stop once the handler is done. */
  protected stopRequested = false;
  #self: ActorRef<unknown> | null = null;
  #parent: ActorRef<never> | null | undefined = undefined;
  #log: Logger | null = null;

  constructor(rt: H, spec: SpawnSpec) {
    this.rt = rt;
    this.path = spec.path;
    this.spec = spec;
    this.incarnation = spec.incarnation;
  }

  /** The behaviour failed: end this incarnation (Cell.crash). */
  abstract crash(error: Error, during?: Envelope): void;
  /** Put envelopes back in front of the mailbox (Cell.requeueFront). */
  abstract requeueFront(envs: Envelope[]): void;

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
    return this.supervised === null ? NO_KIDS : this.supervised.records;
  }

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

  // ---- children ------------------------------------------------------------

  spawn<C, A>(behavior: Behavior<C> | BehaviorFactory<C, A>, name: string, opts: SpawnOptions & { args?: A } = {}): ActorRef<C> {
    if (this.status === 'stopping' || this.status === 'stopped' || this.status === 'crashed') {
      throw new ActorStoppedError(this.path, 'is stopping and cannot spawn children');
    }
    if (!NAME_OK.test(name)) throw new Error(`invalid actor name "${name}": use letters, digits and _ . : @ -`);
    if (this.kids.has(name)) throw new Error(`actor ${this.path} already has a child named "${name}"`);
    const spec = this.rt.makeSpec(this.path === '/' ? `/${name}` : `${this.path}/${name}`, this.self as ActorRef<never>, behavior, opts, 'temporary');
    const children = (this.supervised ??= new Children(this));
    if (spec.module === undefined) {
      // Same thread: start it here, and hand out its own self ref (one Ref per actor, which is also its ref data).
      const self = this.rt.spawnLocal(spec).self as unknown as RefData;
      children.add(name, self, spec);
      return self as unknown as ActorRef<C>;
    }
    const ref = this.rt.startChild(spec, opts.placement);
    children.add(name, ref, spec);
    return this.rt.refFor(ref) as ActorRef<C>;
  }

  stop(child: ActorRef<never>): void {
    void this.stopAndWait(child);
  }

  /** ctx.stop, settling once the child has stopped (ActorSystem.stop awaits this). */
  stopAndWait(child: ActorRef<never>): Promise<void> {
    if (child.path === this.path) {
      this.stopRequested = true;
      return Promise.resolve();
    }
    const rec = this.supervised?.get(child.path);
    if (!rec) throw new Error(`${child.path} is not a child of ${this.path}`);
    return this.supervised!.stopAndWait(rec);
  }

  children(): ActorRef<never>[] {
    return [...this.kids.values()].map((c) => this.rt.refFor(c.ref) as ActorRef<never>);
  }

  setStrategy(s: SupervisorStrategy): void {
    this.strategy = s;
  }

  /** A child's thread reports a watch on it (or its end). */
  childWatchedBy(child: string, watcher: RefData, add: boolean): void {
    this.supervised?.watchedBy(child, watcher, add);
  }
  /** A child reported its end (requested by us, or on its own). */
  childStopped(child: string, exit: 'normal' | 'crash', error: Error | undefined, requested: boolean, incarnation: number): void {
    this.supervised?.childStopped(child, exit, error, requested, incarnation);
  }
  /** A child crashed. */
  childFailed(child: string, error: Error, incarnation: number): void {
    this.supervised?.childFailed(child, error, incarnation);
  }

  // ---- watches, replies, results -----------------------------------------------

  watch(ref: ActorRef<never>): void {
    this.rt.watch(this.path, ref);
  }
  unwatch(ref: ActorRef<never>): void {
    this.rt.unwatch(this.path, ref);
  }

  reply<R>(to: ReplyTo<R>, value: R): void {
    if (this.openAsks !== null) this.openAsks.delete(to.$ask);
    this.rt.sendReply(to.$thread, to.$ask, true, value);
  }
  replyError<R>(to: ReplyTo<R>, error: Error): void {
    if (this.openAsks !== null) this.openAsks.delete(to.$ask);
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

  // ---- timers and stash ----------------------------------------------------------

  get timers(): Timers<unknown> {
    return (this.actorTimers ??= new ActorTimers(this));
  }
  /** One of this actor's timers fired. */
  timerFired(msg: unknown): void {
    if (this.status === 'running') this.rt.sendFromTimer(this.path, msg);
  }

  get stash(): Stash<unknown> {
    return (this.stashBuffer ??= new StashBuffer(this));
  }
}
