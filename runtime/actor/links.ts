// This thread's links to the other threads: one OutLink per peer (link.ts:
// the wire format), the batch being built on each and its flush on the next
// microtask, an outbox for peers with no link yet, the receiving ends
// (in-link.ts), and which peers are known to have died.
import { OutLink, readWire, readFrame, isWireBatch, makeDecoder, type BatchSink, type PortLike, type WireBatch } from './link.ts';
import { InLink } from './in-link.ts';
import type { Delivery } from './delivery.ts';
import type { RefData, WireItem } from './wire.ts';
import type { Placement } from './types.ts';
import { toError } from './errors.ts';
import type { Env } from '../env/env.ts';

/** Items per postMessage; a larger burst is split. */
const MAX_BATCH = 2048;

/** What links need of the thread's shell (part of RuntimeHooks). */
export interface LinkHooks {
  /** Make sure a worker exists (items wait for its link). */
  ensureWorker(worker: string, limits: Placement & { worker: string }): void;
  log(level: string, path: string, msg: string, fields?: Record<string, unknown>): void;
}

export class Links {
  readonly #env: Env;
  readonly #delivery: Delivery;
  /** Receives decoded items. */
  readonly #sink: BatchSink;
  readonly #makeRef: (r: RefData) => unknown;
  readonly #hooks: LinkHooks;
  readonly #links = new Map<string, OutLink>();
  /** One-entry cache of #links (a burst goes to one thread); cleared whenever #links changes. */
  #lastThread: string | null = null;
  #lastLink: OutLink | undefined = undefined;
  /** Receiving ends of links, by sending thread. */
  readonly #inLinks = new Map<string, InLink>();
  /** Items for threads without a link yet (or dead), flushed like batches. */
  readonly #outbox = new Map<string, WireItem[]>();
  /** Links with a batch being built. */
  #dirty: OutLink[] = [];
  #flushScheduled = false;
  /** Items for threads we have no port to yet. */
  readonly #waiting = new Map<string, WireItem[]>();
  /**
   * Worker threads known to have died and not (yet) recreated. Items for them
   * are failed here instead of waiting for a link: before, the first reply or
   * Terminated addressed to a dead worker silently re-created an empty worker.
   */
  readonly #dead = new Map<string, Error>();

  constructor(opts: { env: Env; delivery: Delivery; sink: BatchSink; makeRef: (r: RefData) => unknown; hooks: LinkHooks }) {
    this.#env = opts.env;
    this.#delivery = opts.delivery;
    this.#sink = opts.sink;
    this.#makeRef = opts.makeRef;
    this.#hooks = opts.hooks;
  }

  // ---- peers ---------------------------------------------------------------------

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
  close(thread: string): void {
    this.#links.get(thread)?.close();
    this.#links.delete(thread);
    this.#lastThread = null;
    this.#inLinks.get(thread)?.close();
    this.#inLinks.delete(thread);
  }

  has(thread: string): boolean {
    return this.#links.has(thread);
  }

  /** Why `thread` is gone, if it died and has not been recreated. */
  deadError(thread: string): Error | undefined {
    return this.#dead.get(thread);
  }

  isDead(thread: string): boolean {
    return this.#dead.has(thread);
  }

  /** An actor is being started on `thread`: the one reason to bring a dead worker back. */
  revive(thread: string): void {
    this.#dead.delete(thread);
  }

  /** `thread` died (`died` says why): drop its links and return what was on its way there. */
  threadDied(thread: string, died: Error): WireItem[] {
    const link = this.#links.get(thread);
    this.#links.delete(thread);
    link?.close();
    this.#inLinks.get(thread)?.close();
    this.#inLinks.delete(thread);
    this.#lastThread = null;
    this.#dead.set(thread, died);
    const pending = link !== undefined ? link.takePending(this.#makeRef) : [];
    const unsent = [...(this.#waiting.get(thread) ?? []), ...pending, ...(this.#outbox.get(thread) ?? [])];
    this.#outbox.delete(thread);
    this.#waiting.delete(thread);
    return unsent;
  }

  // ---- sending -------------------------------------------------------------------

  linkTo(thread: string): OutLink | undefined {
    if (thread === this.#lastThread) return this.#lastLink;
    const link = this.#links.get(thread);
    this.#lastThread = thread;
    this.#lastLink = link;
    return link;
  }

  enqueue(thread: string, item: WireItem): void {
    const link = this.linkTo(thread);
    if (link !== undefined) {
      link.item(item);
      this.queued(link);
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
  queued(link: OutLink): void {
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
    this.#env.schedule(this.#flush);
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
      this.queued(link);
      return;
    }
    const dead = this.#dead.get(thread);
    if (dead !== undefined) {
      this.#delivery.undeliverable(items, dead);
      return;
    }
    let w = this.#waiting.get(thread);
    if (!w) this.#waiting.set(thread, (w = []));
    for (const it of items) w.push(it);
    if (thread.startsWith('w:')) this.#hooks.ensureWorker(thread.slice(2), { worker: thread.slice(2) });
  }

  // ---- receiving -----------------------------------------------------------------

  /** An encoded batch arrived from thread `from` (refs are rebuilt by the decoder). */
  receive(from: string, data: unknown): void {
    if (!isWireBatch(data)) return;
    let link = this.#inLinks.get(from);
    if (link === undefined) this.#inLinks.set(from, (link = this.#makeInLink(from)));
    link.fromPort(data);
  }

  #makeInLink(from: string): InLink {
    const dec = makeDecoder(this.#makeRef);
    const delivery = this.#delivery;
    const sink = this.#sink;
    return new InLink({
      port: (w: WireBatch) => {
        delivery.beginBatch();
        try {
          readWire(dec, w, sink);
        } finally {
          delivery.endBatch();
        }
      },
      frame: (bytes: Uint8Array, n: number) => {
        delivery.beginBatch();
        try {
          readFrame(dec, bytes, n, sink);
        } finally {
          delivery.endBatch();
        }
      },
      failed: (e: unknown) => {
        const err = toError(e);
        if (!err.message.startsWith('codec:')) {
          // Not the batch's fault: a bug of ours, which must not pass silently.
          this.#env.schedule(() => {
            throw e;
          });
          return;
        }
        // Threads of one process share our code, so this is a bug, not an attack: say so loudly.
        this.#hooks.log('error', '/', `undecodable batch from ${from}: ${err.message}`);
      },
    });
  }
}
