// The receiving end of a link from one thread. Batches come by port (always
// possible) and, once the sender has set one up, through a shared-memory
// ring; numbered batches are handled strictly in the sender's order, whichever
// way each one came (the codec's string and shape tables depend on it).
import { RingReader } from './ring.ts';
import type { WireBatch } from './link.ts';

export interface InLinkHandlers {
  /** A batch that came by port. */
  port(w: WireBatch): void;
  /** A batch read from the ring: its bytes are valid only during the call. */
  frame(bytes: Uint8Array, n: number): void;
  /** A handler threw: the batch is skipped, the link goes on. */
  failed(e: unknown): void;
}

export class InLink {
  readonly #on: InLinkHandlers;
  /** Number of the next batch to handle; meaningful once the sender numbers its batches. */
  #next = 0;
  #numbered = false;
  /** Port batches that overtook ring frames still unread. */
  #early = new Map<number, WireBatch>();
  #reader: RingReader | null = null;

  constructor(on: InLinkHandlers) {
    this.#on = on;
  }

  /** A batch arrived on the port. */
  fromPort(w: WireBatch): void {
    const q = typeof w === 'string' ? undefined : w.q;
    if (q === undefined) {
      this.#handle(w);
      return;
    }
    if (typeof w !== 'string' && w.ring !== undefined) {
      // The sender's first numbered batch brings the ring its later ones use.
      this.#reader?.close();
      this.#numbered = true;
      this.#next = q;
      this.#reader = new RingReader(w.ring, this.#frame);
    }
    if (!this.#numbered || q !== this.#next) {
      this.#early.set(q, w);
      return;
    }
    this.#handle(w);
    this.#next = (this.#next + 1) | 0;
    this.#catchUp();
    if (typeof w !== 'string' && w.ring !== undefined) this.#reader!.start();
    else this.#reader?.resume();
  }

  /** The sender is gone: stop reading its ring. */
  close(): void {
    this.#reader?.close();
    this.#reader = null;
    this.#early.clear();
  }

  #frame = (seq: number, bytes: Uint8Array, n: number): boolean => {
    if (seq !== this.#next) return false; // an earlier batch is still on its way by port
    try {
      this.#on.frame(bytes, n);
    } catch (e) {
      this.#on.failed(e);
    }
    this.#next = (this.#next + 1) | 0;
    this.#catchUp();
    return true;
  };

  #catchUp(): void {
    for (let w = this.#early.get(this.#next); w !== undefined; w = this.#early.get(this.#next)) {
      this.#early.delete(this.#next);
      this.#handle(w);
      this.#next = (this.#next + 1) | 0;
    }
  }

  #handle(w: WireBatch): void {
    try {
      this.#on.port(w);
    } catch (e) {
      this.#on.failed(e);
    }
  }
}
