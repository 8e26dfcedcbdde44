// A small replicated key-value state machine for Raft entries. Commands carry
// (client, seq): each client numbers its requests and retries with the same
// seq, so a command that was committed twice (the client retried after a
// timeout and both copies made it into the log) is applied only once, and the
// retry gets the original answer. Without this, a retried write or CAS could
// take effect twice and the history would not be linearizable.
// (One outstanding request per client is assumed, as in the Raft dissertation §6.3.)
import type { Entry } from './types.ts';

export type KvValue = string | null;

export type KvOp =
  | { op: 'read'; key: string }
  | { op: 'write'; key: string; value: KvValue }
  | { op: 'cas'; key: string; expected: KvValue; value: KvValue };

export type KvCommand = KvOp & { client: string; seq: number };

export type KvResult =
  | { ok: true; value: KvValue } // read: the value; write: the new value; cas success: the new value
  | { ok: false; value: KvValue } // cas failure: the current value
  | { ok: false; error: 'stale'; message: string }; // seq older than the client's latest: its answer is gone

interface Session {
  seq: number;
  result: KvResult;
}

export function encodeKvCommand(c: KvCommand): string {
  return JSON.stringify(c);
}

export function decodeKvCommand(data: string): KvCommand | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const isVal = (x: unknown) => x === null || typeof x === 'string';
  if (typeof o.client !== 'string' || typeof o.seq !== 'number' || !Number.isInteger(o.seq) || typeof o.key !== 'string') return undefined;
  if (o.op === 'read') return { op: 'read', key: o.key, client: o.client, seq: o.seq };
  if (o.op === 'write' && isVal(o.value)) return { op: 'write', key: o.key, value: o.value as KvValue, client: o.client, seq: o.seq };
  if (o.op === 'cas' && isVal(o.value) && isVal(o.expected)) {
    return { op: 'cas', key: o.key, expected: o.expected as KvValue, value: o.value as KvValue, client: o.client, seq: o.seq };
  }
  return undefined;
}

export class KvStore {
  #data = new Map<string, string>();
  #sessions = new Map<string, Session>();
  /** Index of the last entry applied (0 initially). */
  appliedIndex = 0;

  get(key: string): KvValue {
    return this.#data.get(key) ?? null;
  }

  /**
   * Apply a committed entry. Returns the command's result, or undefined for
   * entries that are not KV commands (the leader's empty entry, conf changes,
   * malformed data — applied as no-ops so every replica stays identical).
   */
  apply(entry: Entry): KvResult | undefined {
    if (entry.index <= this.appliedIndex) return undefined; // already applied (e.g. replay after restart)
    this.appliedIndex = entry.index;
    if (entry.type !== 'normal' || entry.data === '') return undefined;
    const cmd = decodeKvCommand(entry.data);
    if (!cmd) return undefined;
    return this.execute(cmd);
  }

  /** Execute a command with at-most-once semantics per (client, seq). */
  execute(cmd: KvCommand): KvResult {
    const s = this.#sessions.get(cmd.client);
    if (s && cmd.seq === s.seq) return s.result; // duplicate: same answer, no effect
    if (s && cmd.seq < s.seq) return { ok: false, error: 'stale', message: `request ${cmd.seq} of ${cmd.client} superseded by ${s.seq}` };
    let result: KvResult;
    switch (cmd.op) {
      case 'read':
        result = { ok: true, value: this.get(cmd.key) };
        break;
      case 'write':
        this.#set(cmd.key, cmd.value);
        result = { ok: true, value: cmd.value };
        break;
      case 'cas': {
        const cur = this.get(cmd.key);
        if (cur === cmd.expected) {
          this.#set(cmd.key, cmd.value);
          result = { ok: true, value: cmd.value };
        } else {
          result = { ok: false, value: cur };
        }
        break;
      }
    }
    this.#sessions.set(cmd.client, { seq: cmd.seq, result });
    return result;
  }

  #set(key: string, value: KvValue): void {
    if (value === null) this.#data.delete(key);
    else this.#data.set(key, value);
  }

  /** Deterministic serialization (sorted keys), including the session table. */
  snapshot(): string {
    const data = [...this.#data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sessions = [...this.#sessions.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify({ appliedIndex: this.appliedIndex, data, sessions });
  }

  restore(s: string): void {
    const o = JSON.parse(s) as { appliedIndex: number; data: [string, string][]; sessions: [string, Session][] };
    this.#data = new Map(o.data);
    this.#sessions = new Map(o.sessions);
    this.appliedIndex = o.appliedIndex;
  }
}
