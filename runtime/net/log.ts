// Logger shape used by runtime/net. Structurally identical to the actor
// runtime's Logger, so either can be passed in.
import { realClock } from './clock.ts';
import type { NetClock } from './clock.ts';
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

// ------------------------------------------------------- repeated warnings
//
// A listener under attack (or a peer stuck in a failure loop) repeats the
// same warning: 200 refused handshakes would be 200 identical lines, and an
// attacker who can make us log can fill the disk. RepeatAggregator keys each
// warning by (kind, reason, source):
//  - the first occurrence is written at once, exactly as the caller gave it;
//  - repeats within the window (1 s) are only counted; when the window closes
//    one summary line says how many there were: `refused handshake from
//    127.0.0.1: bad api key ×200 in 37 ms`;
//  - while repeats go on, the key stays hot and its window doubles (up to
//    60 s): a sustained flood costs one line per window, not one per event;
//    a window without repeats forgets the key, so the next occurrence is
//    written at once again;
//  - each kind tracks at most `keysPerKind` (reason, source) keys; further
//    ones are counted together under one "(various)" key;
//  - each kind writes at most `linesPerKind` lines per `rateWindowMs`; lines
//    beyond are counted, and one line per rate window reports them.
// So the lines a kind can write are bounded whatever arrives. Kinds are fixed
// strings chosen by the code (the message of the warning); reasons and
// sources may come from the network and are clipped by the caller.
//
// The core is pure (time from an injected clock, lines to an injected emit);
// RepeatLog is the shell that drives it with a timer.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RepeatLogOptions {
  /** First summary window, from the first occurrence. Default 1000 ms. */
  windowMs: number;
  /** Longest window while repeats go on (each window doubles). Default 60000 ms. */
  maxWindowMs: number;
  /** Lines (first occurrences and summaries) one kind may write per rate window. Default 20. */
  linesPerKind: number;
  /** Default 60000 ms. */
  rateWindowMs: number;
  /** Distinct (reason, source) keys tracked per kind; the rest share one key. Default 64. */
  keysPerKind: number;
}

export const DEFAULT_REPEAT_LOG: RepeatLogOptions = { windowMs: 1000, maxWindowMs: 60_000, linesPerKind: 20, rateWindowMs: 60_000, keysPerKind: 64 };

export interface LogRecord {
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

interface KeyState {
  reason: string;
  source: string;
  level: LogLevel;
  /** Occurrences in the current window. */
  count: number;
  firstAt: number;
  lastAt: number;
  /** The window's first occurrence was written at once (it opened the key). */
  announced: boolean;
  windowMs: number;
  end: number;
}

interface KindState {
  keys: Map<string, KeyState>;
  rateStart: number;
  lines: number;
  droppedLines: number;
  droppedOccurrences: number;
  level: LogLevel;
}

const OTHER = '\u0000other';

export class RepeatAggregator {
  readonly options: RepeatLogOptions;
  #now: () => number;
  #emit: (r: LogRecord) => void;
  #kinds = new Map<string, KindState>();

  constructor(now: () => number, emit: (r: LogRecord) => void, options: Partial<RepeatLogOptions> = {}) {
    const o = { ...DEFAULT_REPEAT_LOG, ...options };
    if (!(o.windowMs > 0) || !(o.maxWindowMs >= o.windowMs) || !(o.linesPerKind >= 1) || !(o.rateWindowMs > 0) || !(o.keysPerKind >= 1)) {
      throw new RangeError(`invalid repeat-log options ${JSON.stringify(o)}`);
    }
    this.options = o;
    this.#now = now;
    this.#emit = emit;
  }

  /**
   * One occurrence of warning `kind` for (reason, source). Written at once
   * as {level, msg: kind, fields} if the key is new, otherwise counted.
   */
  note(level: LogLevel, kind: string, reason: string, source: string, fields?: Record<string, unknown>): void {
    const now = this.#now();
    let k = this.#kinds.get(kind);
    if (!k) {
      k = { keys: new Map(), rateStart: now, lines: 0, droppedLines: 0, droppedOccurrences: 0, level };
      this.#kinds.set(kind, k);
    }
    this.#closeDue(kind, k, now);
    let id = `${reason}\u0000${source}`;
    let s = k.keys.get(id);
    if (!s && k.keys.size >= this.options.keysPerKind + (k.keys.has(OTHER) ? 1 : 0)) {
      id = OTHER;
      s = k.keys.get(OTHER);
      reason = '(various reasons)';
      source = '(various sources)';
      fields = { reason, source, note: `more than ${this.options.keysPerKind} distinct reasons and sources; counted together` };
    }
    if (s) {
      if (s.count === 0) s.firstAt = now;
      s.count++;
      s.lastAt = now;
      return;
    }
    const w = this.options.windowMs;
    k.keys.set(id, { reason, source, level, count: 1, firstAt: now, lastAt: now, announced: true, windowMs: w, end: now + w });
    this.#write(kind, k, now, { level, msg: kind, ...(fields ? { fields } : {}) }, 1);
  }

