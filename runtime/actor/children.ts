// An actor's children as their supervisor sees them (OTP supervisor, Akka's
// Children + FaultHandling): one record per child, ordered stops with the
// shutdown timeout and brutal kill, and what happens when a child ends —
// restart, remove, or escalate, as `decide` says. Supervision work runs one
// piece at a time, in order, on a promise chain.
import type { Logger, Placement } from './types.ts';
import type { RefData, SpawnSpec, SysMsg } from './wire.ts';
import type { Env } from '../env/env.ts';
import type { EventBus } from '../inspect/events.ts';
import { toError } from './errors.ts';
import { lastSegment } from './ref.ts';
import { decide, type SupervisorStrategy } from '../supervision/decide.ts';

export interface ChildRecord {
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

/** What supervising children needs of the thread's runtime (ThreadRuntime). */
export interface ChildrenHost {
  readonly thread: string;
  readonly env: Env;
  readonly bus: EventBus;
  sendSys(thread: string, s: SysMsg): void;
  forgetSpec(spec: SpawnSpec): void;
  placementOf(ref: RefData): Placement | undefined;
  /** Start (or restart) a child; returns where it lives. */
  startChild(spec: SpawnSpec, placement: Placement | undefined, restartedAfter?: Error, watchers?: Map<string, RefData>): RefData;
  notifyTerminated(ref: RefData, error: Error | undefined, watchersCopy?: Map<string, RefData>): void;
  forceKill(ref: RefData): void;
  rootEscalated(err: Error): void;
}

/** What supervising children needs of the parent actor (a Cell). */
export interface ParentCell {
  readonly path: string;
  readonly status: string;
  readonly parent: unknown;
  readonly strategy: SupervisorStrategy;
  readonly log: Logger;
  readonly rt: ChildrenHost;
  crash(error: Error): void;
}

export class Children {
  readonly #cell: ParentCell;
  /** By name, in start order. */
  readonly records = new Map<string, ChildRecord>();
  #restartLog: number[] | null = null;
  /** Supervision work (restarts, ordered stops) runs one at a time. */
  supervising: Promise<void> | null = null;

  constructor(cell: ParentCell) {
    this.#cell = cell;
  }

  add(name: string, ref: RefData, spec: SpawnSpec): void {
    this.records.set(name, { name, ref, spec, managed: false });
  }

  /** The record of the child at `path`, if it is ours. */
  get(path: string): ChildRecord | undefined {
    const rec = this.records.get(lastSegment(path));
    return rec !== undefined && rec.ref.path === path ? rec : undefined;
  }

