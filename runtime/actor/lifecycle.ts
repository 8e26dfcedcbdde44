// The ends of actors across threads: requests to stop or kill an actor of
// this thread, the reports a cell sends its parent when it crashed or
// stopped, the parent's side of those reports, and the moment an actor is
// gone for good — its watchers are told and its tombstone dropped.
import type { Cell } from './cell.ts';
import type { Links } from './links.ts';
import type { Watches } from './watches.ts';
import type { RefData, SysMsg } from './wire.ts';
import { deserializeError, serializeError } from './errors.ts';
import type { EventBus } from '../inspect/events.ts';

/** What the lifecycle needs of the thread's runtime (ThreadRuntime). */
export interface LifecycleHost {
  readonly thread: string;
  readonly bus: EventBus;
  readonly cells: Map<string, Cell>;
  sendSys(thread: string, s: SysMsg): void;
}

/** What the lifecycle needs of the thread's shell (part of RuntimeHooks). */
export interface LifecycleHooks {
  rootEscalated(err: Error): void;
  forceKill(ref: RefData): void;
}

type LifecycleMsg = Extract<SysMsg, { k: 'stop' | 'kill' | 'stopped' | 'failed' }>;

export class Lifecycle {
  readonly #host: LifecycleHost;
  readonly #links: Links;
  readonly #watches: Watches;
  readonly #hooks: LifecycleHooks;

  constructor(host: LifecycleHost, links: Links, watches: Watches, hooks: LifecycleHooks) {
    this.#host = host;
    this.#links = links;
    this.#watches = watches;
    this.#hooks = hooks;
  }

  handleSys(s: LifecycleMsg): void {
    const host = this.#host;
    switch (s.k) {
      case 'stop': {
        const c = host.cells.get(s.path);
        if (!c || c.status === 'stopped') {
          // Nothing to stop: still answer, or the parent waits out its shutdown timeout.
          // (Before, an absent cell — e.g. on a worker that replaced a dead one — never answered.)
          const p = c?.spec.parent ?? s.parent;
          const incarnation = c?.incarnation ?? s.incarnation ?? 0;
          if (p) host.sendSys(p.thread, { k: 'stopped', parent: p.path, child: s.path, exit: 'normal', requested: true, incarnation });
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
        host.cells.get(s.path)?.kill();
        return;
      case 'stopped':
        host.cells.get(s.parent)?.childStopped(s.child, s.exit, s.error ? deserializeError(s.error) : undefined, s.requested, s.incarnation);
        return;
      case 'failed':
        host.cells.get(s.parent)?.childFailed(s.child, deserializeError(s.error), s.incarnation);
        return;
    }
  }

  cellCrashed(cell: Cell, error: Error): void {
    const p = cell.spec.parent;
    if (p === null) {
      this.#hooks.rootEscalated(error);
      return;
    }
    this.#host.sendSys(p.thread, { k: 'failed', parent: p.path, child: cell.path, error: serializeError(error), incarnation: cell.incarnation });
  }

  cellStopped(cell: Cell, reason: string, requested: boolean): void {
    const host = this.#host;
    if (host.bus.active) host.bus.emit('stopped', cell.path, { reason, incarnation: cell.incarnation });
    // What it watched is no longer its business (nor a later actor's at this path).
    if (host.cells.get(cell.path) === cell) this.#watches.stopWatching(cell.path);
    const p = cell.spec.parent;
    const self: RefData = { $ref: 1, path: cell.path, thread: host.thread };
    if (p !== null) host.sendSys(p.thread, { k: 'stopped', parent: p.path, child: cell.path, exit: 'normal', requested, incarnation: cell.incarnation });
    else this.notifyTerminated(self, undefined);
    const t = cell.terminateWhenDone;
    if (t !== null) {
      cell.terminateWhenDone = null;
      this.#terminated(cell, self, t.error);
    }
  }

  /** The parent has removed `ref` for good: tell its watchers, drop its tombstone. */
  notifyTerminated(ref: RefData, error: Error | undefined, watchersCopy?: Map<string, RefData>): void {
    const host = this.#host;
    if (ref.thread !== host.thread) {
      if (this.#links.isDead(ref.thread)) {
        // Its worker died with the registry: tell the watchers the parent kept
        // (the others were told when the worker died).
        if (watchersCopy !== undefined) {
          for (const w of watchersCopy.values()) host.sendSys(w.thread, { k: 'terminated', watcher: w.path, target: ref, ...(error ? { error: serializeError(error) } : {}) });
        }
        return;
      }
      // Its thread drops the tombstone and tells the watchers (see ThreadRuntime.handleSys).
      host.sendSys(ref.thread, { k: 'terminated', watcher: '', target: ref, ...(error ? { error: serializeError(error) } : {}) });
      return;
    }
    const c = host.cells.get(ref.path);
    if (c && c.status !== 'stopped' && c.status !== 'crashed') {
      // Still running its shutdown: watchers hear Terminated once it has stopped.
      c.terminateWhenDone = { error };
      return;
    }
    this.#terminated(c, ref, error);
  }

  #terminated(c: Cell | undefined, ref: RefData, error: Error | undefined): void {
    // Drop the tombstone, but never a newer actor that took the path meanwhile.
    const cells = this.#host.cells;
    if (c !== undefined && cells.get(ref.path) === c) cells.delete(ref.path);
    this.#watches.notifyWatchers(ref, error);
  }

  /** `thread` died: parents here learn that their children there crashed. */
  childrenDied(thread: string, error: Error): void {
    for (const cell of this.#host.cells.values()) {
      for (const kid of [...cell.kids.values()]) {
        if (kid.ref.thread === thread) cell.childFailed(kid.ref.path, error, kid.spec.incarnation);
      }
    }
  }

  rootEscalated(err: Error): void {
    this.#hooks.rootEscalated(err);
  }

  forceKill(ref: RefData): void {
    if (ref.thread === this.#host.thread) this.#host.cells.get(ref.path)?.kill();
    else this.#hooks.forceKill(ref);
  }
}
