// Everything one thread needs to run actors. The main thread and every
// worker run one of these; a simulated node runs one too (in one thread).
// This class composes the pieces, one concern each, and routes between them:
//   ref.ts         refs, and reviving refs in structured-cloned messages
//   (here)         envelopes and sending: tell, ask, offer, replies, system messages
//   asks.ts        the asks and offers this thread waits on
//   delivery.ts    into a mailbox, the ready queue and its drain, dead letters
//   links.ts       links to other threads: batching, outbox, receiving, dead peers
//   spawn.ts       spawn specs, placement, starting cells
//   lifecycle.ts   stop / kill / crash reports between parents and children
//   watches.ts     death watch
// Each piece declares what it needs of this class as an interface of its own
// (DeliveryHost, WatchHost, …), so none of them imports this file.
import type { ActorRef, AskOptions, Behavior, BehaviorFactory, Logger, Placement, ReplyTo, SpawnOptions } from './types.ts';
import type { Envelope, RefData, SpawnSpec, SysMsg, WireItem } from './wire.ts';
import type { Cell, CellHost } from './cell.ts';
import { WorkerDiedError, deserializeError, serializeError, toError, type MailboxFullError } from './errors.ts';
import { EventBus, messageType } from '../inspect/events.ts';
import type { BatchSink, OutLink, PortLike } from './link.ts';
import { Ref, reviveRefs } from './ref.ts';
import { Asks, MAX_TIMEOUT } from './asks.ts';
import { Delivery, type DeliveryHost } from './delivery.ts';
import { Links } from './links.ts';
import { Watches, type WatchHost } from './watches.ts';
import { Spawner, type SpawnHost } from './spawn.ts';
import { Lifecycle, type LifecycleHost } from './lifecycle.ts';
import type { Env } from '../env/env.ts';

export { Ref };

export interface RuntimeHooks {
  /** Ask the main thread to make sure a worker exists (a worker's runtime forwards; main creates). */
  ensureWorker(worker: string, limits: Placement & { worker: string }): void;
  /** A root actor escalated: the system decides (usually: log and shut down). */
  rootEscalated(err: Error): void;
  /** Brutal kill of an actor that did not stop in time. */
  forceKill(ref: RefData): void;
  log(level: string, path: string, msg: string, fields?: Record<string, unknown>): void;
}

export class ThreadRuntime implements CellHost, SpawnHost, DeliveryHost, WatchHost, LifecycleHost {
  readonly thread: string;
  readonly env: Env;
  readonly bus: EventBus;
  /** Worker placements run in this thread (the simulator's mode). */
  readonly inThreadOnly: boolean;
  readonly cells = new Map<string, Cell>();
  /** The envelope being handled in this thread (set by the cell running it). */
  current: Envelope | null = null;
  readonly #hooks: RuntimeHooks;
  /** Message ids are unique per system: the thread index fills the high bits. */
  readonly #idBase: number;
  #seq = 0;
  readonly #makeRef = (r: RefData): ActorRef<unknown> => this.refFor(r);
  readonly #asks: Asks;
  readonly #delivery: Delivery;
  readonly #links: Links;
  readonly #watches: Watches;
  readonly #spawner: Spawner;
  readonly #lifecycle: Lifecycle;

