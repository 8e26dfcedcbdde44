// The replicated key-value state machine: read / write / cas on string values
// (null = absent). Commands are JSON in Raft entries; applying one is a pure
// function of the state, so every replica computes the same results.
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

export function encodeCommand(cmd: KvCommand): string {
  return JSON.stringify(cmd);
}

// Every replica decodes the same entries at about the same time (and a
// simulated cluster runs them all in one process): remember the last few
// decodings. Commands are frozen, so sharing one between replicas is safe.
const DECODED_MAX = 256;
let decoded = new Map<string, KvCommand | undefined>();
let decodedOld = new Map<string, KvCommand | undefined>();

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

function decodeUncached(data: string): KvCommand | undefined {
  try {
    const c = JSON.parse(data) as KvCommand;
    return typeof c === 'object' && c !== null && typeof c.key === 'string' ? Object.freeze(c) : undefined;
  } catch {
    return undefined;
  }
}
