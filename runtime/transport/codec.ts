// A compact binary encoding for batches of cross-thread items.
//
// Why not structured clone? Cloning pays per object and per property name on
// every message; a burst of small messages spends most of its time there.
// This codec writes a whole batch into one buffer that is transferred (not
// copied) to the receiver, and interns strings per link — message `type`s,
// object keys and actor paths repeat constantly — so after the first use a
// string costs a few bytes. Values it does not model (Map, Date, class
// instances with prototypes, cycles…) travel in a side array that is
// structured-cloned as before, so nothing is lost, only slower.
//
// Each directed link owns one Encoder and the receiver one Decoder: postMessage
// keeps order per port, so both string tables stay in step.

const T_UNDEF = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_I32 = 4;
const T_F64 = 5;
const T_STR = 6; // literal, not interned
const T_STR_DEF = 7; // literal, and remember it under the next id
const T_STR_REF = 8; // an id remembered earlier
const T_ARR = 9;
const T_OBJ = 10;
const T_EXT = 11; // index into the side array
const T_BYTES = 12;
const T_REF = 13; // an actor ref: path, thread
const T_SMALL = 32; // 32..159: integers 0..127 in one byte

/** Strings longer than this are written literally (ids, payloads), shorter ones interned. */
const INTERN_MAX_LEN = 48;
/** Stop interning new strings past this many, so unique values cannot grow the tables forever. */
const INTERN_MAX_COUNT = 65_536;

export interface RefLike {
  $ref: 1;
  path: string;
  thread: string;
}

