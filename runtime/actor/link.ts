// A link to another thread: batches of wire items encoded with the binary
// codec and transferred (not cloned) through a MessagePort.
//
// Items are encoded as they are sent, straight into the link's buffer (no
// Envelope or item objects on the sending side), and the batch is sent on
// the next microtask or once it holds MAX items: through a shared-memory ring
// (ring.ts) when it can, else on the port. Envelopes are written
// positionally behind one header byte whose flags elide what repeats in a
// burst: the same target as the previous envelope, the same cause (the
// message being handled), ids as deltas.
import { Buffer } from 'node:buffer';
import { Encoder, Decoder, type EncoderMark, type EncodedBatch, type RefLike } from './codec.ts';
import type { Envelope, SysMsg, WireItem } from './wire.ts';
import type { SerializedError } from './errors.ts';
import { RingWriter, createRing } from './ring.ts';

// Header byte: low two bits are the item kind; for envelopes the high bits are flags.
const ITEM_ENV = 0;
const ITEM_OK = 1;
const ITEM_ERR = 2;
const ITEM_SYS = 3;
/** Same `to` as the previous envelope of the batch. */
const F_SAME_TO = 1 << 2;
/** id is the previous envelope's id plus a varint delta. */
const F_ID_DELTA = 1 << 3;
/** A fresh message: corr = id, cause = 0, no from. */
const F_FRESH = 1 << 4;
/** Same corr, cause and from as the previous envelope (a burst sent while handling one message). */
const F_SAME_CAUSE = 1 << 5;
/** ask id and asker thread follow. */
const F_ASK = 1 << 6;
/** offer id and asker thread follow. */
const F_OFFER = 1 << 7;

export interface PortLike {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
}

/**
 * What goes over the port. The bytes of a batch travel as a one-byte (latin1)
 * string: cloning a string is a plain copy, measurably cheaper per
 * postMessage than transferring or cloning an ArrayBuffer (which is what
 * small batches — asks and replies — pay on every round trip). A batch is
 * that bare string; only one with side values (which the codec does not
 * model) is wrapped, `$b` marking it (vs. port introductions and plain
 * item arrays). Once a link has a ring, its batches are numbered (`q`) so
 * the receiver can merge the ones that still come by port (see in-link.ts);
 * the first numbered batch brings the ring.
 */
export type WireBatch = string | { $b: 1; s: string; ext?: unknown[]; q?: number; ring?: SharedArrayBuffer };

export function isWireBatch(x: unknown): x is WireBatch {
  return typeof x === 'string' || (typeof x === 'object' && x !== null && (x as { $b?: unknown }).$b === 1 && typeof (x as { s?: unknown }).s === 'string');
}

let scratch = Buffer.allocUnsafe(64 * 1024);
let scratchView = new Uint8Array(scratch.buffer, scratch.byteOffset, scratch.length);

/**
 * Decode a received batch, handing each item to `sink` as soon as it is read.
 * Its bytes go into a scratch buffer reused by every batch of the thread
 * (batches are decoded at once; the decoder copies whatever it keeps).
 */
export function readWire(dec: Decoder, w: WireBatch, sink: BatchSink): void {
  const s = typeof w === 'string' ? w : w.s;
  const n = s.length;
  if (n > scratch.length || (scratch.length > 1 << 22 && n < 1 << 20)) {
    scratch = Buffer.allocUnsafe(Math.max(64 * 1024, n));
    // A plain Uint8Array view: Buffer#slice would share memory instead of copying.
    scratchView = new Uint8Array(scratch.buffer, scratch.byteOffset, scratch.length);
  }
  scratch.write(s, 0, n, 'latin1');
  dec.beginBytes(scratchView, n, typeof w === 'string' ? undefined : w.ext);
  readItems(dec, sink);
}

/** Decode a batch read from a ring (its first `n` bytes). */
export function readFrame(dec: Decoder, bytes: Uint8Array, n: number, sink: BatchSink): void {
  dec.beginBytes(bytes, n, undefined);
  readItems(dec, sink);
}

/** Where decoded items go. */
export interface BatchSink {
  deliver(env: Envelope): void;
  reply(id: number, ok: boolean, v: unknown): void;
  sys(s: SysMsg): void;
}

export class OutLink {
  readonly #port: PortLike;
  readonly #enc = new Encoder();
  /** Items in the batch being built. */
  count = 0;
  /** In the runtime's list of links to flush. */
  dirty = false;
  /** Encoder state when the batch began (to decode it locally if it can never be sent). */
  #begin: EncoderMark | null = null;
  #lastTo = '';
  #lastId = 0;
  #lastCorr = 0;
  #lastCause = 0;
  #lastFrom: string | undefined = undefined;
  /** A Buffer over the encoder's buffer, to turn a batch into a string without copying it first. */
  #view: Buffer | null = null;
  #viewOf: Uint8Array | null = null;

