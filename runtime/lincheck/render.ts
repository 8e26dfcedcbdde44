// Text and JSON renderings of histories and results, for debugging.
import { isPending } from './history.ts';
import type { CheckResult, Model, Operation } from './types.ts';

type Describer<I, O> = Pick<Model<unknown, I, O>, 'describe'>;

function fallbackValue(v: unknown): string {
  if (v === undefined) return '?';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Text for an operation's input and output, e.g. `read(x) → "3"`. */
export function describeOperation<I, O>(op: Operation<I, O>, model?: Describer<I, O>): string {
  const output = isPending(op) ? undefined : op.output;
  if (model?.describe) return model.describe(op.input, output);
  return `${fallbackValue(op.input)} → ${fallbackValue(output)}`;
}

/** `[120, 140]`, or `[120, …]` for an operation that never returned. */
export function describeInterval(op: Operation<unknown, unknown>): string {
  return `[${op.call}, ${op.return === undefined ? '…' : op.return}]`;
}

/** `read(x) → "3" by client 2 at [120, 140]` (with `(pending)` when it never completed). */
export function describeOperationFully<I, O>(op: Operation<I, O>, model?: Describer<I, O>): string {
  const pending = isPending(op) ? ' (pending: outcome unknown)' : '';
  return `${describeOperation(op, model)} by client ${String(op.client)} at ${describeInterval(op)}${pending}`;
}

function byCallTime<I, O>(ops: readonly Operation<I, O>[]): Operation<I, O>[] {
  return ops
    .map((op, i) => ({ op, i }))
    .sort((a, b) => a.op.call - b.op.call || a.i - b.i)
    .map((x) => x.op);
}

/**
 * One line per operation, sorted by call time:
 * `[     0,     10]  client 1   write(x, "1") → ok`
 */
export function renderHistory<I, O>(ops: readonly Operation<I, O>[], model?: Describer<I, O>): string {
  const sorted = byCallTime(ops);
  const w = Math.max(1, ...sorted.map((op) => String(op.call).length), ...sorted.map((op) => String(op.return ?? '…').length));
  const cw = Math.max(1, ...sorted.map((op) => String(op.client).length));
  return sorted
    .map((op) => {
      const ret = op.return === undefined ? '…' : String(op.return);
      const pending = isPending(op) ? '  (pending)' : '';
      return `[${String(op.call).padStart(w)}, ${ret.padStart(w)}]  client ${String(op.client).padEnd(cw)}  ${describeOperation(op, model)}${pending}`;
    })
    .join('\n');
}

/** A JSON array of the operations sorted by call time; a missing return/output becomes null. */
export function historyToJSON<I, O>(ops: readonly Operation<I, O>[]): string {
  const rows = byCallTime(ops).map((op) => ({
    client: op.client,
    call: op.call,
    return: op.return ?? null,
    input: op.input,
    output: op.output ?? null,
  }));
  return '[\n' + rows.map((r) => '  ' + JSON.stringify(r)).join(',\n') + '\n]';
}

/** A multi-line report of a check result: verdict, explanation, the failing partition and the prefix. */
export function renderCheckResult<I, O>(result: CheckResult<I, O>, model?: Describer<I, O>): string {
  const lines = [`linearizability: ${result.result} (${result.partitions} partition${result.partitions === 1 ? '' : 's'})`];
  const bad = result.illegalPartition;
  if (bad) {
    lines.push(bad.explanation);
    lines.push('history of the partition:');
    lines.push(renderHistory(bad.ops, model).replace(/^/gm, '  '));
    lines.push('longest linearizable prefix:');
    bad.longestLinearizablePrefix.forEach((op, i) => lines.push(`  ${i + 1}. ${describeOperationFully(op, model)}`));
  }
  return lines.join('\n');
}