  /** Write the summaries (and rate-limit reports) that are due now. */
  tick(): void {
    const now = this.#now();
    for (const [kind, k] of this.#kinds) this.#closeDue(kind, k, now);
  }

  /** When tick() next has something to write; null when nothing is pending. */
  nextDue(): number | null {
    let due: number | null = null;
    for (const k of this.#kinds.values()) {
      for (const s of k.keys.values()) if (due === null || s.end < due) due = s.end;
      if (k.droppedLines > 0) {
        const r = k.rateStart + this.options.rateWindowMs;
        if (due === null || r < due) due = r;
      }
    }
    return due;
  }

  /** Write every pending summary now (at shutdown), bypassing the windows. */
  flush(): void {
    const now = this.#now();
    for (const [kind, k] of this.#kinds) {
      for (const [id, s] of k.keys) {
        this.#summarise(kind, k, s, now);
        k.keys.delete(id);
      }
      this.#report(kind, k, now);
    }
  }

  #closeDue(kind: string, k: KindState, now: number): void {
    for (const [id, s] of k.keys) {
      if (s.end > now) continue;
      if (this.#summarise(kind, k, s, now)) {
        // Repeats went on: stay quiet for a longer window, then summarise again.
        s.windowMs = Math.min(this.options.maxWindowMs, s.windowMs * 2);
        s.count = 0;
        s.announced = false;
        s.end = now + s.windowMs;
      } else {
        k.keys.delete(id);
      }
    }
    if (now >= k.rateStart + this.options.rateWindowMs) this.#report(kind, k, now);
  }

  /** Writes the window's summary if it counted more than it showed; true if it did. */
  #summarise(kind: string, k: KindState, s: KeyState, now: number): boolean {
    if (s.count <= (s.announced ? 1 : 0)) return false;
    const spanMs = Math.max(0, s.lastAt - s.firstAt);
    this.#write(
      kind,
      k,
      now,
      {
        level: s.level,
        msg: `${kind} from ${s.source}: ${s.reason} ×${s.count} in ${formatSpan(spanMs)}`,
        fields: { kind, reason: s.reason, source: s.source, count: s.count, spanMs: Math.round(spanMs), summary: true },
      },
      s.count,
    );
    return true;
  }

  /** Closes the kind's rate window, reporting what the limit held back. */
  #report(kind: string, k: KindState, now: number): void {
    if (k.droppedLines > 0) {
      const span = Math.max(0, now - k.rateStart);
      this.#out({
        level: k.level,
        msg: `${kind}: ${k.droppedLines} more lines (${k.droppedOccurrences} occurrences) held back by the log rate limit in ${formatSpan(span)}`,
        fields: { kind, suppressedLines: k.droppedLines, occurrences: k.droppedOccurrences, spanMs: Math.round(span), rateLimited: true },
      });
    }
    k.rateStart = now;
    k.lines = 0;
    k.droppedLines = 0;
    k.droppedOccurrences = 0;
  }

  #write(kind: string, k: KindState, now: number, r: LogRecord, occurrences: number): void {
    if (now >= k.rateStart + this.options.rateWindowMs) this.#report(kind, k, now);
    if (k.lines < this.options.linesPerKind) {
      k.lines++;
      this.#out(r);
    } else {
      k.droppedLines++;
      k.droppedOccurrences += occurrences;
    }
  }

  #out(r: LogRecord): void {
    try {
      this.#emit(r);
    } catch {
      /* a logger that throws must not break the listener */
    }
  }
}

/** `37 ms`, `1 s`, `2.5 s`. */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** RepeatAggregator driven by a timer, writing to a NetLogger. */
export class RepeatLog {
  readonly out: NetLogger;
  #clock: NetClock;
  #core: RepeatAggregator;
  #timer: unknown = null;
  #timerAt = Infinity;
  #closed = false;

  constructor(out: NetLogger, options: Partial<RepeatLogOptions> = {}, clock: NetClock = realClock) {
    this.out = out;
    this.#clock = clock;
    this.#core = new RepeatAggregator(() => clock.now(), (r) => out[r.level](r.msg, r.fields), options);
  }

  /** A warning that may repeat: see RepeatAggregator.note. */
  note(level: LogLevel, kind: string, reason: string, source: string, fields?: Record<string, unknown>): void {
    if (this.#closed) return;
    this.#core.note(level, kind, reason, source, fields);
    this.#arm();
  }

  warn(kind: string, reason: string, source: string, fields?: Record<string, unknown>): void {
    this.note('warn', kind, reason, source, fields);
  }

  /** Write pending summaries and stop the timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#core.flush();
  }

  #arm(): void {
    const due = this.#core.nextDue();
    if (due === null || due >= this.#timerAt) return;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timerAt = due;
    this.#timer = this.#clock.setTimer(due - this.#clock.now(), () => {
      this.#timer = null;
      this.#timerAt = Infinity;
      if (this.#closed) return;
      this.#core.tick();
      this.#arm();
    });
  }
}