  constructor(opts: { thread: string; index: number; env: Env; hooks: RuntimeHooks; inThreadOnly?: boolean }) {
    this.thread = opts.thread;
    this.env = opts.env;
    this.#hooks = opts.hooks;
    this.inThreadOnly = opts.inThreadOnly ?? false;
    this.#idBase = opts.index * 2 ** 36;
    this.bus = new EventBus(opts.thread, () => opts.env.now());
    const asks = (this.#asks = new Asks(opts.env, this.#idBase));
    const delivery = (this.#delivery = new Delivery(this, asks));
    const sink: BatchSink = {
      deliver: (env) => delivery.deliver(env),
      reply: (id, ok, v) => asks.settle(id, ok, ok ? v : deserializeError(v as never)),
      sys: (s) => this.handleSys(s),
    };
    this.#links = new Links({ env: opts.env, delivery, sink, makeRef: this.#makeRef, hooks: opts.hooks });
    this.#watches = new Watches(this, this.#links);
    this.#spawner = new Spawner(this, this.#links, this.#watches, opts.hooks);
    this.#lifecycle = new Lifecycle(this, this.#links, this.#watches, opts.hooks);
  }

  refFor<M>(d: RefData): ActorRef<M> {
    return new Ref<M>(this, d.path, d.thread);
  }

  // ---- envelopes and sending -----------------------------------------------------

  #envelope(to: string, msg: unknown): Envelope {
    const id = this.#idBase + ++this.#seq;
    const cur = this.current;
    return cur === null ? { to, msg, id, corr: id, cause: 0 } : { to, msg, id, corr: cur.corr, cause: cur.id, from: cur.to };
  }

  /** A fresh envelope to `to`, with no cause (a stashed message that is not the current one, a timer's). */
  envelopeFor(to: string, msg: unknown): Envelope {
    const id = this.#idBase + ++this.#seq;
    return { to, msg, id, corr: id, cause: 0 };
  }

  send(to: RefData, msg: unknown): void {
    const thread = to.thread;
    if (thread === this.thread) {
      const env = this.#envelope(to.path, msg);
      if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
      this.#delivery.deliver(env);
      return;
    }
    const link = this.#links.linkTo(thread);
    if (link === undefined) {
      const env = this.#envelope(to.path, msg);
      if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
      this.#links.enqueue(thread, { t: 'e', e: env });
      return;
    }
    this.#sendOnLink(link, to.path, msg, undefined);
  }

  /** Straight into a link's batch: no envelope object on this side. `ask`: the ask id the reply settles. */
  #sendOnLink(link: OutLink, path: string, msg: unknown, ask: number | undefined): void {
    const id = this.#idBase + ++this.#seq;
    const cur = this.current;
    const corr = cur === null ? id : cur.corr;
    const cause = cur === null ? 0 : cur.id;
    const from = cur === null ? undefined : cur.to;
    if (this.bus.active) this.bus.emit('sent', from ?? '', { target: path, msgType: messageType(msg), msgId: id, causeId: cause, corrId: corr });
    link.envelope(path, msg, id, corr, cause, from, ask, ask === undefined ? undefined : this.thread, undefined);
    this.#links.queued(link);
  }

  sendFromTimer(to: string, msg: unknown): void {
    this.#delivery.deliver(this.envelopeFor(to, msg));
  }

  ask<R>(to: RefData, make: (r: ReplyTo<R>) => unknown, opts: AskOptions | undefined): Promise<R> {
    const p = new Promise<R>((resolve, reject) => this.askWith(to, make, opts?.timeoutMs ?? 5000, resolve, reject));
    this.env.settling?.(p);
    return p;
  }

