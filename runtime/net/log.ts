// Logger shape used by runtime/net. Structurally identical to the actor
// runtime's Logger, so either can be passed in.
export interface NetLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const nullLogger: NetLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Shorten untrusted text before it goes into a log line. */
export function clip(s: unknown, max = 200): string {
  const str = typeof s === 'string' ? s : String(s);
  return str.length > max ? `${str.slice(0, max)}…(${str.length} chars)` : str;
}
