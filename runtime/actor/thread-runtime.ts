// Everything one thread needs to run actors: the cells it hosts, the ready
// queue, routing to other threads over batched MessagePorts, pending asks,
// watches, dead letters and the inspection bus. The main thread and every
// worker run one of these; a simulated node runs one too (in one thread).
import type { ActorRef, AskOptions, Behavior, BehaviorFactory, Logger, Placement, ReplyTo, SpawnOptions } from './types.ts';
import type { Envelope, RefData, SpawnSpec, SysMsg, WireItem } from './wire.ts';
import { Cell } from './cell.ts';
import { Queue } from './mailbox.ts';
import {
  ActorCrashedError,
  ActorStoppedError,
  AskTimeoutError,
  MailboxFullError,
  SpawnError,
  WorkerDiedError,
  deserializeError,
  serializeError,
  toError,
} from './errors.ts';
import { isFactory } from './behavior.ts';
import { EventBus, messageType } from '../inspect/events.ts';
import { OutLink, readWire, readFrame, isWireBatch, makeDecoder, type BatchSink, type PortLike, type WireBatch } from './link.ts';
import { InLink } from './in-link.ts';
import type { Env, TimerId } from '../env/env.ts';

/** Messages processed per cell before the next cell gets a turn (fairness). */
const THROUGHPUT = 300;
/** Messages processed per dispatcher turn before yielding to I/O. */
const TURN_BUDGET = 20_000;
/** Items per postMessage; a larger burst is split. */
const MAX_BATCH = 2048;
/** Mailbox options of every actor spawned without any (shared: specs never change them). */
const DEFAULT_MAILBOX = Object.freeze({ capacity: 10_000, overflow: 'drop' as const });
/** Largest delay a Node timer honours (2^31 - 1 ms). */
const MAX_TIMEOUT = 2_147_483_647;

interface PendingAsk {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: TimerId;
  thread: string;
  path: string;
}

export interface RuntimeHooks {
  /** Ask the main thread to make sure a worker exists (a worker's runtime forwards; main creates). */
  ensureWorker(worker: string, limits: Placement & { worker: string }): void;
  /** A root actor escalated: the system decides (usually: log and shut down). */
  rootEscalated(err: Error): void;
  /** Brutal kill of an actor that did not stop in time. */
  forceKill(ref: RefData): void;
  log(level: string, path: string, msg: string, fields?: Record<string, unknown>): void;
}

