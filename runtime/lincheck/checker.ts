// Linearizability checking: the Wing–Gong search with Lowe's memoization,
// applied per partition (P-compositionality, Horn & Kroening).
//
// Each operation contributes a call entry and a return entry to a doubly
// linked list sorted by time. The candidates to linearize next are the call
// entries before the first return entry (those operations are concurrent with
// everything not yet linearized); linearizing one "lifts" its call and return
// out of the list. When no candidate works, the search backtracks: the
// operation owning the first return entry had to be linearized by now. Lowe's
// cache (memo.ts) skips configurations already entered.
//
// Pending operations (no return / no output) are *optional*: their return
// entry is at +infinity, so they may be linearized anywhere after their call,
// and the search succeeds as soon as every completed (*required*) operation
// is linearized, whatever optional operations remain.
//
// Entries at equal times order calls before returns, so operations whose
// intervals merely touch are treated as concurrent (the permissive reading,
// which avoids false alarms from coarse clocks).
//
// Optional model hooks shrink the search, each with its soundness argument
// where it is used: `simplifyPending` drops pending operations that cannot
// matter before the search (kv-simplify.ts); pending operations with equal
// `inputKey` are searched as one class (`findEarlierTwins`); an operation that
// `isReadOnly` is taken as soon as it is legal (`frameAt`). `frameAt` also
// orders candidates so that witnesses are found without much backtracking.
import { explainFailure, MAX_REJECTING_STATES, type SearchOutcome } from './explain.ts';
import { eventsToOperations, isPending, validateOperations } from './history.ts';
import { LinearizedSet } from './memo.ts';
import type { CheckOptions, CheckResult, CheckVerdict, HistoryEvent, Model, Operation } from './types.ts';

interface Entry {
  /** Index into the partition's operation array. */
  op: number;
  /** For a call entry, its return entry; null for a return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** Check Date.now() against the deadline every this many search steps. */
const CLOCK_INTERVAL = 1024;

/** The time-sorted entry list (returned: its head sentinel) and each operation's call entry and return rank. */
function buildList(ops: readonly Operation<unknown, unknown>[]): { head: Entry; calls: Entry[]; returnRank: Int32Array } {
  const items: { e: Entry; time: number; isCall: boolean }[] = [];
  const calls: Entry[] = [];
  ops.forEach((op, i) => {
    const ret: Entry = { op: i, match: null, prev: null, next: null };
    const call: Entry = { op: i, match: ret, prev: null, next: null };
    calls.push(call);
    items.push({ e: call, time: op.call, isCall: true });
    items.push({ e: ret, time: isPending(op) ? Infinity : (op.return as number), isCall: false });
  });
  items.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.e.op - b.e.op;
  });
  const head: Entry = { op: -1, match: null, prev: null, next: null };
  const returnRank = new Int32Array(ops.length);
  let last = head;
  items.forEach(({ e, isCall }, rank) => {
    if (!isCall) returnRank[e.op] = rank;
    last.next = e;
    e.prev = last;
    last = e;
  });
  return { head, calls, returnRank };
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

/**
 * Per pending operation: the pending operation with the same input key called
 * just before it (ties broken by index), or -1.
 *
 * The search takes a pending operation only once its earlier twin has taken
 * effect. Sound: in a legal order that uses a pending operation x while its
 * earlier twin y is unused, put y in x's place; if y is used later, swap the
 * two. Same input, so same effects; y's call is no later than x's and neither
 * has a return, so real-time order still holds. Applying this repeatedly turns
 * any legal order into one the search considers. It also combines with the
 * subsumption cache: where a configuration that took x is dominated by one
 * that did not, the latter can take y instead and still dominate.
 */
function findEarlierTwins<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], optional: readonly boolean[]): Int32Array {
  const twin = new Int32Array(ops.length).fill(-1);
  if (!model.inputKey) return twin;
  const order = ops.map((_, i) => i).filter((i) => optional[i]);
  order.sort((a, b) => ops[a].call - ops[b].call || a - b);
  const lastWithKey = new Map<string, number>();
  for (const i of order) {
    const key = model.inputKey(ops[i].input);
    twin[i] = lastWithKey.get(key) ?? -1;
    lastWithKey.set(key, i);
  }
  return twin;
}

