// The actor system as the application sees it: a root guardian in the
// current thread, worker threads created on demand for worker placements
// (full mesh of direct MessageChannels between them), detection of dying
// workers, inspection across all threads, and an ordered shutdown.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ActorRef, Behavior, BehaviorFactory, SpawnOptions, WorkerLimits } from './types.ts';
import type { SysMsg, WireItem } from './wire.ts';
import { ThreadRuntime, Ref } from './thread-runtime.ts';
import { Cell } from './cell.ts';
import { receive } from './behavior.ts';
import { ActorStoppedError, WorkerDiedError, serializeError } from './errors.ts';
import { RealEnv } from '../env/real-env.ts';
import type { Env } from '../env/env.ts';
import type { EventListener } from '../inspect/events.ts';
import type { SupervisorStrategy } from '../supervision/decide.ts';
import { cellStats, type ActorStats } from './stats.ts';
import type { WorkerControl } from './worker-main.ts';

export interface LogEntry {
  level: string;
  path: string;
  msg: string;
  fields?: Record<string, unknown>;
  thread: string;
}

export interface SystemOptions {
  /** Name shown in events and logs (a node name, say). */
  name?: string;
  /** Clock, timers and randomness. Default: the real ones. */
  env?: Env;
  /** Run worker placements in this thread (the simulator's mode). */
  inThreadOnly?: boolean;
  /** Strategy of the root guardian for top-level actors. */
  strategy?: SupervisorStrategy;
  /** Where log lines go. Default: warn and error to stderr as JSON. */
  log?: (e: LogEntry) => void;
  /** Called when escalation reaches the root. Default: log it and shut the system down. */
  onFatal?: (err: Error) => void;
  /** Thread index for message ids (distinct systems in one process, e.g. simulated nodes). */
  index?: number;
}

interface WorkerSlot {
  name: string;
  thread: string;
  worker: Worker;
  control: Comlink.Remote<WorkerControl>;
  controlPort: MessagePort;
  lastError?: Error;
}

const WORKER_URL = new URL('./worker-main.ts', import.meta.url);

export class ActorSystem {
  readonly name: string;
  readonly env: Env;
  readonly rt: ThreadRuntime;
  readonly #guardian: Cell;
  readonly #workers = new Map<string, WorkerSlot>();
  #nextIndex = 1;
  #inspecting = 0;
  #shuttingDown: Promise<void> | null = null;
  #log: (e: LogEntry) => void;
  #onFatal: (err: Error) => void;
  #ownsEnv: boolean;

