// A one-way shared-memory channel between two threads: frames in a ring of
// bytes in a SharedArrayBuffer, one writer and one reader.
//
// Why: a postMessage costs each side about 5 µs of serialization, a queue
// under a mutex and an event dispatch, which dominated a cross-worker ask.
// Here the writer copies the batch's bytes into the ring and publishes the
// new write index; the reader is woken by Atomics.waitAsync, so neither
// event loop ever blocks. The writer only calls Atomics.notify when the
// reader said it was about to sleep, so a burst costs no wake-ups.
//
// Frames carry the link's batch sequence number. A batch that cannot go
// through the ring (it holds structured-cloned side values, it is too large,
// or the ring is full) travels on the link's MessagePort with its number,
// and the reader (InLink) puts both streams back in order: the codec's
// string and shape tables depend on batch order.

/** Int32 slots of the header. Writer- and reader-owned words sit on different cache lines. */
const W = 0; // write index (bytes, wrapping at 2^32), written by the writer
const SLEEP = 1; // 1 while the reader waits (or is about to) for W to move
const R = 16; // read index, written by the reader
const CLOSED = 17; // 1 once either side has closed the ring
const HEADER_BYTES = 128;
/** Frame header: payload length and batch sequence number, each a 32-bit word. */
const FRAME_HEADER = 8;

/** Ring size in bytes per direction (a power of two). Rings exist only between threads that talk. */
export const RING_BYTES = 256 * 1024;
/** A batch larger than this goes through the port: one flood batch must not fill the ring. */
export const RING_MAX_FRAME = RING_BYTES / 4;

export function createRing(bytes: number = RING_BYTES): SharedArrayBuffer {
  if ((bytes & (bytes - 1)) !== 0 || bytes < 1024) throw new RangeError(`ring size must be a power of two >= 1024, got ${bytes}`);
  return new SharedArrayBuffer(HEADER_BYTES + bytes);
}

export function isRing(x: unknown): x is SharedArrayBuffer {
  return x instanceof SharedArrayBuffer && x.byteLength > HEADER_BYTES && ((x.byteLength - HEADER_BYTES) & (x.byteLength - HEADER_BYTES - 1)) === 0;
}

export class RingWriter {
  readonly #h: Int32Array;
  readonly #d8: Uint8Array;
  readonly #d32: Int32Array;
  readonly #cap: number;
  readonly #mask: number;
  #w = 0;

  constructor(sab: SharedArrayBuffer) {
    this.#h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.#cap = sab.byteLength - HEADER_BYTES;
    this.#mask = this.#cap - 1;
    this.#d8 = new Uint8Array(sab, HEADER_BYTES, this.#cap);
    this.#d32 = new Int32Array(sab, HEADER_BYTES, this.#cap / 4);
    this.#w = Atomics.load(this.#h, W);
  }