/** One search node: the state reached and the candidates still to try from it. */
interface Frame<S> {
  state: S;
  /** Candidates in the order to try them. */
  candidates: number[];
  /** Next candidate to try. */
  pos: number;
  /** Candidates already stepped from `state`: the state after each, or undefined to skip it. */
  after: Map<number, S | undefined>;
  /** Whether the optional candidates have been stepped and entered (see `stepOptionals`). */
  optionalsStepped: boolean;
  /** The candidate this node descended into, while its child is explored. */
  took: number;
}

/** How many rejected required candidates per node the search looks for enablers of. */
const MAX_ENABLER_TARGETS = 4;

function search<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], deadline: number, maxSteps: number): SearchOutcome<S> {
  const n = ops.length;
  const optional = ops.map((op) => isPending(op));
  const outputs = ops.map((op, i) => (optional[i] ? undefined : op.output));
  const requiredCount = optional.filter((p) => !p).length;
  const rejecting: (Map<string, S> | undefined)[] = new Array(n).fill(undefined);
  const everAccepted = new Uint8Array(n);
  const linearized = new LinearizedSet(optional);
  const earlierTwin = findEarlierTwins(model, ops, optional);
  const readOnly = ops.map((op, i) => !optional[i] && model.isReadOnly?.(op.input, op.output as O) === true);
  const { head, calls, returnRank } = buildList(ops);
  let linearizedRequired = 0;
  // The deepest stack so far, for the explanation. Copied out lazily (only
  // when the search is about to leave it): copying at every new depth made a
  // long linear search quadratic.
  let best: number[] = [];
  let bestDepth = 0;
  let bestLive = false;
  const keepBest = (): void => {
    if (!bestLive) return;
    best = new Array<number>(bestDepth);
    for (let d = 0; d < bestDepth; d++) best[d] = stack[d].took;
    bestLive = false;
  };

  const recordRejection = (i: number, state: S): void => {
    let seen = rejecting[i];
    if (!seen) rejecting[i] = seen = new Map();
    if (seen.size < MAX_REJECTING_STATES) {
      const h = model.hash(state);
      if (!seen.has(h)) seen.set(h, state);
    }
  };

  /** Step operation i from `state`: the state after, or undefined if the model rejects it. */
  const step = (i: number, state: S): S | undefined => {
    const r = model.step(state, ops[i].input, outputs[i]);
    if (!r.ok) {
      recordRejection(i, state);
      return undefined;
    }
    everAccepted[i] = 1;
    return r.state;
  };

  /** Would the configuration after taking i into `next` be new? Enters it if so. */
  const enter = (i: number, next: S): boolean => {
    linearized.toggle(i);
    const fresh = linearized.enter(model.hash(next));
    linearized.toggle(i);
    return fresh;
  };

  // Optional candidates are all stepped and their configurations entered in
  // the cache before any is explored. Entering the configurations with fewer
  // optional operations before their supersets lets the subset rule prune
  // orders that differ only in optional operations nobody needed.
  const stepOptionals = (f: Frame<S>): void => {
    f.optionalsStepped = true;
    for (const i of f.candidates) {
      if (!optional[i]) continue;
      const next = step(i, f.state);
      f.after.set(i, next !== undefined && enter(i, next) ? next : undefined);
    }
  };

  // Candidate order (any order is complete; this one finds witnesses fast):
  // 1. Optional operations that make a rejected required candidate legal
  //    (e.g. the pending write whose value a read returned), so the search
  //    does not first exhaust every other order before trying them.
  // 2. Required operations by return time, earliest first: the most urgent
  //    first, and one with a late deadline (a long call) is placed just in
  //    time rather than early, where later writes would overwrite it.
  // 3. Other optional operations: taking none of them is always possible.
  const frameAt = (state: S): Frame<S> => {
    const required: number[] = [];
    const optionalOnes: number[] = [];
    for (let e = head.next; e && e.match; e = e.next) {
      const i = e.op;
      if (!optional[i]) required.push(i);
      else if (earlierTwin[i] < 0 || linearized.has(earlierTwin[i])) optionalOnes.push(i);
    }
    required.sort((a, b) => returnRank[a] - returnRank[b]);
    const f: Frame<S> = { state, candidates: required.concat(optionalOnes), pos: 0, after: new Map(), optionalsStepped: false, took: -1 };
    const rejected: number[] = [];
    for (const i of required) {
      const next = step(i, state);
      f.after.set(i, next);
      if (next === undefined && rejected.length < MAX_ENABLER_TARGETS) rejected.push(i);
      if (next !== undefined && readOnly[i]) {
        // A read-only operation legal now is taken now, with no alternative.
        // Sound: given any completion that takes it later, move it to the
        // front. Real time allows that (it is a candidate, so nothing left
        // returned before its call), it is legal here, and it changes no
        // state, neither here nor where it was, so the rest runs as before.
        f.candidates = [i];
        return f;
      }
    }
    if (rejected.length === 0 || optionalOnes.length === 0) return f;
    stepOptionals(f);
    const enablers = optionalOnes.filter((p) => {
      const mid = f.after.get(p);
      return mid !== undefined && rejected.some((r) => model.step(mid, ops[r].input, outputs[r]).ok);
    });
    if (enablers.length > 0) {
      const isEnabler = new Set(enablers);
      f.candidates = enablers.concat(f.candidates.filter((i) => !isEnabler.has(i)));
    }
    return f;
  };

  /** The state after candidate i from f, or undefined if it is rejected or its configuration was entered. */
  const tryCandidate = (f: Frame<S>, i: number): S | undefined => {
    if (optional[i]) {
      if (!f.optionalsStepped) stepOptionals(f);
      return f.after.get(i);
    }
    const next = f.after.get(i);
    return next !== undefined && enter(i, next) ? next : undefined;
  };

  if (requiredCount === 0) return { verdict: 'ok', best, rejecting, everAccepted };
  const stack: Frame<S>[] = [frameAt(model.init())];
  let steps = 0;
  for (;;) {
    if ((++steps % CLOCK_INTERVAL === 0 && Date.now() > deadline) || steps > maxSteps) {
      keepBest();
      return { verdict: 'unknown', best, rejecting, everAccepted };
    }
    const f = stack[stack.length - 1];
    if (f.pos === f.candidates.length) {
      // Every candidate failed: the first return entry's operation cannot be
      // placed in time. Undo the parent's choice.
      keepBest();
      stack.pop();
      const parent = stack[stack.length - 1];
      if (!parent) return { verdict: 'illegal', best, rejecting, everAccepted };
      const i = parent.took;
      linearized.toggle(i);
      unlift(calls[i]);
      if (!optional[i]) linearizedRequired--;
      continue;
    }
    const i = f.candidates[f.pos++];
    const next = tryCandidate(f, i);
    if (next === undefined) continue;
    f.took = i;
    linearized.toggle(i);
    lift(calls[i]);
    if (!optional[i]) linearizedRequired++;
    if (stack.length > bestDepth) {
      bestDepth = stack.length;
      bestLive = true;
    }
    if (linearizedRequired === requiredCount) {
      keepBest();
      return { verdict: 'ok', best, rejecting, everAccepted };
    }
    stack.push(frameAt(next));
  }
}

