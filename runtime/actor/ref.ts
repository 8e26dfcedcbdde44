// Actor refs: the concrete ActorRef (a path and a thread, bound to the
// runtime of the thread that holds it), turning ref data inside a received
// message back into refs, and the path arithmetic of the actor tree.
import type { ActorRef, AskOptions, ReplyTo } from './types.ts';
import type { RefData } from './wire.ts';

/** What a ref needs of the runtime of its thread (ThreadRuntime). */
export interface RefHost {
  send(to: RefData, msg: unknown): void;
  ask<R>(to: RefData, make: (r: ReplyTo<R>) => unknown, opts: AskOptions | undefined): Promise<R>;
  offer(to: RefData, msg: unknown): Promise<void>;
}

/** The concrete ActorRef: path + thread, bound to the runtime of the thread it is used in. */
export class Ref<M> implements ActorRef<M> {
  readonly $ref = 1 as const;
  readonly path: string;
  readonly thread: string;
  readonly #rt: RefHost;
  constructor(rt: RefHost, path: string, thread: string) {
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

/**
 * Turn ref data inside a structured-cloned message back into live refs
 * (top-level fields and arrays). Encoded batches need none of this: their
 * decoder rebuilds refs at any depth.
 */
export function reviveRefs(msg: unknown, makeRef: (d: RefData) => unknown): void {
  if (typeof msg !== 'object' || msg === null) return;
  const o = msg as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v !== 'object' || v === null) continue;
    if ((v as RefData).$ref === 1) o[k] = makeRef(v as RefData);
    else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'object' && x !== null && (x as RefData).$ref === 1) v[i] = makeRef(x as RefData);
      }
    }
  }
}

/** `/user/a/b` → `/user/a`. */
export function parentPath(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** `/user/a/b` → `b`: a child's name under its parent. */
export function lastSegment(path: string): string {
  const i = path.lastIndexOf('/');
  return path.slice(i + 1);
}
