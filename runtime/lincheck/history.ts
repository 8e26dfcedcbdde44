// History plumbing: event-form conversion and validation.
import type { HistoryEvent, Operation } from './types.ts';

/** True when the operation's effect is unknown (no return time or no output). */
export function isPending(op: Operation<unknown, unknown>): boolean {
  return op.return === undefined || op.output === undefined;
}

/**
 * Convert an event-form history to operations. Event times default to array
 * positions; times must be given on all events or on none.
 */
export function eventsToOperations<I, O>(events: readonly HistoryEvent<I, O>[]): Operation<I, O>[] {
  const timed = events.filter((e) => e.time !== undefined).length;
  if (timed !== 0 && timed !== events.length) {
    throw new Error('eventsToOperations: give a time on every event or on none');
  }
  const byId = new Map<number | string, Operation<I, O>>();
  const ops: Operation<I, O>[] = [];
  events.forEach((e, i) => {
    const t = e.time ?? i;
    if (e.kind === 'call') {
      if (byId.has(e.id)) throw new Error(`eventsToOperations: duplicate call id ${String(e.id)}`);
      const op: Operation<I, O> = { client: e.client, input: e.input, output: undefined, call: t, return: undefined };
      byId.set(e.id, op);
      ops.push(op);
    } else {
      const op = byId.get(e.id);
      if (!op) throw new Error(`eventsToOperations: return for unknown call id ${String(e.id)}`);
      if (op.return !== undefined) throw new Error(`eventsToOperations: duplicate return for id ${String(e.id)}`);
      if (t < op.call) throw new Error(`eventsToOperations: return of id ${String(e.id)} precedes its call`);
      op.return = t;
      op.output = e.output;
    }
  });
  return ops;
}

/** Throw on malformed operations (non-finite call time, return before call). */
export function validateOperations(ops: readonly Operation<unknown, unknown>[]): void {
  ops.forEach((op, i) => {
    if (typeof op.call !== 'number' || Number.isNaN(op.call) || !Number.isFinite(op.call)) {
      throw new Error(`operation ${i}: call time must be a finite number`);
    }
    if (op.return !== undefined && (typeof op.return !== 'number' || Number.isNaN(op.return) || op.return < op.call)) {
      throw new Error(`operation ${i}: return time must be a number not before its call`);
    }
  });
}
