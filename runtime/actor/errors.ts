// Errors the runtime raises, and faithful transport of any error across
// threads: name, message, stack, cause (recursively) and custom own fields.

export class AskTimeoutError extends Error {
  override name = 'AskTimeoutError';
  readonly target: string;
  readonly timeoutMs: number;
  constructor(target: string, timeoutMs: number) {
    super(`ask to ${target} timed out after ${timeoutMs} ms`);
    this.target = target;
    this.timeoutMs = timeoutMs;
  }
}

export class ActorStoppedError extends Error {
  override name = 'ActorStoppedError';
  readonly target: string;
  constructor(target: string, detail = 'is not running') {
    super(`actor ${target} ${detail}`);
    this.target = target;
  }
}

export class ActorCrashedError extends Error {
  override name = 'ActorCrashedError';
  readonly target: string;
  constructor(target: string, cause: unknown) {
    super(`actor ${target} crashed before replying`, { cause });
    this.target = target;
  }
}

export class WorkerDiedError extends Error {
  override name = 'WorkerDiedError';
  readonly worker: string;
  readonly exitCode: number | null;
  constructor(worker: string, exitCode: number | null, detail: string) {
    super(`worker ${worker} died: ${detail}`);
    this.worker = worker;
    this.exitCode = exitCode;
  }
}

export class MailboxFullError extends Error {
  override name = 'MailboxFullError';
  readonly target: string;
  readonly capacity: number;
  constructor(target: string, capacity: number) {
    super(`mailbox of ${target} is full (capacity ${capacity})`);
    this.target = target;
    this.capacity = capacity;
  }
}

export class StashOverflowError extends Error {
  override name = 'StashOverflowError';
}

export class SpawnError extends Error {
  override name = 'SpawnError';
}

export interface SerializedError {
  $error: 1;
  name: string;
  message: string;
  stack?: string;
  cause?: unknown;
  fields?: Record<string, unknown>;
}

const STANDARD = new Set(['name', 'message', 'stack', 'cause']);
/** How deep causes (and errors in fields) are followed; beyond it only name and message are kept. */
const MAX_DEPTH = 8;

/** Turn any thrown value into plain data that survives structured clone intact. */
export function serializeError(e: unknown, depth = 0): SerializedError {
  if (!(e instanceof Error)) {
    return { $error: 1, name: 'NonError', message: describe(e) };
  }
  const out: SerializedError = { $error: 1, name: e.name, message: e.message };
  if (e.stack !== undefined) out.stack = e.stack;
  // Past the depth limit stop following causes and fields: before, the limit only
  // switched to cloneable(), which called serializeError again, so a cyclic cause
  // (err.cause = err) overflowed the stack.
  if (depth >= MAX_DEPTH) return out;
  if ('cause' in e && e.cause !== undefined) out.cause = cloneable(e.cause, depth + 1);
  for (const k of Object.keys(e)) {
    if (STANDARD.has(k)) continue;
    (out.fields ??= {})[k] = cloneable((e as unknown as Record<string, unknown>)[k], depth + 1);
  }
  return out;
}

/** Rebuild an Error from serializeError's output: same name, message, stack, cause and fields. */
export function deserializeError(s: SerializedError): Error {
  const e = new Error(s.message);
  // Define name as an own property so `err.name` matches even without the original class.
  Object.defineProperty(e, 'name', { value: s.name, enumerable: false, writable: true, configurable: true });
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.cause !== undefined) {
    (e as { cause?: unknown }).cause = isSerializedError(s.cause) ? deserializeError(s.cause) : s.cause;
  }
  if (s.fields) Object.assign(e, s.fields);
  return e;
}

export function isSerializedError(x: unknown): x is SerializedError {
  return typeof x === 'object' && x !== null && (x as { $error?: unknown }).$error === 1;
}

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(describe(e));
}

function describe(v: unknown): string {
  try {
    return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Keep values structured clone can carry; replace functions/symbols with a description. */
function cloneable(v: unknown, depth: number): unknown {
  if (v === null || v === undefined) return v;
  const t = typeof v;
  if (t === 'function' || t === 'symbol') return `[${t}]`;
  if (v instanceof Error) return serializeError(v, depth);
  try {
    structuredClone(v);
    return v;
  } catch {
    return describe(v);
  }
}