export interface EncodedBatch {
  bytes: Uint8Array;
  /** Values the codec does not model, structured-cloned alongside. */
  ext?: unknown[];
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export class Encoder {
  #buf = new Uint8Array(64 * 1024);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  #strings = new Map<string, number>();
  #ext: unknown[] | null = null;
  #depth = 0;

  /** Encode a list of values (the items of one batch). */
  encode(values: readonly unknown[]): EncodedBatch {
    this.begin();
    this.#uint(values.length);
    for (let i = 0; i < values.length; i++) this.#value(values[i]);
    return this.finish();
  }

  /** Start a batch written value by value (for callers with their own positional layout). */
  begin(): void {
    this.#pos = 0;
    this.#ext = null;
  }

  write(v: unknown): void {
    this.#value(v);
  }

  /** Number of bytes written so far in this batch. */
  get size(): number {
    return this.#pos;
  }

  finish(): EncodedBatch {
    // One copy into an exact-size buffer that the caller transfers.
    const bytes = this.#buf.slice(0, this.#pos);
    if (this.#buf.length > 1 << 22 && this.#pos < 1 << 20) this.#resize(64 * 1024); // give back a spike
    return this.#ext ? { bytes, ext: this.#ext } : { bytes };
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    this.#resize(size);
  }

  #resize(size: number): void {
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, Math.min(this.#pos, size)));
    this.#buf = next;
    this.#dv = new DataView(next.buffer);
  }

  #uint(n: number): void {
    // LEB128 varint for non-negative integers below 2^31.
    this.#ensure(5);
    const b = this.#buf;
    while (n >= 0x80) {
      b[this.#pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[this.#pos++] = n;
  }

  #value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        this.#number(v);
        return;
      case 'string':
        this.#string(v);
        return;
      case 'boolean':
        this.#ensure(1);
        this.#buf[this.#pos++] = v ? T_TRUE : T_FALSE;
        return;
      case 'undefined':
        this.#ensure(1);
        this.#buf[this.#pos++] = T_UNDEF;
        return;
      case 'object':
        if (v === null) {
          this.#ensure(1);
          this.#buf[this.#pos++] = T_NULL;
          return;
        }
        this.#object(v);
        return;
      default:
        this.#extern(v);
    }
  }

  #number(v: number): void {
    this.#ensure(9);
    const b = this.#buf;
    if ((v | 0) === v && v >= 0 && v < 128 && !Object.is(v, -0)) {
      b[this.#pos++] = T_SMALL + v;
    } else if ((v | 0) === v && !Object.is(v, -0)) {
      b[this.#pos++] = T_I32;
      this.#dv.setInt32(this.#pos, v, true);
      this.#pos += 4;
    } else {
      b[this.#pos++] = T_F64;
      this.#dv.setFloat64(this.#pos, v, true);
      this.#pos += 8;
    }
  }

  #string(s: string): void {
    if (s.length <= INTERN_MAX_LEN) {
      const id = this.#strings.get(s);
      if (id !== undefined) {
        this.#ensure(1);
        this.#buf[this.#pos++] = T_STR_REF;
        this.#uint(id);
        return;
      }
      if (this.#strings.size < INTERN_MAX_COUNT) {
        this.#strings.set(s, this.#strings.size);
        this.#ensure(1);
        this.#buf[this.#pos++] = T_STR_DEF;
        this.#literal(s);
        return;
      }
    }
    this.#ensure(1);
    this.#buf[this.#pos++] = T_STR;
    this.#literal(s);
  }

  #literal(s: string): void {
    const n = s.length;
    // Fast path for ASCII (paths, types, keys): one byte per char, no encoder call.
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      this.#uint(n * 2); // low bit 0: ASCII, length in chars
      this.#ensure(n);
      const b = this.#buf;
      let p = this.#pos;
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
      this.#pos = p;
      return;
    }
    const max = n * 3;
    this.#ensure(max + 5);
    // Reserve a fixed 5-byte length so the bytes can be written in place.
    const lenAt = this.#pos;
    this.#pos += 5;
    const { written } = utf8.encodeInto(s, this.#buf.subarray(this.#pos, this.#pos + max));
    const tag = written * 2 + 1; // low bit 1: UTF-8, length in bytes
    const b = this.#buf;
    b[lenAt] = (tag & 0x7f) | 0x80;
    b[lenAt + 1] = ((tag >>> 7) & 0x7f) | 0x80;
    b[lenAt + 2] = ((tag >>> 14) & 0x7f) | 0x80;
    b[lenAt + 3] = ((tag >>> 21) & 0x7f) | 0x80;
    b[lenAt + 4] = (tag >>> 28) & 0x7f;
    this.#pos += written;
  }

  #object(v: object): void {
    if (++this.#depth > 64) {
      // Deep (or cyclic) structures: let structured clone deal with them.
      this.#depth--;
      this.#extern(v);
      return;
    }
    try {
      if (Array.isArray(v)) {
        this.#ensure(1);
        this.#buf[this.#pos++] = T_ARR;
        this.#uint(v.length);
        for (let i = 0; i < v.length; i++) this.#value(v[i]);
        return;
      }
      if ((v as RefLike).$ref === 1 && typeof (v as RefLike).path === 'string') {
        this.#ensure(1);
        this.#buf[this.#pos++] = T_REF;
        this.#string((v as RefLike).path);
        this.#string((v as RefLike).thread);
        return;
      }
      if (v instanceof Uint8Array) {
        this.#ensure(1);
        this.#buf[this.#pos++] = T_BYTES;
        this.#uint(v.length);
        this.#ensure(v.length);
        this.#buf.set(v, this.#pos);
        this.#pos += v.length;
        return;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        this.#extern(v);
        return;
      }
      this.#ensure(1);
      this.#buf[this.#pos++] = T_OBJ;
      const o = v as Record<string, unknown>;
      let count = 0;
      for (const k in o) if (o[k] !== undefined) count++;
      this.#uint(count);
      for (const k in o) {
        const x = o[k];
        // Structured clone keeps undefined-valued keys; dropping them keeps batches small
        // and is invisible to `msg.key === undefined` checks.
        if (x === undefined) continue;
        this.#string(k);
        this.#value(x);
      }
    } finally {
      this.#depth--;
    }
  }

  #extern(v: unknown): void {
    const ext = (this.#ext ??= []);
    this.#ensure(1);
    this.#buf[this.#pos++] = T_EXT;
    this.#uint(ext.length);
    ext.push(v);
  }
}

export class Decoder {
  #strings: string[] = [];
  #b: Uint8Array = new Uint8Array(0);
  #dv: DataView = new DataView(new ArrayBuffer(0));
  #pos = 0;
  #ext: unknown[] | undefined;
  #makeRef: (r: RefLike) => unknown;