  constructor(opts: SystemOptions = {}) {
    this.name = opts.name ?? 'acp';
    this.#ownsEnv = opts.env === undefined;
    this.env = opts.env ?? new RealEnv();
    this.#log = opts.log ?? defaultLog;
    this.#onFatal =
      opts.onFatal ??
      ((err) => {
        this.#log({ level: 'error', path: '/user', msg: `supervision escalated to the root: ${err.message}; shutting down`, thread: 'main' });
        void this.shutdown();
      });
    this.rt = new ThreadRuntime({
      thread: opts.inThreadOnly ? this.name : 'main',
      index: opts.index ?? 0,
      env: this.env,
      inThreadOnly: opts.inThreadOnly ?? false,
      hooks: {
        ensureWorker: (worker, placement) => this.#ensureWorker(worker, 'resourceLimits' in placement ? placement.resourceLimits : undefined),
        rootEscalated: (err) => this.#onFatal(err),
        forceKill: (ref) => this.#forceKill(ref.thread, ref.path),
        log: (level, path, msg, fields) => this.#log({ level, path, msg, thread: this.rt.thread, ...(fields ? { fields } : {}) }),
      },
    });
    this.rt.onOtherSys = (s) => this.#onWorkerSys(s);
    const spec = this.rt.makeSpec('/user', null, receive<unknown>(() => undefined), { restart: 'permanent' }, 'permanent');
    this.#guardian = new Cell(this.rt, spec, null);
    this.rt.cells.set('/user', this.#guardian);
    this.#guardian.start(receive<unknown>(() => undefined));
    if (opts.strategy) this.#guardian.setStrategy(opts.strategy);
  }

  /** Start a top-level actor under the root guardian. */
  spawn<M, A = void>(behavior: Behavior<M> | BehaviorFactory<M, A>, name: string, opts: SpawnOptions & { args?: A } = {}): ActorRef<M> {
    if (this.#shuttingDown) throw new ActorStoppedError('/user', 'is shutting down');
    return this.#guardian.spawn(behavior, name, opts);
  }

  /** Stop a top-level actor (children first, in reverse order) and wait until it is gone. */
  async stop(ref: ActorRef<never>): Promise<void> {
    // Waits on the guardian's own record of the stop. (It used to wait for a
    // 'stopped' inspection event: that turned inspection on in every worker, lost
    // the race when the event came from a worker before it had switched
    // inspection on, never settled for an actor that had already stopped, and
    // leaked the listener when `ref` was not a top-level actor.)
    if (!/^\/user\/[^/]+$/.test(ref.path)) throw new Error(`${ref.path} is not a top-level actor (stop it from its parent with ctx.stop)`);
    // Already gone (stopped, or removed after it ended): nothing to wait for.
    if (!this.#guardian.children().some((c) => c.path === ref.path)) return;
    await this.#guardian.stopAndWait(ref);
  }

  /** A ref to an actor by path and thread (for tools; actors normally receive refs in messages). */
  refFor<M>(path: string, thread = 'main'): ActorRef<M> {
    return this.rt.refFor<M>({ $ref: 1, path, thread });
  }

  /**
   * Observe inspection events from every thread. Costs nothing while nobody
   * listens: workers only forward events while at least one listener exists.
   */
  onEvent(listener: EventListener): () => void {
    const off = this.rt.bus.subscribe(listener);
    if (this.#inspecting++ === 0) for (const w of this.#workers.values()) void w.control.setInspect(true).catch(() => {});
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      if (--this.#inspecting === 0) for (const w of this.#workers.values()) void w.control.setInspect(false).catch(() => {});
    };
  }

  /** Per-actor figures (queue depth, processed, restarts) from every thread. */
  async stats(timeoutMs = 2000): Promise<ActorStats[]> {
    const out = cellStats(this.rt);
    const remote = await Promise.all(
      [...this.#workers.values()].map((w) =>
        withTimeout(w.control.stats(), timeoutMs).catch((): ActorStats[] => [{ path: `(worker ${w.name} did not answer)`, thread: w.thread, status: 'unknown', depth: 0, processed: 0, incarnation: 0, children: 0 }]),
      ),
    );
    for (const r of remote) out.push(...r);
    return out;
  }

  get deadLetters(): number {
    return this.rt.deadLetters;
  }

  /** Names of live worker threads. */
  workers(): string[] {
    return [...this.#workers.keys()];
  }

  /** Stop every actor in reverse start order, then the workers. Safe to call twice. */
  shutdown(): Promise<void> {
    return (this.#shuttingDown ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    await this.#guardian.stopGracefully('system shutdown', true);
    this.rt.rejectAllPending(new ActorStoppedError('/user', 'system shut down'));
    const slots = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.all(
      slots.map(async (w) => {
        w.control[Comlink.releaseProxy]();
        w.controlPort.close();
        await w.worker.terminate();
        this.rt.closeLink(w.thread);
      }),
    );
    if (this.#ownsEnv && this.env instanceof RealEnv) this.env.dispose();
  }

  // ---- workers ------------------------------------------------------------------

  #ensureWorker(name: string, limits: WorkerLimits | undefined): void {
    if (this.#workers.has(name)) return;
    if (this.#shuttingDown) {
      // No new workers during shutdown. Say so, or whatever waits for this
      // worker (a parent stopping a child there) waits out its timeout.
      this.#declareDead(`w:${name}`, new WorkerDiedError(name, null, 'not started: the system is shutting down'));
      return;
    }
    const thread = `w:${name}`;
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_URL, {
      workerData: { thread, index: this.#nextIndex++, control: port2, inspect: this.#inspecting > 0 },
      transferList: [port2],
      ...(limits ? { resourceLimits: limits } : {}),
      stdout: false,
      stderr: false,
    });
    const control = Comlink.wrap<WorkerControl>(nodeEndpoint(port1));
    const slot: WorkerSlot = { name, thread, worker, control, controlPort: port1 };
    this.#workers.set(name, slot);
    worker.on('message', (data: unknown) => this.rt.receiveFrom(thread, data));
    worker.on('error', (e) => {
      slot.lastError = e;
    });
    worker.on('exit', (code) => this.#workerExited(slot, code));
    // Full mesh: every worker talks to every other one directly, not through main.
    for (const other of this.#workers.values()) {
      if (other === slot) continue;
      const ch = new MessageChannel();
      other.worker.postMessage({ $intro: thread, port: ch.port1 }, [ch.port1]);
      worker.postMessage({ $intro: other.thread, port: ch.port2 }, [ch.port2]);
    }
    this.rt.addPort(thread, worker, { ring: true });
  }

  #workerExited(slot: WorkerSlot, code: number): void {
    if (this.#workers.get(slot.name) !== slot) return; // terminated by shutdown
    this.#workers.delete(slot.name);
    slot.control[Comlink.releaseProxy]();
    slot.controlPort.close();
    const oom = slot.lastError && (slot.lastError as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    const detail = oom
      ? 'out of memory (resourceLimits)'
      : slot.lastError
        ? `uncaught ${slot.lastError.name}: ${slot.lastError.message}`
        : `exited with code ${code}`;
    const err = new WorkerDiedError(slot.name, code, detail);
    if (slot.lastError) (err as { cause?: unknown }).cause = slot.lastError;
    if (this.rt.bus.active) this.rt.bus.emit('worker-died', slot.thread, { reason: detail });
    this.#log({ level: 'warn', path: slot.thread, msg: `worker ${slot.name} died: ${detail}`, thread: 'main' });
    this.#declareDead(slot.thread, err);
  }

  /** Tell every thread that `thread` is gone (asks fail, parents see crashes, watchers see Terminated). */
  #declareDead(thread: string, err: Error): void {
    const s: SysMsg = { k: 'threadDied', thread, error: serializeError(err) };
    for (const w of this.#workers.values()) w.worker.postMessage([{ t: 's', s }]);
    this.rt.threadDied(thread, err);
  }

  #forceKill(thread: string, path: string): void {
    this.rt.sendSys(thread, { k: 'kill', path });
  }

  #onWorkerSys(s: SysMsg): void {
    if (s.k === 'ensureWorker') this.#ensureWorker(s.worker, s.limits);
    else if (s.k === 'events') for (const e of s.events) this.rt.bus.forward(e);
    else if (s.k === 'log') this.#log({ level: s.level, path: s.path, msg: s.msg, thread: 'worker', ...(s.fields ? { fields: s.fields } : {}) });
  }
}

function defaultLog(e: LogEntry): void {
  if (e.level === 'warn' || e.level === 'error') process.stderr.write(JSON.stringify({ t: new Date().toISOString(), ...e }) + '\n');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export { Ref };
