// Sequential model of the project's key-value workload: read, write and
// compare-and-set on string values, where null means "missing".
import { inputKey, simplifyKvPending, UNREAD_VALUE } from './kv-simplify.ts';
import type { Model, Operation } from './types.ts';

export type KvValue = string | null;

export type KvInput =
  | { op: 'read'; key: string }
  | { op: 'write'; key: string; value: KvValue }
  | { op: 'cas'; key: string; expected: KvValue; value: KvValue };

/** `{value}` for read, `{ok: true}` for write, `{ok}` for cas (false when current != expected). */
export type KvOutput = { value: KvValue } | { ok: boolean };

/** Present keys and their values; an absent key reads as null. Never mutated. */
export type KvState = Readonly<Record<string, string>>;

export type KvOperation = Operation<KvInput, KvOutput>;

const EMPTY: KvState = Object.freeze(Object.create(null) as Record<string, string>);

function get(state: KvState, key: string): KvValue {
  return Object.hasOwn(state, key) ? state[key] : null;
}

function put(state: KvState, key: string, value: KvValue): KvState {
  if (get(state, key) === value) return state;
  const next = Object.assign(Object.create(null) as Record<string, string>, state);
  if (value === null) delete next[key];
  else next[key] = value;
  return next;
}

function show(v: KvValue): string {
  if (v === UNREAD_VALUE) return '(a value no read returned)';
  return v === null ? 'null' : JSON.stringify(v);
}

function okOf(output: KvOutput): boolean | undefined {
  return 'ok' in output && typeof output.ok === 'boolean' ? output.ok : undefined;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => EMPTY,

  step(state, input, output) {
    const current = get(state, input.key);
    switch (input.op) {
      case 'read': {
        if (output === undefined) return { ok: true, state };
        return { ok: 'value' in output && output.value === current, state };
      }
      case 'write': {
        // A write reported as failed definitely did not happen: it is legal
        // anywhere and changes nothing.
        if (output !== undefined && okOf(output) === false) return { ok: true, state };
        return { ok: true, state: put(state, input.key, input.value) };
      }
      case 'cas': {
        const matches = current === input.expected;
        if (output === undefined) {
          // Outcome unknown: if it took effect here, it succeeded iff current == expected.
          return { ok: true, state: matches ? put(state, input.key, input.value) : state };
        }
        const ok = okOf(output);
        if (ok === true) return { ok: matches, state: matches ? put(state, input.key, input.value) : state };
        if (ok === false) return { ok: !matches, state };
        return { ok: false, state };
      }
      default:
        return { ok: false, state };
    }
  },

  partition(ops) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of ops) {
      let list = byKey.get(op.input.key);
      if (!list) byKey.set(op.input.key, (list = []));
      list.push(op);
    }
    return [...byKey.values()];
  },

  partitionKey: (ops) => ops[0]?.input.key ?? '',

  simplifyPending: simplifyKvPending,

  inputKey,

  // Reads, and writes or CASes reported as failed.
  isReadOnly: (input, output) => input.op === 'read' || okOf(output) === false,

  hash(state) {
    const keys = Object.keys(state);
    if (keys.length === 0) return '{}';
    if (keys.length > 1) keys.sort();
    return JSON.stringify(keys.map((k) => [k, state[k]]));
  },

  describe(input, output) {
    let call: string;
    switch (input.op) {
      case 'read':
        call = `read(${input.key})`;
        break;
      case 'write':
        call = `write(${input.key}, ${show(input.value)})`;
        break;
      case 'cas':
        call = `cas(${input.key}, ${show(input.expected)} → ${show(input.value)})`;
        break;
      default:
        call = JSON.stringify(input);
    }
    let result: string;
    if (output === undefined) result = '?';
    else if ('value' in output) result = show(output.value);
    else result = input.op === 'write' ? (output.ok ? 'ok' : 'failed') : output.ok ? 'ok' : 'failed';
    return `${call} → ${result}`;
  },

  describeState(state, input) {
    if (input) return `${input.key} = ${show(get(state, input.key))}`;
    const keys = Object.keys(state).sort();
    return keys.length === 0 ? '(empty)' : keys.map((k) => `${k} = ${show(state[k])}`).join(', ');
  },
};
