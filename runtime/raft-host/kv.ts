// The replicated key-value state machine: read / write / cas on string values
// (null = absent). Commands are a compact text encoding in Raft entries (see
// encodeCommand); applying one is a pure function of the state, so every
// replica computes the same results.
// It is one StateMachine for the generic Raft host (the simulator's); the
// KV client protocol below (ClientRequest → ClientResponse) maps onto the
// host's `propose` (write, cas) and `read` (ReadIndex barrier, then `get`).
import type { StateMachine } from './protocol.ts';

export type KvValue = string | null;

/** A client operation on the replicated key-value store. `id` is unique per operation (reused by its retries). */
export type ClientRequest =
  | { id: string; op: 'read'; key: string }
  | { id: string; op: 'write'; key: string; value: KvValue }
  | { id: string; op: 'cas'; key: string; expected: KvValue; value: KvValue };

/**
 * The answer. Success shapes match the linearizability checker's KV model
 * (`{value}` for read, `{ok}` for write/cas). Errors as in HostError.
 */
export type ClientResponse =
  | { value: KvValue }
  | { ok: boolean }
  | { error: 'not-leader'; leader: string }
  | { error: 'unavailable'; message: string }
  | { error: 'indeterminate'; message: string };

/** The part of a request that goes into the log (the request id lets the proposer match its entry). */
export type KvCommand = Exclude<ClientRequest, { op: 'read' }>;

export type KvResult = { ok: boolean };

/**
 * Request ids are "<client>:<sequence>": one id per client operation, reused
 * by every retry of it, with the sequence increasing per client (one
 * operation at a time per client). The state machine remembers, per client,
 * the last sequence applied and its result: a copy of that request (network
 * duplicate or retry) gets the same result without executing again, and an
 * older one is ignored — so each operation takes effect at most once
 * (Raft dissertation §6.3, client sessions). Sessions are part of the state,
 * so replicas and snapshots agree on them.
 */
function session(id: string): [string, number] | undefined {
  const i = id.lastIndexOf(':');
  if (i <= 0) return undefined;
  const n = Number(id.slice(i + 1));
  return Number.isSafeInteger(n) ? [id.slice(0, i), n] : undefined;
}

/** apply() result: undefined for a stale copy of an older request of that client (nobody waits for it). */
export class KvStateMachine implements StateMachine<KvResult | undefined> {
  #data = new Map<string, string>();
  #sessions = new Map<string, [number, boolean]>();
  duplicatesIgnored = 0;

  get(key: string): KvValue {
    return this.#data.get(key) ?? null;
  }

  /** StateMachine entry point: decode the command at `index` and apply it. */
  apply(_index: number, data: string): KvResult | undefined {
    const cmd = decodeCommand(data);
    return cmd ? this.applyCommand(cmd) : undefined;
  }

  applyCommand(cmd: KvCommand): KvResult | undefined {
    const sess = session(cmd.id);
    if (sess) {
      const last = this.#sessions.get(sess[0]);
      if (last !== undefined && sess[1] <= last[0]) {
        this.duplicatesIgnored++;
        return sess[1] === last[0] ? { ok: last[1] } : undefined;
      }
    }
    const cur = this.get(cmd.key);
    const ok = cmd.op !== 'cas' || cur === cmd.expected;
    if (sess) this.#sessions.set(sess[0], [sess[1], ok]);
    if (!ok) return { ok: false };
    if (cmd.value === null) this.#data.delete(cmd.key);
    else this.#data.set(cmd.key, cmd.value);
    return { ok: true };
  }

  /** Deterministic serialization (sorted keys) so equal states give equal snapshots. */
  snapshot(): string {
    const sorted = <T>(m: Map<string, T>): [string, T][] => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return JSON.stringify({ data: sorted(this.#data), sessions: sorted(this.#sessions) });
  }

  digest(): string {
    return this.snapshot();
  }

  restore(snap: string, _index = 0): void {
    const s = snap === '' ? { data: [], sessions: [] } : (JSON.parse(snap) as { data: [string, string][]; sessions: [string, [number, boolean]][] });
    this.#data = new Map(s.data);
    this.#sessions = new Map(s.sessions);
  }

  get size(): number {
    return this.#data.size;
  }
}

// Command encoding: an op letter, then length-prefixed strings — id, key, and
// for a cas the expected value — then the value; a null value is "~".
//   w5:c1:172:k9~          write k9 := null by request c1:17
//   c5:c1:182:k95:c1-1793:c2-4   cas k9 from "c1-17" to "c2-4"
// Values are copied as they are (no escaping), and decoding is a few slices:
// JSON.parse of every committed command on every replica was ~3% of a
// simulated cluster's time.
const lp = (s: string): string => s.length + ':' + s;
const lpv = (v: KvValue): string => (v === null ? '~' : v.length + ':' + v);

export function encodeCommand(cmd: KvCommand): string {
  const head = lp(cmd.id) + lp(cmd.key);
  return cmd.op === 'cas' ? 'c' + head + lpv(cmd.expected) + lpv(cmd.value) : 'w' + head + lpv(cmd.value);
}

// Every replica decodes the same entries at about the same time (and a
// simulated cluster runs them all in one process): remember the last few
// decodings. Commands are frozen, so sharing one between replicas is safe.
const DECODED_MAX = 256;
let decoded = new Map<string, KvCommand | undefined>();
let decodedOld = new Map<string, KvCommand | undefined>();

/** The command in an entry, or undefined for anything else (an empty entry, garbage). */
export function decodeCommand(data: string): KvCommand | undefined {
  if (data === '') return undefined;
  let c = decoded.get(data);
  if (c !== undefined || decoded.has(data)) return c;
  c = decodedOld.get(data);
  if (c === undefined && !decodedOld.has(data)) c = decodeUncached(data);
  if (decoded.size >= DECODED_MAX) {
    decodedOld = decoded;
    decoded = new Map();
  }
  decoded.set(data, c);
  return c;
}

/** Reads length-prefixed strings off a command; `pos` is -1 once anything was malformed. */
class Fields {
  pos = 1;
  readonly s: string;
  constructor(s: string) {
    this.s = s;
  }
  str(): string {
    const s = this.s;
    let i = this.pos;
    if (i < 0) return '';
    // Decimal digits (at most 9), then ':'.
    let len = 0;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57 && i - this.pos < 9; c = s.charCodeAt(++i)) len = len * 10 + c - 48;
    if (i === this.pos || s.charCodeAt(i) !== 58 || i + 1 + len > s.length) {
      this.pos = -1;
      return '';
    }
    this.pos = i + 1 + len;
    return s.slice(i + 1, this.pos);
  }
  value(): KvValue {
    if (this.pos >= 0 && this.s[this.pos] === '~') {
      this.pos++;
      return null;
    }
    return this.str();
  }
}

function decodeUncached(data: string): KvCommand | undefined {
  const op = data[0];
  if (op !== 'w' && op !== 'c') return undefined;
  const f = new Fields(data);
  const id = f.str();
  const key = f.str();
  const cmd: KvCommand = op === 'w' ? { id, op: 'write', key, value: f.value() } : { id, op: 'cas', key, expected: f.value(), value: f.value() };
  // Trailing bytes are as bad as missing ones.
  return f.pos === data.length ? Object.freeze(cmd) : undefined;
}
