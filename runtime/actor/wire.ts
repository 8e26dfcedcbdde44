// What travels between threads. Every postMessage carries an array of these
import type { MessagePort } from 'node:worker_threads';
// items (a batch), so a burst of tells costs one structured clone.
import type { SerializedError } from './errors.ts';
import type { InspectionEvent } from '../inspect/events.ts';
import type { MailboxOptions, RestartType, WorkerLimits } from './index-types.ts';
import type { Behavior } from './types.ts';

export interface Envelope {
  /** Receiver path. */
  to: string;
  msg: unknown;
  id: number;
  corr: number;
  cause: number;
  from?: string;
  /** Set for asks: the id of the pending ask and the asker's thread. */
  ask?: number;
  askThread?: string;
  /** Set by offer(): the sender wants to know when the message is in the mailbox. */
  offer?: number;
  /** A signal (Terminated) queued behind messages so it never runs concurrently with a handler. Never crosses threads. */
  sig?: true;
}

export interface RefData {
  $ref: 1;
  path: string;
  thread: string;
}

/** How to (re)create an actor: enough to build it in any thread. */
export interface SpawnSpec {
  path: string;
  parent: RefData | null;
  /** For a worker placement: module URL and export name of a BehaviorFactory, and its args. */
  module?: string;
  name?: string;
  args?: unknown;
  /**
   * For a same-thread placement: the behaviour itself. Such specs never leave
   * their thread (a worker placement uses module/name instead).
   */
  local?: Behavior<unknown>;
  mailbox: MailboxOptions;
  restart: RestartType;
  shutdownMs: number;
  incarnation: number;
}

export type SysMsg =
  /** `watchers`: a restarted actor's watchers, kept by its parent (its old worker may have died with them). */
  | { k: 'spawn'; spec: SpawnSpec; watchers?: RefData[] }
  /**
   * `parent` lets the target's thread answer 'stopped' even when the cell is
   * already gone (e.g. on a replacement worker after the old one died).
   */
  | { k: 'stop'; path: string; reason: string; parent?: RefData; incarnation?: number }
  /** Parent gave up waiting: stop now without waiting for children or async work. */
  | { k: 'kill'; path: string }
  /** `incarnation` lets the parent ignore a late report from an incarnation it already replaced. */
  | { k: 'stopped'; parent: string; child: string; exit: 'normal' | 'crash'; error?: SerializedError; requested: boolean; incarnation: number }
  | { k: 'failed'; parent: string; child: string; error: SerializedError; incarnation: number }
  | { k: 'watch'; target: string; watcher: RefData }
  | { k: 'unwatch'; target: string; watcher: RefData }
  /**
   * Target's thread → its parent's thread (when they differ): the parent keeps
   * a copy of its children's watchers, so that a watch outlives the death of
   * the child's worker when the child is restarted elsewhere.
   */
  | { k: 'watchedBy'; parent: string; child: string; watcher: RefData; add: boolean }
  /** Parent's thread → watcher's thread: the parent (on `holder`) keeps this watch. */
  | { k: 'watchHeld'; watcher: string; target: RefData; holder: string }
  | { k: 'terminated'; watcher: string; target: RefData; error?: SerializedError }
  | { k: 'offered'; id: number; error?: SerializedError }
  /** main → a thread: a worker died; reject asks to it and end watches on it. */
  | { k: 'threadDied'; thread: string; error: SerializedError }
  /** a thread → main: please make sure this worker exists (port introductions follow). */
  | { k: 'ensureWorker'; worker: string; limits?: WorkerLimits }
  | { k: 'inspect'; on: boolean }
  | { k: 'events'; events: InspectionEvent[] }
  | { k: 'log'; level: string; path: string; msg: string; fields?: Record<string, unknown> };

export type WireItem =
  | { t: 'e'; e: Envelope }
  | { t: 'r'; id: number; ok: true; v: unknown }
  | { t: 'r'; id: number; ok: false; err: SerializedError }
  | { t: 's'; s: SysMsg };

/** Control messages on a port that are not batches (port introductions). */
export interface PortIntro {
  $intro: string;
  port: MessagePort;
}
