// Explaining an illegal partition: which operation could not be placed, and why.
import { isPending } from './history.ts';
import { describeOperation, describeOperationFully } from './render.ts';
import type { IllegalPartition, Model, Operation } from './types.ts';

/** What the search learned, in terms of the partition's operation indices. */
export interface SearchOutcome<S> {
  verdict: 'ok' | 'illegal' | 'unknown';
  /** Deepest linearization reached (operation indices, in order). */
  best: number[];
  /** Per operation: distinct states (by hash) in which its step was rejected. */
  rejecting: (Map<string, S> | undefined)[];
  /** Per operation: whether some step of it was ever accepted by the model. */
  everAccepted: Uint8Array;
}

/** Cap on distinct rejecting states remembered per operation. */
export const MAX_REJECTING_STATES = 8;

function describeStateOf<S, I, O>(model: Model<S, I, O>, state: S, input: I): string {
  if (model.describeState) return model.describeState(state, input);
  return model.hash(state);
}

function joinOr(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

export function explainFailure<S, I, O>(
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
