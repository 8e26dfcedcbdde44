// Starting actors: a spawn spec from a behaviour and its options, the choice
// of thread (this one, or a worker by placement, brought up if need be),
// and the start of a cell here — at once for a local behaviour, after
// loading its module for a worker placement, after the old incarnation's
// PreRestart for a restart.
import type { ActorRef, Behavior, BehaviorFactory, Placement, SpawnOptions } from './types.ts';
import type { RefData, SpawnSpec } from './wire.ts';
import { Cell, type CellHost } from './cell.ts';
import type { Links, LinkHooks } from './links.ts';
import type { Watches } from './watches.ts';
import { Ref } from './ref.ts';
import { isFactory } from './behavior.ts';
import { SpawnError, toError } from './errors.ts';

/** Mailbox options of every actor spawned without any (shared: specs never change them). */
const DEFAULT_MAILBOX = Object.freeze({ capacity: 10_000, overflow: 'drop' as const });

/** What spawning needs of the thread's runtime (ThreadRuntime): it hosts the cells it makes. */
export interface SpawnHost extends CellHost {
  /** Worker placements run in this thread (the simulator's mode). */
  readonly inThreadOnly: boolean;
  readonly cells: Map<string, Cell>;
}

export class Spawner {
  readonly #host: SpawnHost;
  readonly #links: Links;
  readonly #watches: Watches;
  readonly #hooks: LinkHooks;
  /** Where each child placement lives, so a restart goes to the same worker. */
  readonly #placements = new Map<string, Placement>();

  constructor(host: SpawnHost, links: Links, watches: Watches, hooks: LinkHooks) {
    this.#host = host;
    this.#links = links;
    this.#watches = watches;
    this.#hooks = hooks;
  }

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
    const inThreadOnly = this.#host.inThreadOnly;
    if (isFactory(behavior)) {
      if (worker && !inThreadOnly) {
        spec.module = behavior.module;
        spec.name = behavior.name;
        spec.args = opts.args;
      } else {
        spec.local = behavior.create(opts.args as never) as Behavior<unknown>;
      }
    } else {
      if (worker && !inThreadOnly) {
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
    const host = this.#host;
    let thread = host.thread;
    if (placement && 'worker' in placement && !host.inThreadOnly) {
      thread = `w:${placement.worker}`;
      this.#placements.set(spec.path, placement);
      // Starting an actor there is the one reason to bring a dead worker back.
      this.#links.revive(thread);
      if (!this.#links.has(thread)) this.#hooks.ensureWorker(placement.worker, placement);
    }
    const ws = watchers !== undefined && watchers.size > 0 ? [...watchers.values()] : undefined;
    if (thread === host.thread) this.spawnLocal(spec, restartedAfter, ws);
    else this.#links.enqueue(thread, { t: 's', s: ws ? { k: 'spawn', spec, watchers: ws } : { k: 'spawn', spec } });
    return { $ref: 1, path: spec.path, thread };
  }

  spawnLocal(spec: SpawnSpec, restartedAfter?: Error, watchers?: RefData[]): Cell {
    const host = this.#host;
    const cells = host.cells;
    const old = cells.get(spec.path);
    if (old && old.status !== 'crashed' && old.status !== 'stopped') {
      old.kill();
    }
    // A crashed incarnation being restarted cleans up first (an actor whose worker died has nothing to run it on).
    const cleanup = old !== undefined && old.status === 'crashed' && spec.incarnation > old.incarnation ? old.preRestart() : undefined;
    const cell = new Cell(host, spec, null);
    cells.set(spec.path, cell);
    if (watchers !== undefined) this.#watches.carryOver(spec.path, watchers);
    const bus = host.bus;
    if (bus.active) {
      bus.emit(spec.incarnation > 0 ? 'restarted' : 'spawned', spec.path, {
        incarnation: spec.incarnation,
        ...(restartedAfter ? { reason: restartedAfter.message } : {}),
      });
    }
    if (cleanup === undefined) this.#begin(cell, spec);
    else {
      host.env.settling?.(cleanup);
      void cleanup.then(() => {
        if (cells.get(spec.path) === cell && cell.status === 'starting') this.#begin(cell, spec);
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
        cell.crash(new SpawnError(`${spec.path}: behaviour is not available in thread ${this.#host.thread}`));
        return;
      }
      cell.start(b);
      return;
    }
    // A worker placement: load the behaviour's module, then start. Messages queue meanwhile.
    const cells = this.#host.cells;
    import(spec.module!).then(
      (mod: Record<string, unknown>) => {
        if (cells.get(spec.path) !== cell || cell.status !== 'starting') return;
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
        if (cells.get(spec.path) !== cell) return;
        cell.status = 'running';
        cell.crash(new SpawnError(`${spec.path}: cannot load ${spec.module}: ${toError(e).message}`, { cause: e }));
      },
    );
  }
}
