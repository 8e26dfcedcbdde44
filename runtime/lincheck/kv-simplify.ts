// Simplifying the pending operations of a key-value history before the search
// (the `simplifyPending` hook of `kvModel`).
//
// A pending operation may take effect at any point after its call, or never,
// so every pending write multiplies the orders the search has to refute. Most
// of them cannot matter. Per key, call a value
// *wanted* when some operation needs the key to hold it: a completed read
// returns it, a successful CAS expects it, or a pending CAS expects it (and
// would then take effect). The rules, each with its soundness argument (the
// simplified history is linearizable iff the original is; dropping a pending
// operation only removes options, so for drops only "if" needs an argument):
//
// 1. A pending read is dropped: it never changes the state and, its result
//    unknown, is legal in every state.
//
// 2. A pending write of an unwanted value z is dropped when no completed
//    failed CAS can be ordered after it (each returned before its call).
//    Take a legal order, delete the write, and look at the operations up to
//    the next one that changes the state. They ran with the key at z: so no
//    completed read (z is unwanted), no successful CAS (same), no failed CAS
//    (assumption), and each pending CAS among them was a no-op (it does not
//    expect z) — delete those too. Pending reads and failed writes remain,
//    which are legal in any state; after the window the state is as before.
//
// 3. A pending CAS e → z with z unwanted is dropped when no completed failed
//    CAS expecting e can be ordered after it. As in rule 2, deleting it from
//    a legal order changes the state in the following window from z back to
//    e (if it took effect at all). No read, successful CAS or effective
//    pending CAS can be in that window; a failed CAS there does not expect e,
//    so it still fails; a pending CAS expecting e, a no-op before, would now
//    take effect: delete it too.
//
// 4. A pending CAS expecting e ≠ null is dropped when no other operation can
//    store e: the key never holds e, so the CAS is a no-op wherever it goes.
//
//    Rules 1–4 are applied until nothing changes: dropping one operation can
//    make a value unwanted or unwritable. Each round's argument holds for the
//    history the previous rounds left.
//
// 5. A remaining pending write or CAS whose new value no operation at all
//    observes (no read returns it, no CAS expects it) gets UNREAD_VALUE as its
//    new value instead. Such values are indistinguishable to every operation
//    of the key: reads never return them, CASes never expect them (so a CAS
//    fails on any of them, and a pending CAS is a no-op). Renaming them all to
//    one value keeps every order's legality and makes these writes identical,
//    so the checker's symmetry reduction (`inputKey`) treats them as one class.
//
// Not done, on purpose: completing a pending write whose value a read
// returned (it must precede that read). The search derives that anyway, and as
// a required operation the write would lose the cache's subset rule for
// optional ones (memo.ts): many such writes then make refutation exponential.
//
// Completed operations are returned unchanged, as the hook requires.
import { isPending } from './history.ts';
import type { KvInput, KvOperation, KvValue } from './kv-model.ts';

/** The shared stand-in for values no operation can observe (rule 5). */
export const UNREAD_VALUE = '\u0000unread';

/** The value an operation would store if it takes effect; undefined if it never stores one. */
function storedValue(op: KvOperation): KvValue | undefined {
  const input = op.input;
  if (input.op === 'read') return undefined;
  if (isPending(op)) return input.value;
  // A completed write or CAS reported as failed stores nothing. Anything
  // malformed counts as a store, which only makes the rules more cautious.
  const ok = 'ok' in op.output! ? op.output.ok : undefined;
  return ok === false ? undefined : input.value;
}

/** `ok` of a completed operation's output, if it has a boolean one. */
function reportedOk(op: KvOperation): boolean | undefined {
  if (isPending(op) || !('ok' in op.output!)) return undefined;
  return op.output.ok;
}

export function inputKey(input: KvInput): string {
  switch (input.op) {
    case 'read':
      return JSON.stringify(['r', input.key]);
    case 'write':
      return JSON.stringify(['w', input.key, input.value]);
    case 'cas':
      return JSON.stringify(['c', input.key, input.expected, input.value]);
    default:
      return JSON.stringify(input);
  }
}

