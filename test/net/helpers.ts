// Shared helpers for the network tests: temp dirs cleaned up by teardown,
// a capturing logger, and event-driven waits with timeouts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { NetLogger } from '../../runtime/net/log.ts';

export function tempDir(t: ExecutionContext | null, prefix = 'acp-net-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t?.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export class MemLog implements NetLogger {
  lines: LogLine[] = [];
  #waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly echo: boolean;
  constructor(echo = false) {
    this.echo = echo;
  }
  #add(level: string, msg: string, fields?: Record<string, unknown>): void {
    const line: LogLine = fields ? { level, msg, fields } : { level, msg };
    this.lines.push(line);
    if (this.echo) console.log(level, msg, JSON.stringify(fields ?? {}));
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(line)) return true;
      w.resolve(line);
      return false;
    });
  }
  debug(msg: string, fields?: Record<string, unknown>) { this.#add('debug', msg, fields); }
  info(msg: string, fields?: Record<string, unknown>) { this.#add('info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>) { this.#add('warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>) { this.#add('error', msg, fields); }
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields ?? {})}`).join('\n');
  }
  find(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(pred);
  }
  /** Resolves with the first line (already logged or future) matching pred. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 5000, label = 'log line'): Promise<LogLine> {
    const hit = this.lines.find(pred);
    if (hit) return Promise.resolve(hit);
    return withTimeout(new Promise<LogLine>((resolve) => this.#waiters.push({ pred, resolve })), timeoutMs, label);
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Frames received by a transport, with waits. */
export class Inbox<T = unknown> {
  items: { from: string; frame: T }[] = [];
  #waiters: { pred: () => boolean; resolve: () => void }[] = [];
  push = (from: string, frame: T): void => {
    this.items.push({ from, frame });
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  };
  /** Wait until `n` frames (in total) were received. */
  count(n: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.items.length >= n, timeoutMs, `${n} frames (have ${this.items.length})`);
  }
  until(pred: () => boolean, timeoutMs = 5000, label = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.#waiters.push({ pred, resolve })), timeoutMs, label);
  }
}

/** Event-driven wait on peer-state callbacks. */
export class PeerStates {
  #waiters: { peer: string; up: boolean; resolve: () => void }[] = [];
  state = new Map<string, boolean>();
  history: string[] = [];
  on = (peer: string, up: boolean): void => {
    this.state.set(peer, up);
    this.history.push(`${peer}:${up ? 'up' : 'down'}`);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.peer !== peer || w.up !== up) return true;
      w.resolve();
      return false;
    });
  };
  wait(peer: string, up: boolean, timeoutMs = 5000): Promise<void> {
    if ((this.state.get(peer) ?? false) === up) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.#waiters.push({ peer, up, resolve })), timeoutMs, `${peer} ${up ? 'up' : 'down'}`);
  }
  /** Wait for the next transition to `up` for peer (even if currently up). */
  next(peer: string, up: boolean, timeoutMs = 5000): Promise<void> {
    return withTimeout(new Promise<void>((resolve) => this.#waiters.push({ peer, up, resolve })), timeoutMs, `next ${peer} ${up ? 'up' : 'down'}`);
  }
}

/** Poll a condition that has no event of its own (e.g. a stats counter), with a deadline. */
export function waitUntil(pred: () => boolean, timeoutMs: number, label: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (pred() ? resolve() : void setTimeout(check, 10));
      check();
    }),
    timeoutMs,
    label,
  );
}