  constructor(makeRef: (r: RefLike) => unknown = (r) => r) {
    this.#makeRef = makeRef;
  }

  decode(batch: EncodedBatch): unknown[] {
    this.begin(batch);
    const n = this.#uint();
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.#value();
    this.end();
    return out;
  }

  begin(batch: EncodedBatch): void {
    if (!(batch.bytes instanceof Uint8Array)) throw new Error('codec: batch is not bytes');
    this.#b = batch.bytes;
    this.#dv = new DataView(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
    this.#pos = 0;
    this.#ext = batch.ext;
  }

  read(): unknown {
    return this.#value();
  }

  get atEnd(): boolean {
    return this.#pos >= this.#b.length;
  }

  end(): void {
    if (this.#pos !== this.#b.length) throw new Error(`codec: ${this.#b.length - this.#pos} trailing bytes in batch`);
  }

  #uint(): number {
    const b = this.#b;
    let x = 0;
    let shift = 0;
    for (;;) {
      if (this.#pos >= b.length) throw new Error('codec: truncated varint');
      const byte = b[this.#pos++]!;
      x |= (byte & 0x7f) << shift;
      if (byte < 0x80) return x >>> 0;
      shift += 7;
      if (shift > 28) throw new Error('codec: varint too long');
    }
  }

  #value(): unknown {
    if (this.#pos >= this.#b.length) throw new Error('codec: truncated batch');
    const tag = this.#b[this.#pos++]!;
    if (tag >= T_SMALL) {
      if (tag < T_SMALL + 128) return tag - T_SMALL;
      throw new Error(`codec: bad tag ${tag}`);
    }
    switch (tag) {
      case T_UNDEF:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_I32: {
        const v = this.#dv.getInt32(this.#pos, true);
        this.#pos += 4;
        return v;
      }
      case T_F64: {
        const v = this.#dv.getFloat64(this.#pos, true);
        this.#pos += 8;
        return v;
      }
      case T_STR:
        return this.#literal();
      case T_STR_DEF: {
        const s = this.#literal();
        this.#strings.push(s);
        return s;
      }
      case T_STR_REF: {
        const id = this.#uint();
        const s = this.#strings[id];
        if (s === undefined) throw new Error(`codec: unknown string id ${id}`);
        return s;
      }
      case T_ARR: {
        const n = this.#uint();
        this.#need(n);
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.#value();
        return a;
      }
      case T_OBJ: {
        const n = this.#uint();
        this.#need(n);
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = this.#value();
          if (typeof k !== 'string') throw new Error('codec: object key is not a string');
          o[k] = this.#value();
        }
        return o;
      }
      case T_EXT: {
        const i = this.#uint();
        if (!this.#ext || i >= this.#ext.length) throw new Error(`codec: missing side value ${i}`);
        return this.#ext[i];
      }
      case T_BYTES: {
        const n = this.#uint();
        this.#need(n);
        const v = this.#b.slice(this.#pos, this.#pos + n);
        this.#pos += n;
        return v;
      }
      case T_REF: {
        const path = this.#value();
        const thread = this.#value();
        if (typeof path !== 'string' || typeof thread !== 'string') throw new Error('codec: bad actor ref');
        return this.#makeRef({ $ref: 1, path, thread });
      }
      default:
        throw new Error(`codec: bad tag ${tag}`);
    }
  }

  /** Guard counts against the bytes left, so a corrupt length cannot allocate gigabytes. */
  #need(n: number): void {
    if (n > this.#b.length - this.#pos) throw new Error('codec: length exceeds batch');
  }

  #literal(): string {
    const tag = this.#uint();
    const n = tag >>> 1;
    this.#need(n);
    const b = this.#b;
    const start = this.#pos;
    this.#pos += n;
    if ((tag & 1) === 1) return utf8d.decode(b.subarray(start, start + n));
    if (n <= 64) {
      let s = '';
      for (let i = start; i < start + n; i++) s += String.fromCharCode(b[i]!);
      return s;
    }
    return utf8d.decode(b.subarray(start, start + n)); // ASCII is valid UTF-8
  }
}
