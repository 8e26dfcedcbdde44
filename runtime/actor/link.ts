// A link to another thread: batches of wire items encoded with the binary
// codec and transferred (not cloned) through a MessagePort. Envelopes are
// written positionally, so their field names cost nothing per message.
import { Encoder, Decoder, type EncodedBatch, type RefLike } from '../transport/codec.ts';
import type { Envelope, WireItem } from './wire.ts';

const ITEM_ENV = 0;
const ITEM_OK = 1;
const ITEM_ERR = 2;
const ITEM_SYS = 3;

export interface PortLike {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
}

/** What goes over the port: `$b` marks an encoded batch (vs. port introductions). */
export interface WireBatch extends EncodedBatch {
  $b: 1;
}

export function isWireBatch(x: unknown): x is WireBatch {
  return typeof x === 'object' && x !== null && (x as WireBatch).$b === 1;
}

export class EncodedLink {
  readonly #port: PortLike;
  readonly #enc = new Encoder();
  constructor(port: PortLike) {
    this.#port = port;
  }
  post(items: WireItem[]): void {
    const enc = this.#enc;
    enc.begin();
    enc.write(items.length);
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.t === 'e') {
        const e = it.e;
        enc.write(ITEM_ENV);
        enc.write(e.to);
        enc.write(e.id);
        enc.write(e.corr);
        enc.write(e.cause);
        enc.write(e.from);
        enc.write(e.ask);
        enc.write(e.askThread);
        enc.write(e.offer);
        enc.write(e.msg);
      } else if (it.t === 'r') {
        enc.write(it.ok ? ITEM_OK : ITEM_ERR);
        enc.write(it.id);
        enc.write(it.ok ? it.v : it.err);
      } else {
        enc.write(ITEM_SYS);
        enc.write(it.s);
      }
    }
    const b = enc.finish() as WireBatch;
    b.$b = 1;
    this.#port.postMessage(b, [b.bytes.buffer as ArrayBuffer]);
  }
}

export function decodeBatch(dec: Decoder, batch: WireBatch): WireItem[] {
  dec.begin(batch);
  const n = dec.read();
  if (typeof n !== 'number') throw new Error('codec: batch without a count');
  const out: WireItem[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = dec.read();
    if (kind === ITEM_ENV) {
      const env: Envelope = {
        to: dec.read() as string,
        id: dec.read() as number,
        corr: dec.read() as number,
        cause: dec.read() as number,
        from: dec.read() as string | undefined,
        ask: dec.read() as number | undefined,
        askThread: dec.read() as string | undefined,
        offer: dec.read() as number | undefined,
        msg: dec.read(),
      };
      out[i] = { t: 'e', e: env };
    } else if (kind === ITEM_OK) {
      out[i] = { t: 'r', id: dec.read() as number, ok: true, v: dec.read() };
    } else if (kind === ITEM_ERR) {
      out[i] = { t: 'r', id: dec.read() as number, ok: false, err: dec.read() as never };
    } else if (kind === ITEM_SYS) {
      out[i] = { t: 's', s: dec.read() as never };
    } else throw new Error(`codec: unknown item kind ${String(kind)}`);
  }
  dec.end();
  return out;
}

export function makeDecoder(makeRef: (r: RefLike) => unknown): Decoder {
  return new Decoder(makeRef);
}
