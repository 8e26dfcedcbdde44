// Death watch (Akka's DeathWatch): who watches each actor of this thread
// (the target's side), what each actor of this thread watches (the
// watcher's side), and Terminated — or ChildFailed, for a watcher's own
// child — when a watched actor ends for good. A watch on an actor whose
// parent lives in another thread is also kept by that parent (see
// 'watchedBy'), so it survives the death of the actor's worker when the
// actor is restarted elsewhere.
import type { ActorRef } from './types.ts';
import type { Cell } from './cell.ts';
import type { Links } from './links.ts';
import type { RefData, SysMsg } from './wire.ts';
import { deserializeError, serializeError } from './errors.ts';
import { parentPath } from './ref.ts';

/** What watches need of the thread's runtime (ThreadRuntime). */
export interface WatchHost {
  readonly thread: string;
  readonly cells: ReadonlyMap<string, Cell>;
  sendSys(thread: string, s: SysMsg): void;
  refFor<M>(d: RefData): ActorRef<M>;
}

type WatchMsg = Extract<SysMsg, { k: 'watch' | 'unwatch' | 'watchHeld' | 'terminated' }>;

export class Watches {
  readonly #host: WatchHost;
  readonly #links: Links;
  /** Target side: who watches each local path. */
  readonly #watchers = new Map<string, Map<string, RefData>>();
  /**
   * Watcher side: targets each local actor watches (so a dead worker still
   * yields Terminated, and a Terminated after unwatch or after the watcher
   * stopped is dropped).
   */
  readonly #watching = new Map<string, Map<string, RefData>>();
  /**
   * Watcher side: the thread of the target's parent, for watches that parent
   * keeps a copy of (key: watcher path, NUL, target path). When the target's
   * worker dies, such a watch waits for the parent's decision: carried over
   * to the restarted actor, or Terminated if it is gone for good.
   */
  readonly #heldBy = new Map<string, string>();

  constructor(host: WatchHost, links: Links) {
    this.#host = host;
    this.#links = links;
  }

  // ---- the watcher's side ------------------------------------------------------

  watch(watcher: string, target: ActorRef<never>): void {
    const t = target as unknown as RefData;
    const host = this.#host;
    const w: RefData = { $ref: 1, path: watcher, thread: host.thread };
    let m = this.#watching.get(watcher);
    if (!m) this.#watching.set(watcher, (m = new Map()));
    m.set(t.path, { $ref: 1, path: t.path, thread: t.thread });
    const dead = this.#links.deadError(t.thread);
    if (dead !== undefined) {
      // Watching an actor on a dead worker: Terminated at once.
      host.sendSys(host.thread, { k: 'terminated', watcher, target: { $ref: 1, path: t.path, thread: t.thread }, error: serializeError(dead) });
      return;
    }
    host.sendSys(t.thread, { k: 'watch', target: t.path, watcher: w });
  }

  unwatch(watcher: string, target: ActorRef<never>): void {
    const t = target as unknown as RefData;
    const host = this.#host;
    this.#watching.get(watcher)?.delete(t.path);
    this.#heldBy.delete(`${watcher}\0${t.path}`);
    host.sendSys(t.thread, { k: 'unwatch', target: t.path, watcher: { $ref: 1, path: watcher, thread: host.thread } });
  }

  /** The actor at `path` stopped: what it watched is no longer its business (nor a later actor's at this path). */
  stopWatching(path: string): void {
    const targets = this.#watching.get(path);
    if (targets !== undefined) for (const t of targets.keys()) this.#heldBy.delete(`${path}\0${t}`);
    this.#watching.delete(path);
  }

  // ---- the target's side -------------------------------------------------------

  /** Watchers kept by the parent of a restarted actor: carried over if this thread lost them with a dead worker. */
  carryOver(path: string, watchers: RefData[]): void {
    let m = this.#watchers.get(path);
    if (!m) this.#watchers.set(path, (m = new Map()));
    for (const w of watchers) m.set(`${w.thread}|${w.path}`, w);
  }