export class ThreadRuntime {
  readonly thread: string;
  readonly env: Env;
  readonly bus: EventBus;
  /** Worker placements run in this thread (the simulator's mode). */
  readonly inThreadOnly: boolean;
  readonly cells = new Map<string, Cell>();
  current: Envelope | null = null;
  deadLetters = 0;
  #hooks: RuntimeHooks;
  #ready = new Queue<Cell>(64);
  #draining = false;
  #drainScheduled = false;
  /** Decoding a batch: deliveries make the cells ready, and the drain runs right after. */
  #receiving = false;
  #drainAfterReceive = false;
  #idBase: number;
  #seq = 0;
  #askSeq = 0;
  #asks = new Map<number, PendingAsk>();
  #offers = new Map<number, { resolve: () => void; reject: (e: Error) => void; thread: string }>();
  /** Target side: who watches each local path. */
  #watchers = new Map<string, Map<string, RefData>>();
  /**
   * Watcher side: targets each local actor watches (so a dead worker still
   * yields Terminated, and a Terminated after unwatch or after the watcher
   * stopped is dropped).
   */
  #watching = new Map<string, Map<string, RefData>>();
  /**
   * Watcher side: the thread of the target's parent, for watches that parent
   * keeps a copy of (key: watcher path, NUL, target path). When the target's
   * worker dies, such a watch waits for the parent's decision: carried over
   * to the restarted actor, or Terminated if it is gone for good.
   */
  #heldBy = new Map<string, string>();
  /**
   * Worker threads known to have died and not (yet) recreated. Items for them
   * are failed here instead of waiting for a link: before, the first reply or
   * Terminated addressed to a dead worker silently re-created an empty worker.
   */
  #dead = new Map<string, Error>();
  #links = new Map<string, OutLink>();
  /** One-entry cache of #links (a burst goes to one thread); cleared whenever #links changes. */
  #lastThread: string | null = null;
  #lastLink: OutLink | undefined = undefined;
  /** Receiving ends of links, by sending thread. */
  #inLinks = new Map<string, InLink>();
  /** Items for threads without a link yet (or dead), flushed like batches. */
  #outbox = new Map<string, WireItem[]>();
  /** Links with a batch being built. */
  #dirty: OutLink[] = [];
  #flushScheduled = false;
  /** Receives decoded items. */
  readonly #sink: BatchSink = {
    deliver: (env) => this.deliver(env),
    reply: (id, ok, v) => this.#settleAsk(id, ok, ok ? v : deserializeError(v as never)),
    sys: (s) => this.handleSys(s),
  };
  /** Items for threads we have no port to yet. */
  #waiting = new Map<string, WireItem[]>();
  /** Where each child placement lives, so a restart goes to the same worker. */
  #placements = new Map<string, Placement>();

  constructor(opts: { thread: string; index: number; env: Env; hooks: RuntimeHooks; inThreadOnly?: boolean }) {
    this.thread = opts.thread;
    this.env = opts.env;
    this.#hooks = opts.hooks;
    this.inThreadOnly = opts.inThreadOnly ?? false;
    // Message ids are unique per system: the thread index fills the high bits.
    this.#idBase = opts.index * 2 ** 36;
    this.bus = new EventBus(opts.thread, () => opts.env.now());
  }

  // ---- refs ------------------------------------------------------------------

  refFor<M>(d: RefData): ActorRef<M> {
    return new Ref<M>(this, d.path, d.thread);
  }

  /** Turn ref data inside a received message back into live refs (top-level fields and arrays). */
  #revive(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) return;
    const o = msg as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (typeof v !== 'object' || v === null) continue;
      if ((v as RefData).$ref === 1) o[k] = this.refFor(v as RefData);
      else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const x = v[i];
          if (typeof x === 'object' && x !== null && (x as RefData).$ref === 1) v[i] = this.refFor(x as RefData);
        }
      }
    }
  }

  // ---- sending ------------------------------------------------------------------

  #envelope(to: string, msg: unknown): Envelope {
    const id = this.#idBase + ++this.#seq;
    const cur = this.current;
    return cur === null ? { to, msg, id, corr: id, cause: 0 } : { to, msg, id, corr: cur.corr, cause: cur.id, from: cur.to };
  }

  send(to: RefData, msg: unknown): void {
    const thread = to.thread;
    if (thread === this.thread) {
      const env = this.#envelope(to.path, msg);
      if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
      this.deliver(env);
      return;
    }
    const link = this.#linkTo(thread);
    if (link === undefined) {
      const env = this.#envelope(to.path, msg);
      if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
      this.#enqueue(thread, { t: 'e', e: env });
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
    this.#queued(link);
  }

  /** A fresh envelope to `to`, with no cause (a stashed message that is not the current one). */
  envelopeFor(to: string, msg: unknown): Envelope {
    const id = this.#idBase + ++this.#seq;
    return { to, msg, id, corr: id, cause: 0 };
  }

  sendFromTimer(to: string, msg: unknown): void {
    this.deliver(this.envelopeFor(to, msg));
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
    // Ask ids are unique per system (thread index in the high bits): a late reply
    // meant for a dead worker must not settle an ask of its replacement.
    const id = this.#idBase + ++this.#askSeq;
    const replyTo: ReplyTo<R> = { $ask: id, $thread: this.thread };
    let msg: unknown;
    try {
      msg = make(replyTo);
    } catch (e) {
      onError(toError(e));
      return;
    }
    const timer = this.env.setTimer(timeoutMs, () => {
      if (this.#asks.delete(id)) onError(new AskTimeoutError(to.path, timeoutMs));
    });
    this.#asks.set(id, { resolve: onReply as (v: unknown) => void, reject: onError, timer, thread: to.thread, path: to.path });
    const link = to.thread === this.thread ? undefined : this.#linkTo(to.thread);
    if (link !== undefined) {
      this.#sendOnLink(link, to.path, msg, id);
      return;
    }
    const env = this.#envelope(to.path, msg);
    env.ask = id;
    env.askThread = this.thread;
    if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
    if (to.thread === this.thread) this.deliver(env);
    else this.#enqueue(to.thread, { t: 'e', e: env });
  }

  offer(to: RefData, msg: unknown): Promise<void> {
    const env = this.#envelope(to.path, msg);
    const id = this.#idBase + ++this.#askSeq;
    env.offer = id;
    env.askThread = this.thread;
    if (this.bus.active) this.bus.emit('sent', env.from ?? '', { target: to.path, msgType: messageType(msg), msgId: env.id, causeId: env.cause, corrId: env.corr });
    const p = new Promise<void>((resolve, reject) => {
      // `thread` so that the death of the target's worker rejects it (it used to hang).
      this.#offers.set(id, { resolve, reject, thread: to.thread });
      if (to.thread === this.thread) this.deliver(env);
      else this.#enqueue(to.thread, { t: 'e', e: env });
    });
    this.env.settling?.(p);
    return p;
  }

  sendReply(thread: string, id: number, ok: boolean, v: unknown): void {
    if (thread === this.thread) {
      this.#settleAsk(id, ok, v);
      return;
    }
    const link = this.#linkTo(thread);
    if (link !== undefined) {
      link.reply(id, ok, ok ? v : serializeError(v));
      this.#queued(link);
    } else this.#enqueue(thread, ok ? { t: 'r', id, ok: true, v } : { t: 'r', id, ok: false, err: serializeError(v) });
  }

  #settleAsk(id: number, ok: boolean, v: unknown): void {
    const p = this.#asks.get(id);
    if (!p) return; // already timed out or answered
    this.#asks.delete(id);
    this.env.clearTimer(p.timer);
    if (ok) p.resolve(v);
    else p.reject(toError(v));
  }

  sendSys(thread: string, s: SysMsg): void {
    if (thread === this.thread) this.env.schedule(() => this.handleSys(s));
    else this.#enqueue(thread, { t: 's', s });
  }

  // ---- delivery ------------------------------------------------------------------

  deliver(env: Envelope): void {
    const cell = this.cells.get(env.to);
    if (cell === undefined || cell.status === 'stopped' || cell.status === 'stopping' || cell.status === 'crashed') {
      const why = cell === undefined ? 'no such actor' : cell.status === 'crashed' ? 'crashed' : 'stopped';
      const err = cell?.status === 'crashed' ? new ActorCrashedError(env.to, 'restarting') : new ActorStoppedError(env.to, why === 'no such actor' ? 'does not exist' : 'is stopped');
      this.deadLetter(env, why, err);
      return;
    }
    const admitted = cell.admit(env);
    if (admitted === 'refused') return;
    if (this.bus.active) this.bus.emit('received', env.to, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, depth: cell.mailbox.size });
    if (env.offer !== undefined && admitted === 'queued') this.settleOffer(env);
    if (!cell.scheduled && !cell.busy && cell.status === 'running') {
      cell.scheduled = true;
      this.#ready.push(cell);
      this.#scheduleDrain();
    }
  }

  settleOffer(env: Envelope): void {
    const id = env.offer!;
    env.offer = undefined;
    if (env.askThread === this.thread) {
      const o = this.#offers.get(id);
      if (o) {
        this.#offers.delete(id);
        o.resolve();
      }
    } else this.sendSys(env.askThread!, { k: 'offered', id });
  }

  /** A full mailbox refused a message. */
  refuse(cell: Cell, env: Envelope, err: MailboxFullError, policy: string): void {
    if (this.bus.active) this.bus.emit('dropped', cell.path, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, reason: `mailbox-full (${policy})`, depth: cell.mailbox.size });
    this.deadLetter(env, 'mailbox-full', err, false);
    if (policy === 'reject' && env.ask === undefined && env.offer === undefined && env.askThread === undefined && this.current !== null && env.from === this.current.to) {
      // In-thread tell from an actor under `reject`: the sender learns at once.
      throw err;
    }
  }

  deadLetter(env: Envelope, reason: string, err?: Error, emit = true): void {
    this.deadLetters++;
    if (emit && this.bus.active) this.bus.emit('dead-letter', env.to, { msgType: messageType(env.msg), msgId: env.id, corrId: env.corr, reason });
    const e = err ?? new ActorStoppedError(env.to, reason);
    if (env.ask !== undefined) this.sendReply(env.askThread!, env.ask, false, e);
    if (env.offer !== undefined) {
      if (env.askThread === this.thread) {
        const o = this.#offers.get(env.offer);
        if (o) {
          this.#offers.delete(env.offer);
          o.reject(e);
        }
      } else this.sendSys(env.askThread!, { k: 'offered', id: env.offer, error: serializeError(e) });
    }
  }

  makeReady(cell: Cell): void {
    if (cell.scheduled || cell.busy || cell.status !== 'running' || cell.mailbox.size === 0) return;
    cell.scheduled = true;
    this.#ready.push(cell);
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#draining) return;
    if (this.#receiving) {
      // receiveFrom drains once the batch is in (saves a microtask per batch).
      this.#drainAfterReceive = true;
      return;
    }
    this.#drainScheduled = true;
    this.env.schedule(this.#drain);
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
      this.env.defer(this.#drain);
    }
  };

  // ---- spawning ------------------------------------------------------------------

  makeSpec(path: string, parent: ActorRef<never> | null, behavior: Behavior<unknown> | BehaviorFactory<unknown, unknown> | Behavior<any> | BehaviorFactory<any, any>, opts: SpawnOptions & { args?: unknown }, defaultRestart: SpawnSpec['restart']): SpawnSpec {
    const spec: SpawnSpec = {
      path,
      // A Ref is ref data (and is encoded as a ref if the spec goes to a worker): no copy needed.
      parent: parent === null ? null : parent instanceof Ref ? (parent as Ref<never>) : { $ref: 1, path: parent.path, thread: (parent as Ref<never>).thread },
      mailbox: opts.mailbox === undefined ? DEFAULT_MAILBOX : { capacity: opts.mailbox.capacity ?? 10_000, overflow: opts.mailbox.overflow ?? 'drop' },
      restart: opts.restart ?? defaultRestart,
      shutdownMs: opts.shutdownMs ?? 5000,
      incarnation: 0,
    };
    const cap = spec.mailbox.capacity!;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`mailbox capacity must be a positive integer, got ${cap}`);
    const worker = opts.placement !== undefined && 'worker' in opts.placement;
    if (isFactory(behavior)) {
      if (worker && !this.inThreadOnly) {
        spec.module = behavior.module;
        spec.name = behavior.name;
        spec.args = opts.args;
      } else {
        spec.local = behavior.create(opts.args as never) as Behavior<unknown>;
      }
    } else {
      if (worker && !this.inThreadOnly) {
        throw new SpawnError(`${path}: a behaviour placed in a worker must be declared with defineBehavior() so the worker can load it`);
      }
      spec.local = behavior as Behavior<unknown>;
    }
    return spec;
  }

  forgetSpec(spec: SpawnSpec): void {
    this.#placements.delete(spec.path);
  }

  placementOf(ref: RefData): Placement | undefined {
    return this.#placements.get(ref.path);
  }

  /** Start (or restart) a child; returns where it lives. */
  startChild(spec: SpawnSpec, placement: Placement | undefined, restartedAfter?: Error, watchers?: Map<string, RefData>): RefData {
    let thread = this.thread;
    if (placement && 'worker' in placement && !this.inThreadOnly) {
      thread = `w:${placement.worker}`;
      this.#placements.set(spec.path, placement);
      // Starting an actor there is the one reason to bring a dead worker back.
      this.#dead.delete(thread);
      if (!this.#links.has(thread)) this.#hooks.ensureWorker(placement.worker, placement);
    }
    const ws = watchers !== undefined && watchers.size > 0 ? [...watchers.values()] : undefined;
    if (thread === this.thread) this.spawnLocal(spec, restartedAfter, ws);
    else this.#enqueue(thread, { t: 's', s: ws ? { k: 'spawn', spec, watchers: ws } : { k: 'spawn', spec } });
    return { $ref: 1, path: spec.path, thread };
  }

  spawnLocal(spec: SpawnSpec, restartedAfter?: Error, watchers?: RefData[]): Cell {
    const old = this.cells.get(spec.path);
    if (old && old.status !== 'crashed' && old.status !== 'stopped') {
      old.kill();
    }
    // A crashed incarnation being restarted cleans up first (an actor whose worker died has nothing to run it on).
    const cleanup = old !== undefined && old.status === 'crashed' && spec.incarnation > old.incarnation ? old.preRestart() : undefined;
    const cell = new Cell(this, spec, null);
    this.cells.set(spec.path, cell);
    if (watchers !== undefined) {
      // Watchers kept by the parent: carried over if this thread lost them with a dead worker.
      let m = this.#watchers.get(spec.path);
      if (!m) this.#watchers.set(spec.path, (m = new Map()));
      for (const w of watchers) m.set(`${w.thread}|${w.path}`, w);
    }
    if (this.bus.active) {
      this.bus.emit(spec.incarnation > 0 ? 'restarted' : 'spawned', spec.path, {
        incarnation: spec.incarnation,
        ...(restartedAfter ? { reason: restartedAfter.message } : {}),
      });
    }
    if (cleanup === undefined) this.#begin(cell, spec);
    else {
      this.env.settling?.(cleanup);
      void cleanup.then(() => {
        if (this.cells.get(spec.path) === cell && cell.status === 'starting') this.#begin(cell, spec);
      });
    }
    return cell;
  }

  /** Start a new cell's behaviour: at once if it is local, after loading its module if not. */
  #begin(cell: Cell, spec: SpawnSpec): void {
    if (spec.module === undefined) {
      const b = spec.local;
      if (!b) {
        cell.status = 'running';
        cell.crash(new SpawnError(`${spec.path}: behaviour is not available in thread ${this.thread}`));
        return;
      }
      cell.start(b);
      return;
    }
    // A worker placement: load the behaviour's module, then start. Messages queue meanwhile.
    import(spec.module!).then(
      (mod: Record<string, unknown>) => {
        if (this.cells.get(spec.path) !== cell || cell.status !== 'starting') return;
        const f = mod[spec.name!];
        if (!isFactory(f)) {
          cell.status = 'running';
          cell.crash(new SpawnError(`${spec.path}: module ${spec.module} has no behaviour exported as "${spec.name}" (declare it with defineBehavior and export it under that name)`));
          return;
        }
        let b: Behavior<unknown>;
        try {
          b = f.create(spec.args) as Behavior<unknown>;
        } catch (e) {
          cell.status = 'running';
          cell.crash(toError(e));
          return;
        }
        cell.start(b);
      },
      (e) => {
        if (this.cells.get(spec.path) !== cell) return;
        cell.status = 'running';
        cell.crash(new SpawnError(`${spec.path}: cannot load ${spec.module}: ${toError(e).message}`, { cause: e }));
      },
    );
  }

  // ---- lifecycle notifications ---------------------------------------------------

  cellCrashed(cell: Cell, error: Error): void {
    const p = cell.spec.parent;
    if (p === null) {
      this.rootEscalated(error);
      return;
    }
    this.sendSys(p.thread, { k: 'failed', parent: p.path, child: cell.path, error: serializeError(error), incarnation: cell.incarnation });
  }

  cellStopped(cell: Cell, reason: string, requested: boolean): void {
    if (this.bus.active) this.bus.emit('stopped', cell.path, { reason, incarnation: cell.incarnation });
    // What it watched is no longer its business (nor a later actor's at this path).
    if (this.cells.get(cell.path) === cell) {
      const targets = this.#watching.get(cell.path);
      if (targets !== undefined) for (const t of targets.keys()) this.#heldBy.delete(`${cell.path}\0${t}`);
      this.#watching.delete(cell.path);
    }
    const p = cell.spec.parent;
    const self: RefData = { $ref: 1, path: cell.path, thread: this.thread };
    if (p !== null) this.sendSys(p.thread, { k: 'stopped', parent: p.path, child: cell.path, exit: 'normal', requested, incarnation: cell.incarnation });
    else this.notifyTerminated(self, undefined);
    const t = cell.terminateWhenDone;
    if (t !== null) {
      cell.terminateWhenDone = null;
      this.#terminated(cell, self, t.error);
    }
  }

  /** The parent has removed `ref` for good: tell its watchers, drop its tombstone. */
  notifyTerminated(ref: RefData, error: Error | undefined, watchersCopy?: Map<string, RefData>): void {
    if (ref.thread !== this.thread) {
      if (this.#dead.has(ref.thread)) {
        // Its worker died with the registry: tell the watchers the parent kept
        // (the others were told when the worker died).
        if (watchersCopy !== undefined) {
          for (const w of watchersCopy.values()) this.sendSys(w.thread, { k: 'terminated', watcher: w.path, target: ref, ...(error ? { error: serializeError(error) } : {}) });
        }
        return;
      }
      this.#enqueue(ref.thread, { t: 's', s: { k: 'terminated', watcher: '', target: ref, ...(error ? { error: serializeError(error) } : {}) } });
      return;
    }
    const c = this.cells.get(ref.path);
    if (c && c.status !== 'stopped' && c.status !== 'crashed') {
      // Still running its shutdown: watchers hear Terminated once it has stopped.
      c.terminateWhenDone = { error };
      return;
    }
    this.#terminated(c, ref, error);
  }

  #terminated(c: Cell | undefined, ref: RefData, error: Error | undefined): void {
    // Drop the tombstone, but never a newer actor that took the path meanwhile.
    if (c !== undefined && this.cells.get(ref.path) === c) this.cells.delete(ref.path);
    const ws = this.#watchers.get(ref.path);
    if (!ws) return;
    this.#watchers.delete(ref.path);
    for (const w of ws.values()) {
      this.sendSys(w.thread, { k: 'terminated', watcher: w.path, target: ref, ...(error ? { error: serializeError(error) } : {}) });
    }
  }

  rootEscalated(err: Error): void {
    this.#hooks.rootEscalated(err);
  }

  forceKill(ref: RefData): void {
    if (ref.thread === this.thread) this.cells.get(ref.path)?.kill();
    else this.#hooks.forceKill(ref);
  }

  watch(watcher: string, target: ActorRef<never>): void {
    const t = target as Ref<never>;
    const w: RefData = { $ref: 1, path: watcher, thread: this.thread };
    let m = this.#watching.get(watcher);
    if (!m) this.#watching.set(watcher, (m = new Map()));
    m.set(t.path, { $ref: 1, path: t.path, thread: t.thread });
    const dead = this.#dead.get(t.thread);
    if (dead !== undefined) {
      // Watching an actor on a dead worker: Terminated at once.
      this.sendSys(this.thread, { k: 'terminated', watcher, target: { $ref: 1, path: t.path, thread: t.thread }, error: serializeError(dead) });
      return;
    }
    this.sendSys(t.thread, { k: 'watch', target: t.path, watcher: w });
  }

  unwatch(watcher: string, target: ActorRef<never>): void {
    const t = target as Ref<never>;
    this.#watching.get(watcher)?.delete(t.path);
    this.#heldBy.delete(`${watcher}\0${t.path}`);
    this.sendSys(t.thread, { k: 'unwatch', target: t.path, watcher: { $ref: 1, path: watcher, thread: this.thread } });
  }

  // ---- system messages ---------------------------------------------------------

  handleSys(s: SysMsg): void {
    switch (s.k) {
      case 'spawn':
        this.spawnLocal(s.spec, undefined, s.watchers);
        return;
      case 'stop': {
        const c = this.cells.get(s.path);
        if (!c || c.status === 'stopped') {
          // Nothing to stop: still answer, or the parent waits out its shutdown timeout.
          // (Before, an absent cell — e.g. on a worker that replaced a dead one — never answered.)
          const p = c?.spec.parent ?? s.parent;
          const incarnation = c?.incarnation ?? s.incarnation ?? 0;
          if (p) this.sendSys(p.thread, { k: 'stopped', parent: p.path, child: s.path, exit: 'normal', requested: true, incarnation });
          return;
        }
        if (c.status === 'crashed') {
          c.status = 'stopped';
          this.cellStopped(c, s.reason, true);
          return;
        }
        void c.stopGracefully(s.reason, true);
        return;
      }
      case 'kill':
        this.cells.get(s.path)?.kill();
        return;
      case 'stopped':
        this.cells.get(s.parent)?.childStopped(s.child, s.exit, s.error ? deserializeError(s.error) : undefined, s.requested, s.incarnation);
        return;
      case 'failed':
        this.cells.get(s.parent)?.childFailed(s.child, deserializeError(s.error), s.incarnation);
        return;
      case 'watch': {
        const c = this.cells.get(s.target);
        if (!c) {
          this.sendSys(s.watcher.thread, { k: 'terminated', watcher: s.watcher.path, target: { $ref: 1, path: s.target, thread: this.thread } });
          return;
        }
        let m = this.#watchers.get(s.target);
        if (!m) this.#watchers.set(s.target, (m = new Map()));
        m.set(`${s.watcher.thread}|${s.watcher.path}`, s.watcher);
        this.#tellParentOfWatch(c, s.watcher, true);
        return;
      }
      case 'unwatch': {
        this.#watchers.get(s.target)?.delete(`${s.watcher.thread}|${s.watcher.path}`);
        const c = this.cells.get(s.target);
        if (c) this.#tellParentOfWatch(c, s.watcher, false);
        return;
      }
      case 'watchedBy':
        this.cells.get(s.parent)?.childWatchedBy(s.child, s.watcher, s.add);
        return;
      case 'watchHeld':
        if (this.#watching.get(s.watcher)?.has(s.target.path)) this.#heldBy.set(`${s.watcher}\0${s.target.path}`, s.holder);
        return;
      case 'terminated': {
        if (s.watcher === '') {
          // Forwarded notifyTerminated for a cell in this thread.
          this.notifyTerminated(s.target, s.error ? deserializeError(s.error) : undefined);
          return;
        }
        // Only if still watched: none after unwatch, none for a watcher that stopped.
        if (!this.#watching.get(s.watcher)?.delete(s.target.path)) return;
        this.#heldBy.delete(`${s.watcher}\0${s.target.path}`);
        this.#signalTerminated(s.watcher, s.target, s.error ? deserializeError(s.error) : undefined);
        return;
      }
      case 'offered': {
        const o = this.#offers.get(s.id);
        if (!o) return;
        this.#offers.delete(s.id);
        if (s.error) o.reject(deserializeError(s.error));
        else o.resolve();
        return;
      }
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
    const link = this.#links.get(thread);
    this.#links.delete(thread);
    link?.close();
    this.#inLinks.get(thread)?.close();
    this.#inLinks.delete(thread);
    this.#lastThread = null;
    this.#dead.set(thread, died);
    // Whatever was on its way there is failed like any message to a dead actor.
    const pending = link !== undefined ? link.takePending((r) => this.refFor(r)) : [];
    const unsent = [...(this.#waiting.get(thread) ?? []), ...pending, ...(this.#outbox.get(thread) ?? [])];
    this.#outbox.delete(thread);
    this.#waiting.delete(thread);
    this.#failUndeliverable(thread, unsent);
    for (const [id, p] of this.#asks) {
      if (p.thread !== thread) continue;
      this.#asks.delete(id);
      this.env.clearTimer(p.timer);
      p.reject(died);
    }
    for (const [id, o] of this.#offers) {
      if (o.thread !== thread) continue;
      this.#offers.delete(id);
      o.reject(died);
    }
    // Its actors watched ours: those watches died with it.
    for (const [target, ws] of this.#watchers) {
      for (const [k, w] of ws) if (w.thread === thread) ws.delete(k);
      if (ws.size === 0) this.#watchers.delete(target);
    }
    for (const cell of this.cells.values()) {
      for (const kid of [...cell.kids.values()]) {
        if (kid.ref.thread === thread) cell.childFailed(kid.ref.path, error, kid.spec.incarnation);
      }
    }
    for (const [watcher, targets] of this.#watching) {
      for (const [path, ref] of targets) {
        const key = `${watcher}\0${path}`;
        const holder = this.#heldBy.get(key);
        if (ref.thread === thread) {
          // Its parent lives elsewhere and keeps this watch: it restarts the actor
          // (the watch carries over, as for any restart) or says it is gone.
          if (holder !== undefined && !this.#dead.has(holder)) continue;
        } else if (holder !== thread || !this.#dead.has(ref.thread)) continue; // else: the keeper of a watch on a dead worker's actor died too
        targets.delete(path);
        this.#heldBy.delete(key);
        this.#signalTerminated(watcher, ref, died);
      }
    }
  }

  /** Terminated for a watcher, or ChildFailed when a parent's watched child failed (Akka's rule). */
  #signalTerminated(watcher: string, target: RefData, error: Error | undefined): void {
    const c = this.cells.get(watcher);
    if (!c) return;
    const ref = this.refFor<never>(target);
    if (error === undefined) c.signal({ signal: 'Terminated', ref });
    else if (parentPath(target.path) === watcher) c.signal({ signal: 'ChildFailed', ref, error });
    else c.signal({ signal: 'Terminated', ref, error });
  }

  /** Watches of an actor whose parent is on another thread are copied to the parent (see 'watchedBy'). */
  #tellParentOfWatch(c: Cell, watcher: RefData, add: boolean): void {
    const p = c.spec.parent;
    if (p === null || p.thread === this.thread) return;
    this.sendSys(p.thread, { k: 'watchedBy', parent: p.path, child: c.path, watcher, add });
  }

  /** Items addressed to a thread that is gone: fail them as if the actors had stopped. */
  #failUndeliverable(thread: string, items: WireItem[]): void {
    const err = this.#dead.get(thread) ?? new WorkerDiedError(thread.replace(/^w:/, ''), null, 'gone');
    for (const it of items) {
      if (it.t === 'e') this.deadLetter(it.e, 'worker died', err);
      else if (it.t === 's' && it.s.k === 'stop' && it.s.parent) {
        // Its host is gone, so it is stopped: answer for it.
        const p = it.s.parent;
        this.sendSys(p.thread, { k: 'stopped', parent: p.path, child: it.s.path, exit: 'normal', requested: true, incarnation: it.s.incarnation ?? 0 });
      }
      // Replies, Terminated and other system messages have nobody to reach.
    }
  }

  // ---- links to other threads ---------------------------------------------------

  /** Link to another thread through a port; batches to it are encoded and transferred. */
  addPort(thread: string, port: PortLike, opts?: { ring?: boolean }): void {
    // A new port is a new peer (a restarted worker): its batches start a new stream.
    this.#inLinks.get(thread)?.close();
    this.#inLinks.delete(thread);
    this.#addLink(thread, new OutLink(port, opts));
  }

  #addLink(thread: string, link: OutLink): void {
    const old = this.#links.get(thread);
    if (old !== undefined) {
      old.flush();
      old.close();
    }
    this.#links.set(thread, link);
    this.#lastThread = null;
    this.#dead.delete(thread);
    // What waited for this link goes first, in order: items from before it, then unflushed ones.
    const waiting = this.#waiting.get(thread) ?? [];
    this.#waiting.delete(thread);
    const box = this.#outbox.get(thread);
    if (box !== undefined) {
      this.#outbox.delete(thread);
      for (const it of box) waiting.push(it);
    }
    for (let i = 0; i < waiting.length; i += MAX_BATCH) link.post(waiting.slice(i, i + MAX_BATCH));
  }

  /** Let go of the link with `thread` (its worker was terminated on purpose): its rings are freed. */
  closeLink(thread: string): void {
    this.#links.get(thread)?.close();
    this.#links.delete(thread);
    this.#lastThread = null;
    this.#inLinks.get(thread)?.close();
    this.#inLinks.delete(thread);
  }

  hasLink(thread: string): boolean {
    return this.#links.has(thread);
  }

  #linkTo(thread: string): OutLink | undefined {
    if (thread === this.#lastThread) return this.#lastLink;
    const link = this.#links.get(thread);
    this.#lastThread = thread;
    this.#lastLink = link;
    return link;
  }

  #enqueue(thread: string, item: WireItem): void {
    const link = this.#linkTo(thread);
    if (link !== undefined) {
      link.item(item);
      this.#queued(link);
      return;
    }
    let box = this.#outbox.get(thread);
    if (box === undefined) this.#outbox.set(thread, (box = []));
    box.push(item);
    if (box.length >= MAX_BATCH) {
      this.#outbox.delete(thread);
      this.#flushOne(thread, box);
      return;
    }
    this.#scheduleFlush();
  }

  /** An item went into `link`'s batch: send it now if full, else on the next microtask. */
  #queued(link: OutLink): void {
    if (link.count >= MAX_BATCH) {
      link.flush();
      return;
    }
    if (!link.dirty) {
      link.dirty = true;
      this.#dirty.push(link);
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    // On a microtask, not at the end of the drain: inspection events of the turn
    // (forwarded on their own microtask) then travel with its replies, not after them.
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.env.schedule(this.#flush);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#outbox.size > 0) {
      const boxes = [...this.#outbox];
      this.#outbox.clear();
      for (const [thread, box] of boxes) if (box.length > 0) this.#flushOne(thread, box);
    }
    const dirty = this.#dirty;
    if (dirty.length === 0) return;
    this.#dirty = [];
    for (let i = 0; i < dirty.length; i++) {
      const l = dirty[i]!;
      l.dirty = false;
      l.flush();
    }
  };

  #flushOne(thread: string, items: WireItem[]): void {
    const link = this.#links.get(thread);
    if (link) {
      for (const it of items) link.item(it);
      this.#queued(link);
      return;
    }
    if (this.#dead.has(thread)) {
      this.#failUndeliverable(thread, items);
      return;
    }
    let w = this.#waiting.get(thread);
    if (!w) this.#waiting.set(thread, (w = []));
    for (const it of items) w.push(it);
    if (thread.startsWith('w:')) this.#hooks.ensureWorker(thread.slice(2), { worker: thread.slice(2) });
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
    if (!isWireBatch(data)) return;
    let link = this.#inLinks.get(from);
    if (link === undefined) this.#inLinks.set(from, (link = this.#makeInLink(from)));
    link.fromPort(data);
  }

  #makeInLink(from: string): InLink {
    const dec = makeDecoder((r) => this.refFor(r));
    return new InLink({
      port: (w: WireBatch) => {
        this.#receiving = true;
        try {
          readWire(dec, w, this.#sink);
        } finally {
          this.#received();
        }
      },
      frame: (bytes: Uint8Array, n: number) => {
        this.#receiving = true;
        try {
          readFrame(dec, bytes, n, this.#sink);
        } finally {
          this.#received();
        }
      },
      failed: (e: unknown) => {
        const err = toError(e);
        if (!err.message.startsWith('codec:')) {
          // Not the batch's fault: a bug of ours, which must not pass silently.
          this.env.schedule(() => {
            throw e;
          });
          return;
        }
        // Threads of one process share our code, so this is a bug, not an attack: say so loudly.
        this.#hooks.log('error', '/', `undecodable batch from ${from}: ${err.message}`);
      },
    });
  }

  /** A batch has been decoded: its deliveries made cells ready, so drain now (saves a microtask). */
  #received(): void {
    this.#receiving = false;
    if (this.#drainAfterReceive) {
      this.#drainAfterReceive = false;
      if (!this.#drainScheduled && !this.#draining) {
        this.#drainScheduled = true;
        this.#drain();
      }
    }
  }

  /** A batch of structured-cloned items arrived from another thread. */
  receive(items: WireItem[]): void {
    this.#receiveItems(items, true);
  }

  #receiveItems(items: WireItem[], revive: boolean): void {
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.t === 'e') {
        const env = it.e;
        if (revive) this.#revive(env.msg);
        this.deliver(env);
      } else if (it.t === 'r') {
        if (it.ok) this.#settleAsk(it.id, true, it.v);
        else this.#settleAsk(it.id, false, deserializeError(it.err));
      } else this.handleSys(it.s);
    }
  }

  /** Reject everything pending (system shutdown). */
  rejectAllPending(err: Error): void {
    for (const [id, p] of this.#asks) {
      this.#asks.delete(id);
      this.env.clearTimer(p.timer);
      p.reject(err);
    }
    for (const [id, o] of this.#offers) {
      this.#offers.delete(id);
      o.reject(err);
    }
  }

  get pendingAsks(): number {
    return this.#asks.size;
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

/** The concrete ActorRef: path + thread, bound to the runtime of the thread it is used in. */
export class Ref<M> implements ActorRef<M> {
  readonly $ref = 1 as const;
  readonly path: string;
  readonly thread: string;
  readonly #rt: ThreadRuntime;
  constructor(rt: ThreadRuntime, path: string, thread: string) {
    this.#rt = rt;
    this.path = path;
    this.thread = thread;
  }
  tell(msg: M): void {
    this.#rt.send(this, msg);
  }
  ask<R>(make: (replyTo: ReplyTo<R>) => M, opts?: AskOptions): Promise<R> {
    return this.#rt.ask(this, make, opts);
  }
  offer(msg: M): Promise<void> {
    return this.#rt.offer(this, msg);
  }
  toJSON(): RefData {
    return { $ref: 1, path: this.path, thread: this.thread };
  }
  toString(): string {
    return `ActorRef(${this.path})`;
  }
}

function parentPath(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