/** Simplify the partition's pending operations (if the model can), search, and report in the partition's indices. */
function searchPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], deadline: number, maxSteps: number): SearchOutcome<S> {
  if (!model.simplifyPending) return search(model, ops, deadline, maxSteps);
  const simplified = model.simplifyPending(ops);
  const origin: number[] = [];
  simplified.forEach((op, i) => {
    if (op !== null) origin.push(i);
  });
  const kept = origin.map((i) => simplified[i]!);
  validateOperations(kept);
  const out = search(model, kept, deadline, maxSteps);
  const rejecting: SearchOutcome<S>['rejecting'] = new Array(ops.length).fill(undefined);
  const everAccepted = new Uint8Array(ops.length);
  origin.forEach((i, j) => {
    rejecting[i] = out.rejecting[j];
    everAccepted[i] = out.everAccepted[j];
  });
  return { verdict: out.verdict, best: out.best.map((j) => origin[j]), rejecting, everAccepted };
}

/**
 * Check whether `history` is linearizable with respect to `model`.
 *
 * Returns `illegal` with an explanation of the first failing partition found,
 * `unknown` if `timeoutMs` elapsed or `maxSteps` ran out before a verdict, otherwise `ok`.
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
    const out = searchPartition(model, p, deadline, options.maxSteps ?? Infinity);
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