  /** Append one frame; false if it does not fit now (the caller sends it another way). */
  write(seq: number, src: Uint8Array, n: number): boolean {
    const need = FRAME_HEADER + ((n + 3) & ~3);
    if (need > RING_MAX_FRAME + FRAME_HEADER) return false;
    const h = this.#h;
    const w = this.#w;
    const used = (w - Atomics.load(h, R)) >>> 0;
    if (need > this.#cap - used) return false;
    const mask = this.#mask;
    // Frames are 4-byte aligned and the capacity is a power of two, so no header word straddles the end.
    const off = w & mask;
    this.#d32[off >>> 2] = n;
    this.#d32[((off + 4) & mask) >>> 2] = seq;
    const p = (off + FRAME_HEADER) & mask;
    const first = Math.min(n, this.#cap - p);
    this.#d8.set(first === n ? src.subarray(0, n) : src.subarray(0, first), p);
    if (first < n) this.#d8.set(src.subarray(first, n), 0);
    this.#w = (w + need) | 0;
    // Sequentially consistent: the bytes above are visible to whoever reads this index.
    Atomics.store(h, W, this.#w);
    if (Atomics.load(h, SLEEP) !== 0) Atomics.notify(h, W);
    return true;
  }

  close(): void {
    Atomics.store(this.#h, CLOSED, 1);
    Atomics.notify(this.#h, W);
  }
}

/**
 * What the reader hands each frame to; return false to stop before it (it is
 * read again after resume()). It must not throw: the frame would be read again.
 */
export type FrameSink = (seq: number, bytes: Uint8Array, n: number) => boolean;

/**
 * How long an idle reader polls before it sleeps, in ms. A reader that goes
 * to sleep costs its writer a wake-up (Atomics.notify: about 4-7 µs here, more
 * than the rest of an ask), and costs itself the kernel's wake-up latency.
 * When replies come back within a few µs (an ask, a request/response
 * exchange), polling briefly catches them with no wake-up at all. The poll is
 * short and runs between event-loop turns, so timers and I/O wait at most
 * this long.
 */
const POLL_MS = 0.02;
/**
 * Poll only when the last wait was short: a reader whose traffic is sporadic
 * sleeps at once and costs no CPU. (Waits this short would have been caught
 * by polling.)
 */
const POLL_IF_WOKEN_WITHIN_MS = 0.2;
/** Below this share of polls that found something, a reader stops polling (see RingReader#hits)... */
const MIN_POLL_HIT_RATE = 0.25;
/** ...except on every this many-th wake-up, to notice when polling pays again. */
const PROBE_EVERY = 16;

/** Atomics.pause (V8 13.3+; not yet in TypeScript's lib): a spin-wait hint to the CPU. */
const cpuPause: () => void = (Atomics as unknown as { pause: () => void }).pause;

/**
 * Readers of this thread waiting in a poll. One poll serves them all: a
 * reader polling alone would make a frame on another ring of the thread
 * wait out its poll.
 */
const polling = new Set<RingReader>();
let pollScheduled = false;

function schedulePoll(): void {
  if (pollScheduled) return;
  pollScheduled = true;
  // After this turn's microtasks: what the frames just read make actors send (the next ask…).
  setImmediate(pollOnce);
}

function pollOnce(): void {
  pollScheduled = false;
  const deadline = performance.now() + POLL_MS;
  for (;;) {
    let read = false;
    for (const r of polling) if (r.ready()) read = true;
    if (read || polling.size === 0) {
      // What was read runs on this turn's microtasks; keep polling after them.
      if (polling.size > 0) schedulePoll();
      return;
    }
    if (performance.now() > deadline) break;
    cpuPause();
  }
  const idle = [...polling];
  polling.clear();
  for (const r of idle) r.sleepNow();
}

export class RingReader {
  readonly #h: Int32Array;
  readonly #d8: Uint8Array;
  readonly #d32: Int32Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #sink: FrameSink;
  #r = 0;
  #scratch = new Uint8Array(16 * 1024);
  /** 'busy' while reading, 'polling' in the thread's poll set, 'sleeping' in waitAsync. */
  #state: 'busy' | 'polling' | 'sleeping' = 'busy';
  /** Whether to poll before sleeping (see POLL_IF_WOKEN_WITHIN_MS). */
  #poll = true;
  #sleptAt = 0;
  /**
   * Moving average of polls that found something. On a machine with fewer
   * free cores than busy threads a poll cannot succeed (the writer waits for
   * our core), so polling must stop there rather than burn it; a one-off miss
   * (a GC pause, a preemption) must not stop it, or both ends of an exchange
   * fall back to wake-ups together.
   */
  #hits = 1;
  #wakes = 0;
  /** The sink refused a frame: stay put until resume(). */
  #held = false;
  #closed = false;

  constructor(sab: SharedArrayBuffer, sink: FrameSink) {
    this.#h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.#cap = sab.byteLength - HEADER_BYTES;
    this.#mask = this.#cap - 1;
    this.#d8 = new Uint8Array(sab, HEADER_BYTES, this.#cap);
    this.#d32 = new Int32Array(sab, HEADER_BYTES, this.#cap / 4);
    this.#sink = sink;
    this.#r = Atomics.load(this.#h, R);
  }

  /** Read what is there, then wait for more without blocking the event loop. */
  start(): void {
    this.#pump();
  }

  /** After the sink refused a frame: try again (the missing batch has come by port). */
  resume(): void {
    this.#held = false;
    // Sleeping: the armed waitAsync fires once W moves. Polling: the poll reads it.
    if (this.#state === 'busy') this.#pump();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    polling.delete(this);
    Atomics.store(this.#h, CLOSED, 1);
    // Wakes our own pending waitAsync, so nothing stays parked on a dead ring.
    Atomics.notify(this.#h, W);
  }

  /** For the poll: read if there is something; true if something was read. */
  ready(): boolean {
    if (this.#isClosed()) return false;
    if (Atomics.load(this.#h, W) === this.#r) return false;
    this.#hits += (1 - this.#hits) / 8;
    this.#drain();
    if (this.#held) {
      polling.delete(this);
      this.#state = 'busy';
    }
    return true;
  }

  /** For the poll: it found nothing in time. */
  sleepNow(): void {
    this.#hits -= this.#hits / 8;
    this.#poll = false;
    this.#sleep();
  }

  #pump(): void {
    this.#state = 'busy';
    if (this.#isClosed()) return;
    this.#drain();
    if (this.#held) return;
    if (this.#poll) {
      this.#state = 'polling';
      polling.add(this);
      schedulePoll();
    } else this.#sleep();
  }

  #sleep(): void {
    const h = this.#h;
    for (;;) {
      if (this.#isClosed()) return;
      // Say we are going to sleep, then look once more: a writer that published
      // before seeing the flag is caught by this second look.
      Atomics.store(h, SLEEP, 1);
      const w = Atomics.load(h, W);
      if (w !== this.#r) {
        Atomics.store(h, SLEEP, 0);
        this.#drain();
        if (this.#held) {
          this.#state = 'busy';
          return;
        }
        continue;
      }
      const res = Atomics.waitAsync(h, W, w);
      if (!res.async) {
        Atomics.store(h, SLEEP, 0);
        continue;
      }
      this.#state = 'sleeping';
      this.#sleptAt = performance.now();
      void res.value.then(this.#woken);
      return;
    }
  }

  #woken = (): void => {
    Atomics.store(this.#h, SLEEP, 0);
    const pays = this.#hits >= MIN_POLL_HIT_RATE || ++this.#wakes % PROBE_EVERY === 0;
    this.#poll = pays && performance.now() - this.#sleptAt < POLL_IF_WOKEN_WITHIN_MS;
    this.#pump();
  };

  #isClosed(): boolean {
    if (!this.#closed) {
      if (Atomics.load(this.#h, CLOSED) === 0) return false;
      // The writer closed it: what it wrote before is still read.
      this.#closed = true;
      this.#drain();
    }
    this.#state = 'busy';
    polling.delete(this);
    return true;
  }

  #drain(): void {
    const h = this.#h;
    const mask = this.#mask;
    const w = Atomics.load(h, W);
    let r = this.#r;
    while (r !== w) {
      const off = r & mask;
      const n = this.#d32[off >>> 2]!;
      const seq = this.#d32[((off + 4) & mask) >>> 2]!;
      // Decoders cannot read shared memory (TextDecoder refuses it): copy the payload out.
      if (n > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(n, this.#scratch.length * 2));
      const p = (off + FRAME_HEADER) & mask;
      const first = Math.min(n, this.#cap - p);
      this.#scratch.set(this.#d8.subarray(p, p + first), 0);
      if (first < n) this.#scratch.set(this.#d8.subarray(0, n - first), first);
      if (!this.#sink(seq, this.#scratch, n)) {
        this.#held = true;
        break;
      }
      r = (r + FRAME_HEADER + ((n + 3) & ~3)) | 0;
      this.#r = r;
      Atomics.store(h, R, r);
    }
  }
}