  /** Stop a child (after supervision work queued before) and forget it; settles once it has stopped. */
  stopAndWait(rec: ChildRecord): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#supervise(async () => {
        try {
          // It may have ended and been removed while earlier supervision work ran.
          if (this.records.get(rec.name) !== rec) return;
          await this.stopChild(rec, 'stopped by parent');
          // Removed for good: watchers must hear Terminated and the tombstone must go
          // (before, neither happened for a child stopped by its parent).
          this.remove(rec, undefined);
        } finally {
          resolve();
        }
      });
    });
  }

  /** The child is gone for good: forget it and tell its watchers. */
  remove(rec: ChildRecord, error: Error | undefined): void {
    if (this.records.get(rec.name) === rec) this.records.delete(rec.name);
    const rt = this.#cell.rt;
    rt.forgetSpec(rec.spec);
    rt.notifyTerminated(rec.ref, error, rec.watchers);
  }

  /** A child's thread reports a watch on it (or its end): keep a copy, and tell the watcher we hold it. */
  watchedBy(child: string, watcher: RefData, add: boolean): void {
    const rec = this.get(child);
    if (!rec) return;
    const key = `${watcher.thread}|${watcher.path}`;
    if (!add) {
      rec.watchers?.delete(key);
      return;
    }
    (rec.watchers ??= new Map()).set(key, watcher);
    const rt = this.#cell.rt;
    rt.sendSys(watcher.thread, { k: 'watchHeld', watcher: watcher.path, target: rec.ref, holder: rt.thread });
  }

  /** The parent crashed: its children are stopped, not restarted (the new incarnation starts clean). */
  stopAllAfterCrash(): void {
    const rt = this.#cell.rt;
    const kids = [...this.records.values()].reverse();
    this.records.clear();
    for (const c of kids) {
      rt.sendSys(c.ref.thread, { k: 'stop', path: c.ref.path, reason: 'parent crashed', parent: this.#selfData(), incarnation: c.spec.incarnation });
      rt.forgetSpec(c.spec);
      // Gone for good: its watchers hear Terminated once it has stopped.
      rt.notifyTerminated(c.ref, undefined, c.watchers);
    }
  }

  /** The parent is being killed: so are its children, without waiting. */
  killAll(): void {
    const rt = this.#cell.rt;
    for (const c of this.records.values()) {
      rt.sendSys(c.ref.thread, { k: 'kill', path: c.ref.path });
      rt.forgetSpec(c.spec);
      rt.notifyTerminated(c.ref, undefined, c.watchers);
    }
    this.records.clear();
  }

  /** Ask a child to stop and wait until it has (or until its shutdown timeout killed it). */
  async stopChild(rec: ChildRecord, reason: string): Promise<void> {
    const rt = this.#cell.rt;
    rec.managed = true;
    const done = new Promise<void>((resolve) => (rec.stopWaiter = resolve));
    rt.sendSys(rec.ref.thread, { k: 'stop', path: rec.ref.path, reason, parent: this.#selfData(), incarnation: rec.spec.incarnation });
    const timer = rt.env.setTimer(rec.spec.shutdownMs, () => {
      // OTP's brutal kill after the shutdown timeout.
      this.#cell.log.warn('child did not stop in time; killing it', { child: rec.ref.path, shutdownMs: rec.spec.shutdownMs });
      rt.forceKill(rec.ref);
      rec.stopWaiter?.();
    });
    await done;
    rt.env.clearTimer(timer);
    rec.stopWaiter = undefined;
  }

  /** A child reported its end (requested by us, or on its own). */
  childStopped(child: string, exit: 'normal' | 'crash', error: Error | undefined, requested: boolean, incarnation: number): void {
    const rec = this.get(child);
    // A late report from an incarnation we already replaced must not end the wait
    // for (or trigger supervision of) the current one.
    if (!rec || rec.spec.incarnation !== incarnation) return;
    if (rec.stopWaiter) {
      rec.stopWaiter();
      return;
    }
    if (requested || this.#cell.status !== 'running') return;
    this.#onChildEnded(rec, exit, error, incarnation);
  }

  /** A child crashed. */
  childFailed(child: string, error: Error, incarnation: number): void {
    const rec = this.get(child);
    if (!rec || rec.spec.incarnation !== incarnation) return;
    if (rec.stopWaiter) {
      rec.stopWaiter();
      return;
    }
    const status = this.#cell.status;
    if (status !== 'running' && status !== 'starting') return;
    this.#onChildEnded(rec, 'crash', error, incarnation);
  }

  #onChildEnded(rec: ChildRecord, exit: 'normal' | 'crash', error: Error | undefined, incarnation: number): void {
    const cell = this.#cell;
    this.#supervise(async () => {
      // The same end can be reported twice (a crash report, then the death of its
      // worker), and a queued report can be overtaken by a group restart that
      // already replaced this incarnation: act once, on the incarnation that ended.
      if (this.records.get(rec.name) !== rec || rec.spec.incarnation !== incarnation) return;
      // Stopping: the ordered shutdown stops whatever is left; do not restart.
      if (cell.status !== 'running') return;
      const rt = cell.rt;
      const ordered = [...this.records.values()];
      const d = decide(
        cell.strategy,
        ordered.map((c) => ({ name: c.name, restart: c.spec.restart })),
        rec.name,
        exit,
        this.#restartLog ?? [],
        rt.env.now(),
      );
      this.#restartLog = d.restartLog;
      if (d.action === 'remove') {
        this.remove(rec, exit === 'crash' ? error : undefined);
        return;
      }
      if (d.action === 'escalate') {
        const bus = rt.bus;
        if (bus.active) bus.emit('escalated', cell.path, { reason: d.reason });
        const err = new Error(`${cell.path}: ${d.reason}`, { cause: error });
        this.remove(rec, error);
        if (cell.parent === null) {
          rt.rootEscalated(err);
          return;
        }
        // Shut down the remaining children in order, then fail ourselves.
        for (const c of [...this.records.values()].reverse()) {
          await this.stopChild(c, 'supervisor gave up');
          this.remove(c, undefined);
        }
        this.records.clear();
        cell.crash(err);
        return;
      }
      for (const name of d.stop) {
        const sib = this.records.get(name);
        if (sib) await this.stopChild(sib, `sibling ${rec.name} failed (${cell.strategy.kind})`);
      }
      for (const c of ordered) {
        if (!d.start.includes(c.name) && d.stop.includes(c.name)) {
          // A temporary sibling caught in a group restart is not brought back.
          this.remove(c, undefined);
        }
      }
      for (const name of d.start) {
        const c = this.records.get(name);
        if (!c) continue;
        c.spec = { ...c.spec, incarnation: c.spec.incarnation + 1 };
        c.managed = false;
        const placement = rt.placementOf(c.ref);
        c.ref = rt.startChild(c.spec, placement, name === rec.name ? error : undefined, c.watchers);
      }
    });
  }

  #supervise(work: () => Promise<void>): void {
    this.supervising = (this.supervising ?? Promise.resolve()).then(work).catch((e) => this.#cell.crash(toError(e)));
    this.#cell.rt.env.settling?.(this.supervising);
  }

  #selfData(): RefData {
    return { $ref: 1, path: this.#cell.path, thread: this.#cell.rt.thread };
  }
}
