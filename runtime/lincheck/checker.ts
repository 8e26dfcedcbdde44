// Linearizability checking: the Wing–Gong search with Lowe's memoization,
// applied per partition (P-compositionality, Horn & Kroening).
//
// Each operation contributes a call entry and a return entry to a doubly
// linked list sorted by time. The search walks the list from the front: a call
// entry is a candidate to linearize next (it is concurrent with everything
// before the first return entry); linearizing it "lifts" its call and return
// out of the list and restarts from the front. Reaching a return entry means
// that operation had to be linearized by now and was not, so the search
// backtracks. Lowe's cache records every (set of linearized operations, model
// state) configuration already entered; re-entering one cannot succeed where
// the first visit failed, so it is skipped.
//
// Pending operations (no return / no output) get a return entry at +infinity:
// they may be linearized anywhere after their call. They may also never take
// effect: the search succeeds as soon as every *completed* operation is
// linearized, whatever pending operations remain.
//
// Entries at equal times order calls before returns, so operations whose
// intervals merely touch are treated as concurrent (the permissive reading,
// which avoids false alarms from coarse clocks).
import { eventsToOperations, isPending, validateOperations } from './history.ts';
import { describeOperation, describeOperationFully } from './render.ts';
import type { CheckOptions, CheckResult, CheckVerdict, HistoryEvent, IllegalPartition, Model, Operation } from './types.ts';

interface Entry {
  /** Index into the partition's operation array. */
  op: number;
  /** For a call entry, its return entry; null for a return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** Cap on distinct rejecting states remembered per operation (for explanations). */
const MAX_REJECTING_STATES = 8;

/** Check Date.now() against the deadline every this many search steps. */
const CLOCK_INTERVAL = 1024;

interface SearchOutcome<S> {
  verdict: CheckVerdict;
  /** Deepest linearization reached (operation indices, in order). */
  best: number[];
  /** Per operation: distinct states (by hash) in which its step was rejected. */
  rejecting: (Map<string, S> | undefined)[];
  /** Per operation: whether some step of it was ever accepted by the model. */
  everAccepted: Uint8Array;
}

/** Deterministic 32-bit mixer (for Zobrist keys of operation indices). */
function mix(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function buildList(ops: readonly Operation<unknown, unknown>[]): Entry {
  const items: { e: Entry; time: number; isCall: boolean }[] = [];
  ops.forEach((op, i) => {
    const ret: Entry = { op: i, match: null, prev: null, next: null };
    const call: Entry = { op: i, match: ret, prev: null, next: null };
    items.push({ e: call, time: op.call, isCall: true });
    items.push({ e: ret, time: isPending(op) ? Infinity : (op.return as number), isCall: false });
  });
  items.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.e.op - b.e.op;
  });
  const head: Entry = { op: -1, match: null, prev: null, next: null };
  let last = head;
  for (const { e } of items) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function sameBits(a: Uint32Array, b: Uint32Array, words: number): boolean {
  for (let w = 0; w < words; w++) if (a[w] !== b[w]) return false;
  return true;
}

/** Is a ⊆ b? */
function isSubset(a: Uint32Array, b: Uint32Array, words: number): boolean {
  for (let w = 0; w < words; w++) if ((a[w] & ~b[w]) !== 0) return false;
  return true;
}

/** Unlink a call entry and its return entry. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Undo `lift` (entries keep their own links, so relinking in reverse order restores the list). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function search<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], deadline: number): SearchOutcome<S> {
  const n = ops.length;
  const pending = ops.map((op) => isPending(op));
  const outputs = ops.map((op, i) => (pending[i] ? undefined : op.output));
  const completedCount = pending.filter((p) => !p).length;
  const rejecting: (Map<string, S> | undefined)[] = new Array(n).fill(undefined);
  const everAccepted = new Uint8Array(n);

  // The linearized set, split in two bitsets: completed operations (indexed
  // by operation) and pending ones (indexed by their rank among pending ops).
  // The completed part also has a 53-bit Zobrist hash kept incrementally, so a
  // cache lookup needs no O(n) hashing.
  const words = Math.max(1, Math.ceil(n / 32));
  const cbits = new Uint32Array(words);
  const pendingRank = new Int32Array(n).fill(-1);
  let pendingCount = 0;
  for (let i = 0; i < n; i++) if (pending[i]) pendingRank[i] = pendingCount++;
  const pwords = Math.ceil(pendingCount / 32);
  const pbits = new Uint32Array(pwords);
  const zLo = new Uint32Array(n);
  const zHi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    zLo[i] = mix(2 * i + 1);
    zHi[i] = mix(2 * i + 2 + 0x51ed27) & 0x1fffff;
  }
  let hLo = 0;
  let hHi = 0;
  const toggle = (i: number): void => {
    const r = pendingRank[i];
    if (r >= 0) {
      pbits[r >>> 5] ^= 1 << (r & 31);
    } else {
      cbits[i >>> 5] ^= 1 << (i & 31);
      hLo = (hLo ^ zLo[i]) >>> 0;
      hHi ^= zHi[i];
    }
  };

  // Lowe's cache. A configuration is (completed set C, pending set P, state).
  // (C, P, s) can do no more than (C, P', s) for any P' ⊆ P: the remaining
  // completed operations and their real-time constraints are identical, and
  // P' merely leaves more pending operations available (each may also never
  // happen). So a configuration is skipped when one with the same C and state
  // and a subset of its P was entered before. Without pending operations this
  // is plain equality.
  interface Seen {
    state: string;
    c: Uint32Array;
    p: Uint32Array;
  }
  const cache = new Map<number, Seen[]>();
  /** Record the current configuration with the given state; false if an entered one subsumes it. */
  const remember = (stateHash: string): boolean => {
    const key = hHi * 4294967296 + hLo;
    let list = cache.get(key);
    if (!list) cache.set(key, (list = []));
    let dominated = 0;
    for (const seen of list) {
      if (seen.state !== stateHash || !sameBits(seen.c, cbits, words)) continue;
      if (isSubset(seen.p, pbits, pwords)) return false;
      if (isSubset(pbits, seen.p, pwords)) dominated++;
    }
    if (dominated > 0) {
      // Drop entries the new one subsumes, keeping lists short.
      const kept = list.filter((x) => !(x.state === stateHash && sameBits(x.c, cbits, words) && isSubset(pbits, x.p, pwords)));
      list.length = 0;
      list.push(...kept);
    }
    list.push({ state: stateHash, c: cbits.slice(), p: pbits.slice() });
    return true;
  };