/** What the live operations of one key want, observe and store. */
interface KeyFacts {
  /** Values some operation needs the key to hold (see the file comment). */
  wanted: Set<KvValue>;
  /** Values read back or expected by any CAS. */
  observed: Set<KvValue>;
  /** Per value: the live operations that can store it. */
  stores: Map<KvValue, number[]>;
  /** Per expected value: the latest return of a completed failed CAS expecting it. */
  lastFailedCas: Map<KvValue, number>;
  /** The latest return of any completed failed CAS. */
  lastFailedCasAny: number;
}

function factsOf(ops: readonly KvOperation[], live: number[]): KeyFacts {
  const f: KeyFacts = {
    wanted: new Set(),
    observed: new Set(),
    stores: new Map(),
    lastFailedCas: new Map(),
    lastFailedCasAny: -Infinity,
  };
  for (const i of live) {
    const op = ops[i];
    const input = op.input;
    if (input.op === 'read' && !isPending(op) && 'value' in op.output!) {
      f.observed.add(op.output.value);
      f.wanted.add(op.output.value);
    }
    if (input.op === 'cas') {
      f.observed.add(input.expected);
      const ok = reportedOk(op);
      if (isPending(op)) f.wanted.add(input.expected);
      else if (ok === false) {
        f.lastFailedCas.set(input.expected, Math.max(op.return!, f.lastFailedCas.get(input.expected) ?? -Infinity));
        f.lastFailedCasAny = Math.max(f.lastFailedCasAny, op.return!);
      } else f.wanted.add(input.expected); // successful (or malformed: treated as wanting it)
    }
    const v = storedValue(op);
    if (v !== undefined) {
      let list = f.stores.get(v);
      if (!list) f.stores.set(v, (list = []));
      list.push(i);
    }
  }
  return f;
}

/** Rules 1–4 for one pending operation: may it be dropped? */
function droppable(op: KvOperation, i: number, f: KeyFacts): boolean {
  const input = op.input;
  if (input.op === 'read') return true;
  if (input.op === 'write') return !f.wanted.has(input.value) && op.call > f.lastFailedCasAny;
  if (input.op !== 'cas') return false;
  if (!f.wanted.has(input.value) && op.call > (f.lastFailedCas.get(input.expected) ?? -Infinity)) return true;
  const storesExpected = f.stores.get(input.expected) ?? [];
  return input.expected !== null && storesExpected.every((j) => j === i);
}

function simplifyKey(ops: readonly KvOperation[], indices: number[], out: (KvOperation | null)[]): void {
  // A malformed completed read says nothing usable: leave the key alone.
  if (indices.some((i) => ops[i].input.op === 'read' && !isPending(ops[i]) && !('value' in ops[i].output!))) return;

  let live = indices;
  let facts = factsOf(ops, live);
  for (;;) {
    const dropped = live.filter((i) => isPending(ops[i]) && droppable(ops[i], i, facts));
    if (dropped.length === 0) break;
    for (const i of dropped) out[i] = null;
    live = live.filter((i) => out[i] !== null);
    facts = factsOf(ops, live);
  }

  // Rule 5.
  const canRename = !facts.observed.has(UNREAD_VALUE) && !facts.stores.has(UNREAD_VALUE);
  for (const i of live) {
    const op = ops[i];
    const input = op.input;
    if (canRename && isPending(op) && input.op !== 'read' && !facts.observed.has(input.value)) {
      out[i] = { ...op, input: { ...input, value: UNREAD_VALUE } };
    }
  }
}

/** `kvModel.simplifyPending`: the rules above, applied key by key. */
export function simplifyKvPending(ops: readonly KvOperation[]): (KvOperation | null)[] {
  const out: (KvOperation | null)[] = [...ops];
  const byKey = new Map<string, number[]>();
  ops.forEach((op, i) => {
    let list = byKey.get(op.input.key);
    if (!list) byKey.set(op.input.key, (list = []));
    list.push(i);
  });
  for (const indices of byKey.values()) simplifyKey(ops, indices, out);
  return out;
}
