// The record format of SimDurableLog: "<8 hex checksum>|<body>", one record
// per line of the simulated disk. The body is a compact text encoding with
// length-prefixed strings, so entry data (often JSON itself) is copied as is,
// never escaped: writing a record is on the hot path of every simulated
// persist, about 4x cheaper than JSON.stringify. Reading happens only when a
// node restarts.
//
// Body grammar (numbers are decimal and end with ','; a string is
// "<length>:<chars>"):
//   record  = 'c' conf | 's' snap | 'e' ents | 'h' hs | 'x' through, | 'b' flags, [snap] [ents] [hs]
//   conf    = count, string* count, string*        (voters, then learners)
//   snap    = index, term, conf data-string
//   ents    = count, (index, term, ('n'|'c') data-string)*
//   hs      = term, commit, vote-string
//   flags   = 1 (snapshot) + 2 (entries) + 4 (hard state)
import zlib from 'node:zlib';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.ts';

export type Rec =
  | { k: 'conf'; conf: ConfState }
  | { k: 'snap'; snap: Snapshot }
  | { k: 'ents'; ents: Entry[] }
  | { k: 'hs'; hs: HardState }
  | { k: 'compact'; through: number }
  /** One persist call: written as ONE record so a crash keeps all of it or none (a torn record is dropped whole). */
  | { k: 'batch'; snap?: Snapshot; ents?: Entry[]; hs?: HardState };

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * CRC-32 as 8 hex digits: zlib's native CRC, several times faster than the FNV loop over the
 * characters it replaces (a record holding a CDB snapshot is megabytes). A well-formed string is
 * summed as UTF-8, which is one-to-one on well-formed strings, so a changed character (a
 * corrupted read, a torn tail) always changes the bytes summed; a string with lone surrogates
 * (which UTF-8 would all turn into U+FFFD) is summed over its UTF-16 code units instead. Either
 * way a damaged record passes only if its CRC collides (about 2^-32).
 */
export function checksum(s: string): string {
  const h = s.isWellFormed() ? zlib.crc32(s) : zlib.crc32(Buffer.from(s, 'utf16le'));
  return HEX[h >>> 24] + HEX[(h >>> 16) & 255] + HEX[(h >>> 8) & 255] + HEX[h & 255];
}

export function encodeRecord(r: Rec): string {
  const body = encodeBody(r);
  return checksum(body) + '|' + body;
}

/** The record, or undefined when it fails its checksum (torn or corrupted). */
export function decodeRecord(line: string): Rec | undefined {
  if (line.length < 10 || line[8] !== '|') return undefined;
  const body = line.slice(9);
  if (checksum(body) !== line.slice(0, 8)) return undefined;
  try {
    return new Reader(body).record();
  } catch {
    return undefined; // a checksum collision on damaged bytes
  }
}

const str = (s: string): string => s.length + ':' + s;

function encodeBody(r: Rec): string {
  switch (r.k) {
    case 'conf':
      return 'c' + conf(r.conf);
    case 'snap':
      return 's' + snap(r.snap);
    case 'ents':
      return 'e' + ents(r.ents);
    case 'hs':
      return 'h' + hs(r.hs);
    case 'compact':
      return 'x' + r.through + ',';
    case 'batch': {
      const flags = (r.snap ? 1 : 0) + (r.ents ? 2 : 0) + (r.hs ? 4 : 0);
      return 'b' + flags + ',' + (r.snap ? snap(r.snap) : '') + (r.ents ? ents(r.ents) : '') + (r.hs ? hs(r.hs) : '');
    }
  }
}

function conf(c: ConfState): string {
  let out = c.voters.length + ',';
  for (const v of c.voters) out += str(v);
  out += c.learners.length + ',';
  for (const l of c.learners) out += str(l);
  return out;
}

const snap = (s: Snapshot): string => s.meta.index + ',' + s.meta.term + ',' + conf(s.meta.conf) + str(s.data);

function ents(es: readonly Entry[]): string {
  let out = es.length + ',';
  for (const e of es) out += e.index + ',' + e.term + ',' + (e.type === 'conf' ? 'c' : 'n') + str(e.data);
  return out;
}

const hs = (h: HardState): string => h.term + ',' + h.commit + ',' + str(h.vote);

/** A cursor over a record body; throws on anything malformed. */
class Reader {
  #s: string;
  #i = 0;
  constructor(s: string) {
    this.#s = s;
  }

  record(): Rec {
    const kind = this.#char();
    let r: Rec;
    switch (kind) {
      case 'c':
        r = { k: 'conf', conf: this.#conf() };
        break;
      case 's':
        r = { k: 'snap', snap: this.#snap() };
        break;
      case 'e':
        r = { k: 'ents', ents: this.#ents() };
        break;
      case 'h':
        r = { k: 'hs', hs: this.#hs() };
        break;
      case 'x':
        r = { k: 'compact', through: this.#num() };
        break;
      case 'b': {
        const flags = this.#num();
        const b: Rec = { k: 'batch' };
        if (flags & 1) b.snap = this.#snap();
        if (flags & 2) b.ents = this.#ents();
        if (flags & 4) b.hs = this.#hs();
        r = b;
        break;
      }
      default:
        throw new Error(`unknown record kind ${kind}`);
    }
    if (this.#i !== this.#s.length) throw new Error('trailing bytes');
    return r;
  }

  #char(): string {
    if (this.#i >= this.#s.length) throw new Error('truncated');
    return this.#s[this.#i++];
  }

  #num(): number {
    const end = this.#s.indexOf(',', this.#i);
    if (end < 0) throw new Error('truncated');
    const n = Number(this.#s.slice(this.#i, end));
    if (!Number.isSafeInteger(n) || n < 0) throw new Error('bad number');
    this.#i = end + 1;
    return n;
  }

  #str(): string {
    const colon = this.#s.indexOf(':', this.#i);
    if (colon < 0) throw new Error('truncated');
    const len = Number(this.#s.slice(this.#i, colon));
    if (!Number.isSafeInteger(len) || len < 0 || colon + 1 + len > this.#s.length) throw new Error('bad string');
    this.#i = colon + 1 + len;
    return this.#s.slice(colon + 1, this.#i);
  }

  #strs(): string[] {
    const n = this.#num();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.#str());
    return out;
  }

  #conf(): ConfState {
    const voters = this.#strs();
    return { voters, learners: this.#strs() };
  }

  #snap(): Snapshot {
    const index = this.#num();
    const term = this.#num();
    const c = this.#conf();
    return { meta: { index, term, conf: c }, data: this.#str() };
  }

  #ents(): Entry[] {
    const n = this.#num();
    const out: Entry[] = [];
    for (let i = 0; i < n; i++) {
      const index = this.#num();
      const term = this.#num();
      const t = this.#char();
      if (t !== 'n' && t !== 'c') throw new Error('bad entry type');
      out.push({ index, term, type: t === 'c' ? 'conf' : 'normal', data: this.#str() });
    }
    return out;
  }

  #hs(): HardState {
    const term = this.#num();
    const commit = this.#num();
    return { term, vote: this.#str(), commit };
  }
}