  /** The actor `ref` of this thread ended for good: tell its watchers. */
  notifyWatchers(ref: RefData, error: Error | undefined): void {
    const ws = this.#watchers.get(ref.path);
    if (!ws) return;
    this.#watchers.delete(ref.path);
    for (const w of ws.values()) {
      this.#host.sendSys(w.thread, { k: 'terminated', watcher: w.path, target: ref, ...(error ? { error: serializeError(error) } : {}) });
    }
  }

  // ---- system messages ---------------------------------------------------------

  /** 'terminated' with an empty watcher is not a watch message: the runtime handles it. */
  handleSys(s: WatchMsg): void {
    const host = this.#host;
    switch (s.k) {
      case 'watch': {
        const c = host.cells.get(s.target);
        if (!c) {
          host.sendSys(s.watcher.thread, { k: 'terminated', watcher: s.watcher.path, target: { $ref: 1, path: s.target, thread: host.thread } });
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
        const c = host.cells.get(s.target);
        if (c) this.#tellParentOfWatch(c, s.watcher, false);
        return;
      }
      case 'watchHeld':
        if (this.#watching.get(s.watcher)?.has(s.target.path)) this.#heldBy.set(`${s.watcher}\0${s.target.path}`, s.holder);
        return;
      case 'terminated':
        // Only if still watched: none after unwatch, none for a watcher that stopped.
        if (!this.#watching.get(s.watcher)?.delete(s.target.path)) return;
        this.#heldBy.delete(`${s.watcher}\0${s.target.path}`);
        this.#signalTerminated(s.watcher, s.target, s.error ? deserializeError(s.error) : undefined);
        return;
    }
  }

  // ---- the death of a thread ---------------------------------------------------

  /** Its actors watched ours: those watches died with it. */
  dropWatchersOn(thread: string): void {
    for (const [target, ws] of this.#watchers) {
      for (const [k, w] of ws) if (w.thread === thread) ws.delete(k);
      if (ws.size === 0) this.#watchers.delete(target);
    }
  }

  /** Our actors watched its actors (or watches kept by parents there): Terminated, unless a parent still decides. */
  endWatchesOn(thread: string, died: Error): void {
    const links = this.#links;
    for (const [watcher, targets] of this.#watching) {
      for (const [path, ref] of targets) {
        const key = `${watcher}\0${path}`;
        const holder = this.#heldBy.get(key);
        if (ref.thread === thread) {
          // Its parent lives elsewhere and keeps this watch: it restarts the actor
          // (the watch carries over, as for any restart) or says it is gone.
          if (holder !== undefined && !links.isDead(holder)) continue;
        } else if (holder !== thread || !links.isDead(ref.thread)) continue; // else: the keeper of a watch on a dead worker's actor died too
        targets.delete(path);
        this.#heldBy.delete(key);
        this.#signalTerminated(watcher, ref, died);
      }
    }
  }

  /** Terminated for a watcher, or ChildFailed when a parent's watched child failed (Akka's rule). */
  #signalTerminated(watcher: string, target: RefData, error: Error | undefined): void {
    const c = this.#host.cells.get(watcher);
    if (!c) return;
    const ref = this.#host.refFor<never>(target);
    if (error === undefined) c.signal({ signal: 'Terminated', ref });
    else if (parentPath(target.path) === watcher) c.signal({ signal: 'ChildFailed', ref, error });
    else c.signal({ signal: 'Terminated', ref, error });
  }

  /** Watches of an actor whose parent is on another thread are copied to the parent (see 'watchedBy'). */
  #tellParentOfWatch(c: Cell, watcher: RefData, add: boolean): void {
    const p = c.spec.parent;
    if (p === null || p.thread === this.#host.thread) return;
    this.#host.sendSys(p.thread, { k: 'watchedBy', parent: p.path, child: c.path, watcher, add });
  }
}