  /**
   * `ask` without a promise: exactly one of the callbacks runs, synchronously
   * when the reply (or failure, or timeout) arrives — for an in-thread target,
   * inside the target's turn, so it must only hand the result on, never
   * re-enter an actor. The simulator uses it for client requests: a real
   * promise's reaction would run outside virtual time, behind a real
   * microtask turn per time step.
   */
  askWith<R>(to: RefData, make: (r: ReplyTo<R>) => unknown, timeoutMs: number, onReply: (v: R) => void, onError: (e: Error) => void): void {
    // Timers cannot exceed 2^31-1 ms: a larger (or infinite) value would fire after 1 ms.
    if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT)) {
      onError(new RangeError(`ask timeout must be a positive number of ms up to ${MAX_TIMEOUT}, got ${timeoutMs}`));
      return;
    }
    const id = this.#asks.nextId();
    const replyTo: ReplyTo<R> = { $ask: id, $thread: this.thread };
    let msg: unknown;
    try {
      msg = make(replyTo);
    } catch (e) {
      onError(toError(e));
      return;
    }
    this.#asks.expect(id, to, timeoutMs, onReply as (v: unknown) => void, onError);
    const link = to.thread === this.thread ? undefined : this.#links.linkTo(to.thread);
    if (link !== undefined) {
      this.#sendOnLink(link, to.path, msg, id);
      return;
    }
    const env = this.#envelope(to.path, msg);
    env.ask = id;
    env.askThread = this.thread;
    if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
    if (to.thread === this.thread) this.#delivery.deliver(env);
    else this.#links.enqueue(to.thread, { t: 'e', e: env });
  }

  offer(to: RefData, msg: unknown): Promise<void> {
    const env = this.#envelope(to.path, msg);
    const id = this.#asks.nextId();
    env.offer = id;
    env.askThread = this.thread;
    if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
    const p = new Promise<void>((resolve, reject) => {
      // `thread` so that the death of the target's worker rejects it (it used to hang).
      this.#asks.expectOffer(id, to.thread, resolve, reject);
      if (to.thread === this.thread) this.#delivery.deliver(env);
      else this.#links.enqueue(to.thread, { t: 'e', e: env });
    });
    this.env.settling?.(p);
    return p;
  }

  sendReply(thread: string, id: number, ok: boolean, v: unknown): void {
    if (thread === this.thread) {
      this.#asks.settle(id, ok, v);
      return;
    }
    const link = this.#links.linkTo(thread);
    if (link !== undefined) {
      link.reply(id, ok, ok ? v : serializeError(v));
      this.#links.queued(link);
    } else this.#links.enqueue(thread, ok ? { t: 'r', id, ok: true, v } : { t: 'r', id, ok: false, err: serializeError(v) });
  }

  sendSys(thread: string, s: SysMsg): void {
    if (thread === this.thread) this.env.schedule(() => this.handleSys(s));
    else this.#links.enqueue(thread, { t: 's', s });
  }

  // ---- system messages and the death of threads ------------------------------------

  handleSys(s: SysMsg): void {
    switch (s.k) {
      case 'spawn':
        this.#spawner.spawnLocal(s.spec, undefined, s.watchers);
        return;
      case 'stop':
      case 'kill':
      case 'stopped':
      case 'failed':
        this.#lifecycle.handleSys(s);
        return;
      case 'terminated':
        if (s.watcher === '') {
          // Forwarded notifyTerminated for a cell in this thread.
          this.#lifecycle.notifyTerminated(s.target, s.error ? deserializeError(s.error) : undefined);
          return;
        }
        this.#watches.handleSys(s);
        return;
      case 'watch':
      case 'unwatch':
      case 'watchHeld':
        this.#watches.handleSys(s);
        return;
      case 'watchedBy':
        this.cells.get(s.parent)?.childWatchedBy(s.child, s.watcher, s.add);
        return;
      case 'offered':
        this.#asks.settleOffer(s.id, s.error ? deserializeError(s.error) : undefined);
        return;
      case 'threadDied':
        this.threadDied(s.thread, deserializeError(s.error));
        return;
      default:
        this.onOtherSys(s);
    }
  }

  /** Overridden by the main/worker shells for their own control messages. */
  onOtherSys(_s: SysMsg): void {}

  /** A worker is gone: fail asks to it, tell parents their children there crashed, end watches. */
  threadDied(thread: string, error: Error): void {
    const died =
      error.name === 'WorkerDiedError'
        ? error
        : new WorkerDiedError(thread.replace(/^w:/, ''), (error as { exitCode?: number }).exitCode ?? null, error.message);
    // Whatever was on its way there is failed like any message to a dead actor.
    this.#delivery.undeliverable(this.#links.threadDied(thread, died), died);
    this.#asks.failThread(thread, died);
    this.#watches.dropWatchersOn(thread);
    this.#lifecycle.childrenDied(thread, error);
    this.#watches.endWatchesOn(thread, died);
  }

  // ---- links to other threads ---------------------------------------------------

  /** Link to another thread through a port; batches to it are encoded and transferred. */
  addPort(thread: string, port: PortLike, opts?: { ring?: boolean }): void {
    this.#links.addPort(thread, port, opts);
  }

  /** Let go of the link with `thread` (its worker was terminated on purpose): its rings are freed. */
  closeLink(thread: string): void {
    this.#links.close(thread);
  }

  /**
   * Something arrived from thread `from`: an encoded batch (refs already
   * rebuilt by the decoder) or a plain array of items (structured clone).
   */
  receiveFrom(from: string, data: unknown): void {
    if (Array.isArray(data)) {
      this.receive(data as WireItem[]);
      return;
    }
    this.#links.receive(from, data);
  }

  /** A batch of structured-cloned items arrived from another thread. */
  receive(items: WireItem[]): void {
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.t === 'e') {
        const env = it.e;
        reviveRefs(env.msg, this.#makeRef);
        this.#delivery.deliver(env);
      } else if (it.t === 'r') {
        if (it.ok) this.#asks.settle(it.id, true, it.v);
        else this.#asks.settle(it.id, false, deserializeError(it.err));
      } else this.handleSys(it.s);
    }
  }

  // ---- what cells ask of their thread (CellHost), handed to the pieces ------------------

  makeReady(cell: Cell): void {
    this.#delivery.makeReady(cell);
  }
  settleOffer(env: Envelope): void {
    this.#delivery.settleOffer(env);
  }
  refuse(cell: Cell, env: Envelope, err: MailboxFullError, policy: string): void {
    this.#delivery.refuse(cell, env, err, policy);
  }
  deadLetter(env: Envelope, reason: string, err?: Error, emit = true): void {
    this.#delivery.deadLetter(env, reason, err, emit);
  }
  get deadLetters(): number {
    return this.#delivery.deadLetters;
  }

  makeSpec(path: string, parent: ActorRef<never> | null, behavior: Behavior<any> | BehaviorFactory<any, any>, opts: SpawnOptions & { args?: unknown }, defaultRestart: SpawnSpec['restart']): SpawnSpec {
    return this.#spawner.makeSpec(path, parent, behavior, opts, defaultRestart);
  }
  forgetSpec(spec: SpawnSpec): void {
    this.#spawner.forgetSpec(spec);
  }
  placementOf(ref: RefData): Placement | undefined {
    return this.#spawner.placementOf(ref);
  }
  startChild(spec: SpawnSpec, placement: Placement | undefined, restartedAfter?: Error, watchers?: Map<string, RefData>): RefData {
    return this.#spawner.startChild(spec, placement, restartedAfter, watchers);
  }
  spawnLocal(spec: SpawnSpec, restartedAfter?: Error, watchers?: RefData[]): Cell {
    return this.#spawner.spawnLocal(spec, restartedAfter, watchers);
  }

  cellCrashed(cell: Cell, error: Error): void {
    this.#lifecycle.cellCrashed(cell, error);
  }
  cellStopped(cell: Cell, reason: string, requested: boolean): void {
    this.#lifecycle.cellStopped(cell, reason, requested);
  }
  notifyTerminated(ref: RefData, error: Error | undefined, watchersCopy?: Map<string, RefData>): void {
    this.#lifecycle.notifyTerminated(ref, error, watchersCopy);
  }
  rootEscalated(err: Error): void {
    this.#lifecycle.rootEscalated(err);
  }
  forceKill(ref: RefData): void {
    this.#lifecycle.forceKill(ref);
  }

  watch(watcher: string, target: ActorRef<never>): void {
    this.#watches.watch(watcher, target);
  }
  unwatch(watcher: string, target: ActorRef<never>): void {
    this.#watches.unwatch(watcher, target);
  }

  /** Reject everything pending (system shutdown). */
  rejectAllPending(err: Error): void {
    this.#asks.rejectAll(err);
  }

  logger(path: string): Logger {
    const h = this.#hooks;
    return {
      debug: (m, f) => h.log('debug', path, m, f),
      info: (m, f) => h.log('info', path, m, f),
      warn: (m, f) => h.log('warn', path, m, f),
      error: (m, f) => h.log('error', path, m, f),
    };
  }
}
