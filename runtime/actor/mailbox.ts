// A bounded FIFO of envelopes. A ring buffer that grows (by doubling) up to
// the capacity, so idle actors cost little memory and busy ones never copy
// on every shift.
/** The buffer of a queue that has never held anything (never written: push grows first). */
const NONE: never[] = [];

export class Queue<T> {
  #buf: (T | undefined)[];
  #head = 0;
  #size = 0;
  /** `initial` 0: no buffer until the first push (idle actors cost less). Otherwise a power of two. */
  constructor(initial = 4) {
    this.#buf = initial === 0 ? NONE : new Array(initial);
  }
  get size(): number {
    return this.#size;
  }
  push(x: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) & (this.#buf.length - 1)] = x;
    this.#size++;
  }
  /** Put x at the front (used to re-deliver stashed messages before newer ones). */
  unshift(x: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#buf.length - 1);
    this.#buf[this.#head] = x;
    this.#size++;
  }
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const x = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#size--;
    return x;
  }
  drain(): T[] {
    const out: T[] = [];
    let x: T | undefined;
    while ((x = this.shift()) !== undefined) out.push(x);
    return out;
  }
  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const next = new Array<T | undefined>(n === 0 ? 4 : n * 2);
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) & (n - 1)];
    this.#buf = next;
    this.#head = 0;
  }
}