  const recordRejection = (i: number, state: S): void => {
    let seen = rejecting[i];
    if (!seen) rejecting[i] = seen = new Map();
    if (seen.size < MAX_REJECTING_STATES) {
      const h = model.hash(state);
      if (!seen.has(h)) seen.set(h, state);
    }
  };

  const head = buildList(ops);
  const stack: { entry: Entry; state: S; phase: number }[] = [];
  let state = model.init();
  let linearizedCompleted = 0;
  let best: number[] = [];
  let entry = head.next;
  // Candidates (call entries before the first return entry) are tried in two
  // passes: completed operations first (phase 0), then pending ones (phase 1).
  // Phase 1 first steps *every* pending candidate and registers the resulting
  // configurations in the cache, and only then descends into them one by one.
  // Both choices tend to register configurations with fewer pending operations
  // linearized before their supersets, so the subsumption check above prunes
  // many orderings that differ only in unobserved pending operations. Many
  // pending operations can still make refuting an illegal history expensive
  // (as in every Wing–Gong-style checker); `timeoutMs` bounds that.
  let phase = 0;
  /** Per search depth: pending candidates registered by phase 1's first pass, with their next state. */
  const approved: Map<Entry, S>[] = [];
  let steps = 0;

  const descend = (e: Entry, next: S): void => {
    stack.push({ entry: e, state, phase });
    state = next;
    toggle(e.op);
    if (!pending[e.op]) linearizedCompleted++;
    lift(e);
    if (stack.length > best.length) best = stack.map((s) => s.entry.op);
    entry = head.next;
    phase = 0;
  };

  for (;;) {
    if (linearizedCompleted === completedCount) return { verdict: 'ok', best, rejecting, everAccepted };
    if (++steps % CLOCK_INTERVAL === 0 && Date.now() > deadline) {
      return { verdict: 'unknown', best, rejecting, everAccepted };
    }
    // A call entry always precedes its own return entry, so while completed
    // operations remain, the scan meets a return entry before the list ends.
    const e = entry!;
    if (e.match) {
      const i = e.op;
      entry = e.next;
      if (phase === 1) {
        const ready = approved[stack.length];
        if (pending[i] && ready.has(e)) descend(e, ready.get(e) as S);
        continue;
      }
      if (pending[i]) continue;
      const r = model.step(state, ops[i].input, outputs[i]);
      if (r.ok) {
        everAccepted[i] = 1;
        toggle(i);
        const fresh = remember(model.hash(r.state));
        toggle(i);
        if (fresh) descend(e, r.state);
      } else {
        recordRejection(i, state);
      }
    } else if (phase === 0 && pendingCount > 0) {
      // End of the candidate window: step every pending candidate in it,
      // register the new configurations, then descend into them in phase 1.
      const ready = new Map<Entry, S>();
      for (let c = head.next!; c.match; c = c.next!) {
        const i = c.op;
        if (!pending[i]) continue;
        const r = model.step(state, ops[i].input, undefined);
        if (!r.ok) {
          recordRejection(i, state);
          continue;
        }
        everAccepted[i] = 1;
        toggle(i);
        if (remember(model.hash(r.state))) ready.set(c, r.state);
        toggle(i);
      }
      approved[stack.length] = ready;
      phase = 1;
      entry = ready.size > 0 ? head.next : e;
    } else {
      // The operation owning this return entry must already have been
      // linearized: undo the most recent choice and try the next candidate.
      const top = stack.pop();
      if (!top) return { verdict: 'illegal', best, rejecting, everAccepted };
      state = top.state;
      const i = top.entry.op;
      toggle(i);
      if (!pending[i]) linearizedCompleted--;
      unlift(top.entry);
      entry = top.entry.next;
      phase = top.phase;
    }
  }
}

