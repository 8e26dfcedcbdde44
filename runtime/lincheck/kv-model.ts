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

/**
 * Present keys and their values, sorted by key; an absent key reads as null.
 * Never mutated. An array rather than an object: the checker runs one
 * partition per key, so a state holds at most one pair there, and copying,
 * hashing and comparing such arrays is far cheaper than null-prototype
 * dictionaries (they were a quarter of a check's time).
 */
export type KvState = readonly (readonly [key: string, value: string])[];

export type KvOperation = Operation<KvInput, KvOutput>;

const EMPTY: KvState = Object.freeze([]);

function get(state: KvState, key: string): KvValue {
  for (let i = 0; i < state.length; i++) if (state[i][0] === key) return state[i][1];
  return null;
}

function put(state: KvState, key: string, value: KvValue): KvState {
  // Where the key is, or where it would go.
  let i = 0;
  while (i < state.length && state[i][0] < key) i++;
  const present = i < state.length && state[i][0] === key;
  if (present ? state[i][1] === value : value === null) return state;
  if (state.length === 0) return [[key, value!]];
  const next = state.slice();
  if (value === null) next.splice(i, 1);
  else if (present) next[i] = [key, value];
  else next.splice(i, 0, [key, value]);
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

  // Length-prefixed pairs: injective, and no escaping to pay for.
  hash(state) {
    let h = '';
    for (const [k, v] of state) h += k.length + ':' + k + v.length + ':' + v;
    return h;
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
    return state.length === 0 ? '(empty)' : state.map(([k, v]) => `${k} = ${show(v)}`).join(', ');
  },
};
