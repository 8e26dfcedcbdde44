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
const T_SHAPE_DEF = 14; // plain object: key count, keys (remembered as a shape), then values
const T_SHAPE_REF = 15; // plain object of a remembered shape: shape id, then values
const T_SMALL = 32; // 32..159: integers 0..127 in one byte

/** Strings longer than this are written literally (ids, payloads), shorter ones interned. */
const INTERN_MAX_LEN = 48;
/** Stop interning new strings past this many, so unique values cannot grow the tables forever. */
const INTERN_MAX_COUNT = 65_536;
/** Object shapes (key lists) remembered per link. */
const SHAPE_MAX_COUNT = 4096;
const SHAPE_MAX_KEYS = 32;

interface Shape {
  id: number;
  keys: string[];
  /** Per key: the last string value written there and its interned id (type tags repeat). */
  strs: (string | null)[];
  ids: number[];
}

/** Where an encoder stood, to undo a value that failed half-way (strings and shapes interned since are forgotten too). */
export interface EncoderMark {
  pos: number;
  strings: number;
  shapes: number;
}

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

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export class Encoder {
  #buf = new Uint8Array(64 * 1024);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  #strings = new Map<string, number>();
  /** The interned strings by id (to decode locally what was never sent). */
  #stringList: string[] = [];
  /** Shapes by their first key (a short list each), and by id. */
  #shapes = new Map<string, Shape[]>();
  #shapeList: Shape[] = [];
  #keys: string[] = [];
  #vals: unknown[] = [];
  #sp = 0;
  #lastShape: Shape | null = null;
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
    this.#depth = 0;
    this.#sp = 0;
    if (this.#buf.length > 1 << 22) this.#resize(64 * 1024); // give back a spike
  }

  write(v: unknown): void {
    this.#value(v);
  }

  /** One raw byte (callers' own headers). */
  byte(b: number): void {
    if (this.#pos >= this.#buf.length) this.#ensure(1);
    this.#buf[this.#pos++] = b;
  }

  /** A varint for a non-negative integer below 2^31. */
  uint(n: number): void {
    this.#uint(n);
  }

  /** A string, interned when short. */
  string(s: string): void {
    this.#string(s);
  }

  /** A number. */
  number(n: number): void {
    this.#number(n);
  }

  mark(): EncoderMark {
    return { pos: this.#pos, strings: this.#stringList.length, shapes: this.#shapeList.length };
  }

  /** Strings interned so far (with `size` and `shapeCount`, a mark that allocates nothing). */
  get stringCount(): number {
    return this.#stringList.length;
  }

  get shapeCount(): number {
    return this.#shapeList.length;
  }

  /** Undo everything written since `m`, including strings and shapes interned meanwhile (the peer never saw them). */
  rollback(m: EncoderMark): void {
    this.rollbackTo(m.pos, m.strings, m.shapes);
  }

  rollbackTo(pos: number, strings: number, shapes: number): void {
    this.#pos = pos;
    while (this.#stringList.length > strings) this.#strings.delete(this.#stringList.pop()!);
    while (this.#shapeList.length > shapes) {
      const sh = this.#shapeList.pop()!;
      const list = this.#shapes.get(sh.keys[0]!)!;
      list.splice(list.indexOf(sh), 1);
      if (list.length === 0) this.#shapes.delete(sh.keys[0]!);
    }
    this.#depth = 0;
    this.#sp = 0;
    this.#vals = [];
    // Value caches may name strings that were just forgotten.
    this.#lastShape = null;
    for (const sh of this.#shapeList) sh.strs.fill(null);
  }

  /** Interned strings and shapes up to a mark: seeds a Decoder that reads bytes written after it. */
  tables(m: EncoderMark): { strings: string[]; shapes: string[][] } {
    return { strings: this.#stringList.slice(0, m.strings), shapes: this.#shapeList.slice(0, m.shapes).map((x) => x.keys) };
  }

  /** The side values of this batch (structured-cloned), if any. */
  get ext(): unknown[] | null {
    return this.#ext;
  }

  /** The encoder's buffer: the batch is its first `size` bytes (until the next begin; replaced when it grows). */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** Number of bytes written so far in this batch. */
  get size(): number {
    return this.#pos;
  }

  /** The batch as a view of the encoder's own buffer: valid only until the next begin(). */
  finishView(): EncodedBatch {
    const bytes = this.#buf.subarray(0, this.#pos);
    return this.#ext ? { bytes, ext: this.#ext } : { bytes };
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
    if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
      if (v >= 0 && v < 128) {
        b[this.#pos++] = T_SMALL + v;
        return;
      }
      b[this.#pos++] = T_I32;
      this.#dv.setInt32(this.#pos, v, true);
      this.#pos += 4;
    } else {
      b[this.#pos++] = T_F64;
      this.#dv.setFloat64(this.#pos, v, true);
      this.#pos += 8;
    }
  }

  /** Returns the string's interned id, or -1. */
  #string(s: string): number {
    if (s.length <= INTERN_MAX_LEN) {
      const id = this.#strings.get(s);
      if (id !== undefined) {
        this.#ensure(6);
        this.#buf[this.#pos++] = T_STR_REF;
        this.#uint(id);
        return id;
      }
      if (this.#stringList.length < INTERN_MAX_COUNT) {
        const nid = this.#stringList.length;
        this.#strings.set(s, nid);
        this.#stringList.push(s);
        this.#ensure(1);
        this.#buf[this.#pos++] = T_STR_DEF;
        this.#literal(s);
        return nid;
      }
    }
    this.#ensure(1);
    this.#buf[this.#pos++] = T_STR;
    this.#literal(s);
    return -1;
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
    // No try/finally: a throw abandons the batch (begin() and rollback reset depth and the scratch stack).
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      // Plain objects first: they are most messages.
      if ((v as RefLike).$ref === 1 && typeof (v as RefLike).path === 'string') this.#ref(v as RefLike);
      else this.#plain(v as Record<string, unknown>);
    } else if (Array.isArray(v)) {
      this.#ensure(6);
      this.#buf[this.#pos++] = T_ARR;
      this.#uint(v.length);
      for (let i = 0; i < v.length; i++) this.#value(v[i]);
    } else if ((v as RefLike).$ref === 1 && typeof (v as RefLike).path === 'string') {
      this.#ref(v as RefLike);
    } else if (v instanceof Uint8Array) {
      this.#ensure(6);
      this.#buf[this.#pos++] = T_BYTES;
      this.#uint(v.length);
      this.#ensure(v.length);
      this.#buf.set(v, this.#pos);
      this.#pos += v.length;
    } else this.#extern(v);
    this.#depth--;
  }

  #ref(r: RefLike): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = T_REF;
    this.#string(r.path);
    this.#string(r.thread);
  }

  /** A plain object: its key list is sent once per link as a shape, then referred to by id. */
  #plain(o: Record<string, unknown>): void {
    // A burst of one message type: same keys as the previous object, so no scratch stack.
    const prev = this.#lastShape;
    if (prev !== null && this.#sameKeys(o, prev.keys)) {
      this.#withShape(o, prev);
      return;
    }
    // Keys and values go on a scratch stack shared by nesting levels: this level uses [base, base + n).
    const keys = this.#keys;
    const vals = this.#vals;
    const base = this.#sp;
    let n = 0;
    for (const k in o) {
      const x = o[k];
      if (x !== undefined) {
        keys[base + n] = k;
        vals[base + n] = x;
        n++;
      }
    }
    if (n === 0 || n > SHAPE_MAX_KEYS) {
      for (let i = 0; i < n; i++) vals[base + i] = undefined;
      this.#objectLiteral(o, n);
      return;
    }
    const k0 = keys[base]!;
    let shape: Shape | undefined;
    const last = this.#lastShape;
    if (last !== null && last.keys.length === n) {
      const lk = last.keys;
      let i = 0;
      while (i < n && lk[i] === keys[base + i]) i++;
      if (i === n) shape = last;
    }
    let list: Shape[] | undefined;
    if (shape === undefined && (list = this.#shapes.get(k0)) !== undefined) {
      for (let j = 0; j < list.length; j++) {
        const cand = list[j]!.keys;
        if (cand.length !== n) continue;
        let i = 1;
        while (i < n && cand[i] === keys[base + i]) i++;
        if (i === n) {
          shape = list[j];
          break;
        }
      }
    }
    if (shape !== undefined) {
      this.#ensure(6);
      this.#buf[this.#pos++] = T_SHAPE_REF;
      this.#uint(shape.id);
    } else if (this.#shapeList.length < SHAPE_MAX_COUNT) {
      shape = { id: this.#shapeList.length, keys: keys.slice(base, base + n), strs: new Array<string | null>(n).fill(null), ids: new Array<number>(n).fill(0) };
      this.#shapeList.push(shape);
      if (list === undefined) this.#shapes.set(k0, (list = []));
      list.push(shape);
      this.#ensure(6);
      this.#buf[this.#pos++] = T_SHAPE_DEF;
      this.#uint(n);
      for (let i = 0; i < n; i++) this.#string(shape.keys[i]!);
    } else {
      for (let i = 0; i < n; i++) vals[base + i] = undefined;
      this.#objectLiteral(o, n);
      return;
    }
    this.#lastShape = shape;
    this.#sp = base + n;
    for (let i = 0; i < n; i++) {
      const x = vals[base + i];
      vals[base + i] = undefined;
      if (typeof x === 'number') this.#number(x);
      else if (typeof x === 'string') this.#shapeString(shape, i, x);
      else this.#value(x);
    }
    this.#sp = base;
  }

  /**
   * A string value in slot `i` of `shape`: slots tend to repeat their value
   * (a message type, a target path), so each remembers its last interned one.
   */
  #shapeString(shape: Shape, i: number, x: string): void {
    if (x === shape.strs[i]) {
      this.#ensure(6);
      this.#buf[this.#pos++] = T_STR_REF;
      this.#uint(shape.ids[i]!);
      return;
    }
    const id = this.#string(x);
    if (id >= 0) {
      shape.strs[i] = x;
      shape.ids[i] = id;
    }
  }

  /** `o` has exactly `keys`, in that order, none of them undefined. */
  #sameKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
    const n = keys.length;
    let i = 0;
    for (const k in o) {
      if (i === n || k !== keys[i] || o[k] === undefined) return false;
      i++;
    }
    return i === n;
  }

  /** The values of an object known to have `shape`'s keys (#sameKeys). */
  #withShape(o: Record<string, unknown>, shape: Shape): void {
    this.#ensure(6);
    this.#buf[this.#pos++] = T_SHAPE_REF;
    this.#uint(shape.id);
    let i = 0;
    for (const k in o) {
      const x = o[k];
      if (typeof x === 'number') this.#number(x);
      else if (typeof x === 'string') this.#shapeString(shape, i, x);
      else this.#value(x);
      i++;
    }
    // Nested objects may have moved #lastShape: this one is the burst's.
    this.#lastShape = shape;
  }

  #objectLiteral(o: Record<string, unknown>, count: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = T_OBJ;
    this.#uint(count);
    for (const k in o) {
      const x = o[k];
      // Structured clone keeps undefined-valued keys; dropping them keeps batches small
      // and is invisible to `msg.key === undefined` checks.
      if (x === undefined) continue;
      this.#string(k);
      this.#value(x);
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

/** After this many uses a shape gets a compiled constructor (an object literal: fast properties, one hidden class). */
const SHAPE_COMPILE_AFTER = 16;

interface DecShape {
  keys: string[];
  uses: number;
  make: ((next: () => unknown) => Record<string, unknown>) | null;
}

function compileShape(keys: string[]): ((next: () => unknown) => Record<string, unknown>) | null {
  // `__proto__` in a literal would set the prototype; such shapes stay on the generic path.
  if (keys.includes('__proto__')) return null;
  // Keys are written as JSON string literals, so any key is safe; properties are read in order.
  return new Function('next', `return {${keys.map((k) => `${JSON.stringify(k)}: next()`).join(', ')}};`) as (next: () => unknown) => Record<string, unknown>;
}

export class Decoder {
  #strings: string[] = [];
  #shapes: DecShape[] = [];
  readonly #next = (): unknown => this.#value();
  #b: Uint8Array = new Uint8Array(0);
  /** End of the batch in #b. */
  #end = 0;
  /** Scratch for reading doubles without a DataView per batch. */
  readonly #f64 = new Float64Array(1);
  readonly #f64b = new Uint8Array(this.#f64.buffer);
  #pos = 0;
  #ext: unknown[] | undefined;
  #makeRef: (r: RefLike) => unknown;

  constructor(makeRef: (r: RefLike) => unknown = (r) => r, seed?: { strings: string[]; shapes: string[][] }) {
    this.#makeRef = makeRef;
    if (seed) {
      this.#strings = seed.strings.slice();
      this.#shapes = seed.shapes.map((keys) => ({ keys, uses: 0, make: null }));
    }
  }

  /** One raw byte. */
  byte(): number {
    if (this.#pos >= this.#end) throw new Error('codec: truncated batch');
    return this.#b[this.#pos++]!;
  }

  /** A varint written by Encoder.uint. */
  uint(): number {
    return this.#uint();
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
    this.beginBytes(batch.bytes, batch.bytes.length, batch.ext);
  }

  /** Start reading the first `length` bytes of `bytes` (no view allocated per batch). */
  beginBytes(bytes: Uint8Array, length: number, ext: unknown[] | undefined): void {
    this.#b = bytes;
    this.#end = Math.min(length, bytes.length);
    this.#pos = 0;
    this.#ext = ext;
  }

  read(): unknown {
    return this.#value();
  }

  get atEnd(): boolean {
    return this.#pos >= this.#end;
  }

  end(): void {
    if (this.#pos !== this.#end) throw new Error(`codec: ${this.#end - this.#pos} trailing bytes in batch`);
  }

  #uint(): number {
    const b = this.#b;
    let x = 0;
    let shift = 0;
    for (;;) {
      if (this.#pos >= this.#end) throw new Error('codec: truncated varint');
      const byte = b[this.#pos++]!;
      x |= (byte & 0x7f) << shift;
      if (byte < 0x80) return x >>> 0;
      shift += 7;
      if (shift > 28) throw new Error('codec: varint too long');
    }
  }

  #value(): unknown {
    if (this.#pos >= this.#end) throw new Error('codec: truncated batch');
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
        const b = this.#b;
        const p = this.#pos;
        if (p + 4 > this.#end) throw new Error('codec: truncated batch');
        this.#pos = p + 4;
        return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
      }
      case T_F64: {
        const b = this.#b;
        const p = this.#pos;
        if (p + 8 > this.#end) throw new Error('codec: truncated batch');
        const s = this.#f64b;
        if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) s[i] = b[p + i]!;
        else for (let i = 0; i < 8; i++) s[7 - i] = b[p + i]!;
        this.#pos = p + 8;
        return this.#f64[0]!;
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
      case T_SHAPE_DEF: {
        const n = this.#uint();
        this.#need(n);
        const keys = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const k = this.#value();
          if (typeof k !== 'string') throw new Error('codec: object key is not a string');
          keys[i] = k;
        }
        this.#shapes.push({ keys, uses: 0, make: null });
        return this.#shaped(keys);
      }
      case T_SHAPE_REF: {
        const id = this.#uint();
        const sh = this.#shapes[id];
        if (sh === undefined) throw new Error(`codec: unknown shape id ${id}`);
        const make = sh.make;
        if (make !== null) return make(this.#next);
        if (++sh.uses === SHAPE_COMPILE_AFTER) sh.make = compileShape(sh.keys);
        return this.#shaped(sh.keys);
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

  #shaped(keys: string[]): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) o[keys[i]!] = this.#value();
    return o;
  }

  /** Guard counts against the bytes left, so a corrupt length cannot allocate gigabytes. */
  #need(n: number): void {
    if (n > this.#end - this.#pos) throw new Error('codec: length exceeds batch');
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
