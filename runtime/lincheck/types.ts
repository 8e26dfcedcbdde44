// Public types of the linearizability checker.
//
// A history is a set of operations, each with the real-time interval during
// which its client waited for it. The checker asks whether some total order of
// the operations (a) respects real time — if A returned before B was called, A
// comes first — and (b) is legal for a sequential model of the object. That is
// linearizability (Herlihy & Wing).

/** One client-visible operation. */
export interface Operation<I, O> {
  /** Who issued it (used only for rendering and explanations). */
  client: number | string;
  input: I;
  /**
   * What the client saw. `undefined` means the outcome is unknown (timeout,
   * crash): the operation is *pending* and may have taken effect at any point
   * after `call`, or never.
   */
  output: O | undefined;
  /** Time the client issued the call. */
  call: number;
  /**
   * Time the client saw the reply; `undefined` when it never did (pending —
   * see `output`). An operation whose return or output is missing is pending.
   */
  return: number | undefined;
}

/**
 * A sequential specification of the object under test.
 *
 * `step` must be a pure function and must not mutate `state`: the checker
 * keeps earlier states around to backtrack to.
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /**
   * Apply one operation. `ok` says whether `output` is a legal result of
   * `input` in `state`; `state` is the state afterwards (ignored when not ok).
   * `output` is `undefined` for a pending operation, whose result is unknown:
   * the model should then accept the input and apply its effect (the checker
   * separately considers the case where it never took effect).
   */
  step(state: State, input: Input, output: Output | undefined): { ok: boolean; state: State };
  /**
   * Split a history into independent sub-histories (e.g. one per key) that can
   * be checked separately. A history is linearizable iff every part is
   * (P-compositionality). Every operation must land in exactly one part.
   */
  partition?(ops: Operation<Input, Output>[]): Operation<Input, Output>[][];
  /** A name for one part produced by `partition` (e.g. its key), for reports. */
  partitionKey?(ops: Operation<Input, Output>[]): string;
  /**
   * A string identifying `state` for memoization: two states with equal hashes
   * are treated as the same state, so this must be injective on states that
   * behave differently.
   */
  hash(state: State): string;
  /**
   * Optional speed-up: simplify one partition's pending operations before the
   * search. Returns one entry per operation: `null` drops it, otherwise the
   * operation to check in its place. Completed operations must come back
   * unchanged; a pending one may be replaced, e.g. by a completed operation
   * when every legal order must include it by some time, or by one with a
   * canonical input. The simplified history must be linearizable iff the
   * original is.
   */
  simplifyPending?(ops: readonly Operation<Input, Output>[]): (Operation<Input, Output> | null)[];
  /**
   * Optional speed-up: a string identifying an input. Pending operations with
   * equal keys are interchangeable (their effect depends on the input only),
   * which lets the search consider only the earliest-called one of them that
   * has not taken effect yet. Must differ for inputs that behave differently.
   */
  inputKey?(input: Input): string;
  /**
   * Optional speed-up: true if this completed operation never changes the
   * state when `step` accepts it (a read, a failed CAS). The search then takes
   * such an operation as soon as it is legal, without trying alternatives.
   */
  isReadOnly?(input: Input, output: Output): boolean;
  /** Human-readable text for an operation, e.g. `read(x) → "3"`. */
  describe?(input: Input, output: Output | undefined): string;
  /**
   * Human-readable text for a state, optionally as seen by one operation
   * (a key-value model can show only the key the operation touches).
   */
  describeState?(state: State, input?: Input): string;
}

export interface CheckOptions {
  /** Give up (result `unknown`) after this long in total. Default: no limit. */
  timeoutMs?: number;
  /**
   * Give up (result `unknown`) after this many search steps in one partition:
   * a budget that does not depend on the machine's speed (for tests). Default: no limit.
   */
  maxSteps?: number;
}

export type CheckVerdict = 'ok' | 'illegal' | 'unknown';

export interface IllegalPartition<I, O> {
  /** The partition's key (from `model.partitionKey`), or its index. */
  key: string | number;
  /** All operations of the failing partition, in their original order. */
  ops: Operation<I, O>[];
  /** The longest sequence of operations the search managed to linearize, in linearization order. */
  longestLinearizablePrefix: Operation<I, O>[];
  /** The operation that could not be placed after that prefix. */
  culprit: Operation<I, O>;
  /** One readable paragraph: which operation could not be linearized, and why. */
  explanation: string;
}

export interface CheckResult<I, O> {
  result: CheckVerdict;
  /** Number of (non-empty) partitions the history was split into. */
  partitions: number;
  /** Present when `result` is `illegal`. */
  illegalPartition?: IllegalPartition<I, O>;
}

/**
 * Event-form history: a sequence of call and return events matched by `id`.
 * Without `time` fields the position in the array is the time. A call with no
 * matching return (or a return whose `output` is undefined) is pending.
 */
export type HistoryEvent<I, O> =
  | { kind: 'call'; id: number | string; client: number | string; input: I; time?: number }
  | { kind: 'return'; id: number | string; output: O | undefined; time?: number };