  /** Set once the first batch has offered the receiver a ring. */
  #ring: RingWriter | null = null;
  /** Whether to set up a ring on the next flush (the port can carry a SharedArrayBuffer). */
  #wantRing: boolean;
  /** Number of the last numbered batch. */
  #seq = 0;

  constructor(port: PortLike, opts?: { ring?: boolean }) {
    this.#port = port;
    this.#wantRing = opts?.ring ?? false;
  }

  /** The receiver is gone: let go of the ring. */
  close(): void {
    this.#ring?.close();
    this.#ring = null;
    this.#wantRing = false;
  }

  /** Encoder state before the item being written (to undo it if a value cannot be encoded). */
  #itemPos = 0;
  #itemStrings = 0;
  #itemShapes = 0;

  /** Begin an item: start a batch if none, and remember where the item starts. */
  #openItem(): void {
    if (this.count === 0) this.#start();
    const enc = this.#enc;
    this.#itemPos = enc.size;
    this.#itemStrings = enc.stringCount;
    this.#itemShapes = enc.shapeCount;
  }

  /** A value could not be encoded (a throwing getter…): leave the batch as it was before the item. */
  #undoItem(): void {
    this.#enc.rollbackTo(this.#itemPos, this.#itemStrings, this.#itemShapes);
  }

  #start(): void {
    this.#enc.begin();
    this.#begin = this.#enc.mark();
    this.#lastTo = '';
    this.#lastId = 0;
    this.#lastCorr = -1;
    this.#lastCause = -1;
    this.#lastFrom = undefined;
  }

  envelope(to: string, msg: unknown, id: number, corr: number, cause: number, from: string | undefined, ask: number | undefined, askThread: string | undefined, offer: number | undefined): void {
    this.#openItem();
    const enc = this.#enc;
    try {
      let h = ITEM_ENV;
      if (to === this.#lastTo) h |= F_SAME_TO;
      const delta = id - this.#lastId;
      if (delta > 0 && delta < 0x4000_0000) h |= F_ID_DELTA;
      if (corr === id && cause === 0 && from === undefined) h |= F_FRESH;
      else if (corr === this.#lastCorr && cause === this.#lastCause && from === this.#lastFrom) h |= F_SAME_CAUSE;
      if (ask !== undefined) h |= F_ASK;
      if (offer !== undefined) h |= F_OFFER;
      enc.byte(h);
      if ((h & F_SAME_TO) === 0) enc.string(to);
      if ((h & F_ID_DELTA) !== 0) enc.uint(delta);
      else enc.number(id);
      if ((h & (F_FRESH | F_SAME_CAUSE)) === 0) {
        enc.number(corr);
        enc.number(cause);
        enc.write(from);
      }
      if (ask !== undefined) {
        enc.number(ask);
        enc.string(askThread!);
      }
      if (offer !== undefined) {
        enc.number(offer);
        enc.string(askThread!);
      }
      enc.write(msg);
    } catch (e) {
      this.#undoItem();
      throw e;
    }
    this.#lastTo = to;
    this.#lastId = id;
    if ((corr !== id || cause !== 0 || from !== undefined)) {
      this.#lastCorr = corr;
      this.#lastCause = cause;
      this.#lastFrom = from;
    }
    this.count++;
  }

  reply(id: number, ok: boolean, v: unknown): void {
    this.#openItem();
    const enc = this.#enc;
    try {
      enc.byte(ok ? ITEM_OK : ITEM_ERR);
      enc.number(id);
      enc.write(v);
    } catch (e) {
      this.#undoItem();
      throw e;
    }
    this.count++;
  }

  sys(s: SysMsg): void {
    this.#openItem();
    const enc = this.#enc;
    try {
      enc.byte(ITEM_SYS);
      enc.write(s);
    } catch (e) {
      this.#undoItem();
      throw e;
    }
    this.count++;
  }

  item(it: WireItem): void {
    if (it.t === 'e') {
      const e = it.e;
      this.envelope(e.to, e.msg, e.id, e.corr, e.cause, e.from, e.ask, e.askThread, e.offer);
    } else if (it.t === 'r') this.reply(it.id, it.ok, it.ok ? it.v : it.err);
    else this.sys(it.s);
  }

  /** Encode and send items at once. */
  post(items: WireItem[]): void {
    for (let i = 0; i < items.length; i++) this.item(items[i]!);
    this.flush();
  }

  /** Send the batch being built, if any. */
  flush(): void {
    if (this.count === 0) return;
    this.count = 0;
    const enc = this.#enc;
    const ext = enc.ext;
    if (this.#ring !== null) {
      const q = (this.#seq = (this.#seq + 1) | 0);
      if (ext === null && this.#ring.write(q, enc.buffer, enc.size)) return;
      // Side values, too large, or the ring is full: by port, numbered.
      this.#port.postMessage(ext !== null ? { $b: 1, s: this.#latin1(), ext, q } : { $b: 1, s: this.#latin1(), q });
      return;
    }
    if (this.#wantRing) {
      this.#wantRing = false;
      const ring = createRing();
      this.#ring = new RingWriter(ring);
      const q = (this.#seq = (this.#seq + 1) | 0);
      this.#port.postMessage(ext !== null ? { $b: 1, s: this.#latin1(), ext, q, ring } : { $b: 1, s: this.#latin1(), q, ring });
      return;
    }
    const s = this.#latin1();
    this.#port.postMessage(ext !== null ? { $b: 1, s, ext } : s);
  }

  /** The batch's bytes as a one-byte string. */
  #latin1(): string {
    const buf = this.#enc.buffer;
    if (this.#viewOf !== buf) {
      this.#viewOf = buf;
      this.#view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    }
    return this.#view!.toString('latin1', 0, this.#enc.size);
  }

  /** The batch being built, as items, and forget it (its thread is gone). */
  takePending(makeRef: (r: RefLike) => unknown): WireItem[] {
    if (this.count === 0) return [];
    this.count = 0;
    const b = this.#enc.finish();
    const dec = new Decoder(makeRef, this.#enc.tables(this.#begin!));
    const out: WireItem[] = [];
    readBatch(dec, b, {
      deliver: (e) => out.push({ t: 'e', e }),
      reply: (id, ok, v) => out.push(ok ? { t: 'r', id, ok: true, v } : { t: 'r', id, ok: false, err: v as SerializedError }),
      sys: (s) => out.push({ t: 's', s }),
    });
    return out;
  }
}

/** Decode a batch, handing each item to `sink` as soon as it is read. */
export function readBatch(dec: Decoder, batch: EncodedBatch, sink: BatchSink): void {
  dec.begin(batch);
  readItems(dec, sink);
}

function readItems(dec: Decoder, sink: BatchSink): void {
  let lastTo = '';
  let lastId = 0;
  let lastCorr = 0;
  let lastCause = 0;
  let lastFrom: string | undefined = undefined;
  while (!dec.atEnd) {
    const h = dec.byte();
    const kind = h & 3;
    if (kind === ITEM_ENV) {
      const to = (h & F_SAME_TO) !== 0 ? lastTo : (dec.read() as string);
      if (typeof to !== 'string') throw new Error('codec: envelope without a target');
      const id = (h & F_ID_DELTA) !== 0 ? lastId + dec.uint() : (dec.read() as number);
      let corr: number;
      let cause: number;
      let from: string | undefined;
      if ((h & F_FRESH) !== 0) {
        corr = id;
        cause = 0;
        from = undefined;
      } else if ((h & F_SAME_CAUSE) !== 0) {
        corr = lastCorr;
        cause = lastCause;
        from = lastFrom;
      } else {
        corr = dec.read() as number;
        cause = dec.read() as number;
        from = dec.read() as string | undefined;
        lastCorr = corr;
        lastCause = cause;
        lastFrom = from;
      }
      let ask: number | undefined;
      let offer: number | undefined;
      let askThread: string | undefined;
      if ((h & F_ASK) !== 0) {
        ask = dec.read() as number;
        askThread = dec.read() as string;
      }
      if ((h & F_OFFER) !== 0) {
        offer = dec.read() as number;
        askThread = dec.read() as string;
      }
      const msg = dec.read();
      lastTo = to;
      lastId = id;
      const env: Envelope = from === undefined ? { to, msg, id, corr, cause } : { to, msg, id, corr, cause, from };
      if (askThread !== undefined) {
        if (ask !== undefined) env.ask = ask;
        if (offer !== undefined) env.offer = offer;
        env.askThread = askThread;
      }
      sink.deliver(env);
    } else if (kind === ITEM_OK) {
      const id = dec.read() as number;
      sink.reply(id, true, dec.read());
    } else if (kind === ITEM_ERR) {
      const id = dec.read() as number;
      sink.reply(id, false, dec.read());
    } else {
      sink.sys(dec.read() as SysMsg);
    }
  }
}

export function makeDecoder(makeRef: (r: RefLike) => unknown): Decoder {
  return new Decoder(makeRef);
}