function describeStateOf<S, I, O>(model: Model<S, I, O>, state: S, input: I): string {
  if (model.describeState) return model.describeState(state, input);
  return model.hash(state);
}

function joinOr(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function explainFailure<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  key: string | number,
  out: SearchOutcome<S>,
): IllegalPartition<I, O> {
  // The culprit. If some completed operation was rejected by the model in
  // every reachable state where it was a candidate (and never accepted), it
  // is the clearest cause. Otherwise: at the deepest point of the search, the
  // first completed operation (in return-time order) not yet linearized — its
  // return entry is what stopped the search there.
  const earliest = (pred: (i: number) => boolean): number => {
    let found = -1;
    for (let i = 0; i < ops.length; i++) {
      if (isPending(ops[i]) || !pred(i)) continue;
      if (found < 0 || (ops[i].return as number) < (ops[found].return as number)) found = i;
    }
    return found;
  };
  const inPrefix = new Set(out.best);
  let culprit = earliest((i) => !out.everAccepted[i] && out.rejecting[i] !== undefined);
  if (culprit < 0) culprit = earliest((i) => !inPrefix.has(i));
  let state = model.init();
  for (const i of out.best) state = model.step(state, ops[i].input, isPending(ops[i]) ? undefined : ops[i].output).state;

  const op = ops[culprit];
  const input = op.input;
  const rejected = [...(out.rejecting[culprit]?.values() ?? [])].map((s) => describeStateOf(model, s, input));
  const capped = (out.rejecting[culprit]?.size ?? 0) >= MAX_REJECTING_STATES ? ' (among others)' : '';
  const prefix = out.best;
  const last = prefix.length > 0 ? ops[prefix[prefix.length - 1]] : undefined;

  let why: string;
  if (rejected.length > 0 && !out.everAccepted[culprit]) {
    why =
      rejected.length === 1 && !capped
        ? `at every point where it could have taken effect the model state was ${rejected[0]}, which does not allow that result`
        : `at every point where it could have taken effect the model state was ${joinOr(rejected)}${capped}, and none of these allows that result`;
  } else if (rejected.length > 0) {
    why = `the model rejects it in state ${joinOr(rejected)}${capped}, and every order in which it was accepted left some other operation impossible to place`;
  } else {
    why = 'every order in which it could take effect left some other operation impossible to place before it returned';
  }
  const prefixText =
    prefix.length === 0
      ? 'No operation of this partition could be linearized first'
      : `The longest linearizable prefix covers ${prefix.length} of ${ops.length} operations, ending with ${describeOperation(last!, model)} by client ${String(last!.client)}, after which the state was ${describeStateOf(model, state, input)}`;
  const explanation =
    `Partition ${typeof key === 'string' ? JSON.stringify(key) : `#${key}`}: ` +
    `${describeOperationFully(op, model)} could not be linearized: ${why}. ${prefixText}.`;

  return {
    key,
    ops: [...ops],
    longestLinearizablePrefix: prefix.map((i) => ops[i]),
    culprit: op,
    explanation,
  };
}

/**
 * Check whether `history` is linearizable with respect to `model`.
 *
 * Returns `illegal` with an explanation of the first failing partition found,
 * `unknown` if `timeoutMs` elapsed before a verdict, otherwise `ok`.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  validateOperations(history);
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const parts = (model.partition ? model.partition([...history]) : [[...history]]).filter((p) => p.length > 0);
  // Small partitions first: they are cheap, so a timeout is less likely to
  // hide a violation in one of them.
  const order = parts.map((p, i) => ({ p, i })).sort((a, b) => a.p.length - b.p.length || a.i - b.i);
  let verdict: CheckVerdict = 'ok';
  for (const { p, i } of order) {
    if (Date.now() > deadline) {
      verdict = 'unknown';
      break;
    }
    const out = search(model, p, deadline);
    if (out.verdict === 'illegal') {
      const key = model.partitionKey ? model.partitionKey(p) : i;
      return { result: 'illegal', partitions: parts.length, illegalPartition: explainFailure(model, p, key, out) };
    }
    if (out.verdict === 'unknown') {
      verdict = 'unknown';
      break;
    }
  }
  return { result: verdict, partitions: parts.length };
}

/** `checkOperations` for an event-form history (see `eventsToOperations`). */
export function checkEvents<S, I, O>(
  model: Model<S, I, O>,
  events: readonly HistoryEvent<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  return checkOperations(model, eventsToOperations(events), options);
}
