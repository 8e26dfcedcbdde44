// The sequential model of CDB objects for the linearizability checker: per
// object, its value (here the spec's name) and revision. Revisions are the
// Raft index of the change, assigned by the cluster, so the model checks
// what a client can rely on: a read returns the value and revision of the
// latest write before it; a write's revision is above every earlier change's;
// a compare-and-set (expectRevision) succeeds exactly when the revision
// matches, and a conflict reports the actual revision.
//
// A write whose outcome is unknown (pending) may have taken effect with a
// revision nobody saw: the model then keeps the revision open ('?') and binds
// it at the first operation that observes it.
import type { Model, Operation } from '../../runtime/lincheck/types.ts';

export type CdbInput =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expect: number; value: string }
  | { op: 'delete'; key: string };

export type CdbOutput =
  | { op: 'get'; value: string | null; revision: number }
  | { ok: true; revision: number }
  | { ok: false; code: 'conflict' | 'not-found'; actual: number };

/** null: absent. rev '?' = some revision above `floor` nobody has seen yet. */
export interface CdbState {
  value: string | null;
  rev: number | '?';
  /** The latest change's revision known to precede anything that comes next. */
  floor: number;
}

export type CdbOperation = Operation<CdbInput, CdbOutput>;

const INIT: CdbState = { value: null, rev: 0, floor: 0 };

/** Does the state's revision match `r` (binding an unseen one)? */
function revMatches(s: CdbState, r: number): boolean {
  return s.rev === '?' ? r > s.floor : s.rev === r;
}

export const cdbModel: Model<CdbState, CdbInput, CdbOutput> = {
  init: () => INIT,

  step(s, input, out) {
    const no = { ok: false, state: s };
    if (input.op === 'get') {
      if (out === undefined) return { ok: true, state: s };
      if (!('op' in out)) return no;
      if (out.value !== s.value) return no;
      if (s.value === null) return { ok: true, state: s };
      if (!revMatches(s, out.revision)) return no;
      return { ok: true, state: { value: s.value, rev: out.revision, floor: Math.max(s.floor, out.revision) } };
    }
    if (input.op === 'put') {
      if (out === undefined) return { ok: true, state: { value: input.value, rev: '?', floor: s.floor } };
      if (!('ok' in out) || !out.ok || out.revision <= s.floor || (s.rev !== '?' && out.revision <= s.rev)) return no;
      return { ok: true, state: { value: input.value, rev: out.revision, floor: out.revision } };
    }
    if (input.op === 'cas') {
      const present = s.value !== null;
      const matches = input.expect === 0 ? !present : present && revMatches(s, input.expect);
      if (out === undefined) return matches ? { ok: true, state: { value: input.value, rev: '?', floor: Math.max(s.floor, input.expect) } } : { ok: true, state: s };
      if (!('ok' in out)) return no;
      if (out.ok) {
        if (!matches || out.revision <= Math.max(s.floor, input.expect)) return no;
        return { ok: true, state: { value: input.value, rev: out.revision, floor: out.revision } };
      }
      if (out.code !== 'conflict') return no;
      // The conflict names the actual revision (0: absent); it must differ from the expected one.
      if (out.actual === input.expect) return no;
      if (out.actual === 0) return present ? no : { ok: true, state: s };
      if (!present || !revMatches(s, out.actual)) return no;
      return { ok: true, state: { value: s.value, rev: out.actual, floor: Math.max(s.floor, out.actual) } };
    }
    // delete
    if (out === undefined) return { ok: true, state: s.value === null ? s : { value: null, rev: 0, floor: s.rev === '?' ? s.floor : Math.max(s.floor, s.rev) } };
    if (!('ok' in out)) return no;
    if (out.ok) {
      if (s.value === null || out.revision <= s.floor || (s.rev !== '?' && out.revision <= s.rev)) return no;
      return { ok: true, state: { value: null, rev: 0, floor: out.revision } };
    }
    return out.code === 'not-found' && s.value === null ? { ok: true, state: s } : no;
  },

  partition(ops) {
    const by = new Map<string, CdbOperation[]>();
    for (const o of ops) {
      let l = by.get(o.input.key);
      if (!l) by.set(o.input.key, (l = []));
      l.push(o);
    }
    return [...by.values()];
  },

  partitionKey: (ops) => ops[0]?.input.key ?? '',

  hash: (s) => `${s.value === null ? '\u0000' : s.value}|${s.rev}|${s.floor}`,

  isReadOnly: (input, out) => input.op === 'get' || ('ok' in out && !out.ok),

  describe(input, out) {
    const o = out === undefined ? '(unknown)' : JSON.stringify(out);
    if (input.op === 'get') return `get(${input.key}) → ${o}`;
    if (input.op === 'put') return `put(${input.key}, ${JSON.stringify(input.value)}) → ${o}`;
    if (input.op === 'cas') return `cas(${input.key}, rev ${input.expect}, ${JSON.stringify(input.value)}) → ${o}`;
    return `delete(${input.key}) → ${o}`;
  },

  describeState: (s) => (s.value === null ? 'absent' : `${JSON.stringify(s.value)} at revision ${s.rev}`),
};
