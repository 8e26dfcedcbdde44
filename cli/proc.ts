// Is process PID really a node of this cluster? `acp down` asks before it
// signals anything: run.json is only a file, and a stale one (the node died,
// its pid went to another process) or an altered one would otherwise have it
// SIGTERM and then SIGKILL whatever now has that pid.
//
// A process is this cluster's node when it is ours (same uid), its command
// line is the node entry started by `acp up` (`… cli/acp.ts node start
// --config <this node's config>`), and its start time — field 22 of
// /proc/PID/stat, in clock ticks since boot — is the one `acp up` recorded
// when it spawned it. A pid is reused only after its process is gone, so the
// start time tells a reused pid apart. Linux only (as the nodes are).
import { readFileSync, statSync } from 'node:fs';

/** The few things read about a process; tests pass a fake. */
export interface ProcReader {
  /** The process's argv, or undefined when there is no such process (or it cannot be read). */
  cmdline(pid: number): string[] | undefined;
  /** The text of /proc/PID/stat, or undefined. */
  stat(pid: number): string | undefined;
  /** The uid owning the process, or undefined. */
  uid(pid: number): number | undefined;
}

export const procfs: ProcReader = {
  cmdline(pid) {
    try {
      const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (raw.length === 0) return undefined; // a zombie, or a kernel thread
      const args = raw.split('\0');
      if (args[args.length - 1] === '') args.pop();
      return args;
    } catch {
      return undefined;
    }
  },
  stat(pid) {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
  },
  uid(pid) {
    try {
      return statSync(`/proc/${pid}`).uid;
    } catch {
      return undefined;
    }
  },
};

/**
 * Field 22 (starttime) of a /proc/PID/stat line. Field 2 is the command name
 * in parentheses and may itself hold spaces and parentheses, so fields are
 * counted after the last ')'.
 */
export function startTimeFromStat(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const v = fields[19];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The state letter (field 3): Z for a zombie. */
function stateFromStat(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : stat.slice(close + 1).trim()[0];
}

/** The start time of a running process, to record in run.json. */
export function processStartTime(pid: number, proc: ProcReader = procfs): number | undefined {
  const s = proc.stat(pid);
  return s === undefined ? undefined : startTimeFromStat(s);
}

export interface Expected {
  /** The node's name (for messages). */
  name: string;
  /** Absolute path of the node's config file, from cluster.json. */
  config: string;
  /** The start time run.json recorded, if it did. */
  startTime: number | undefined;
  /** Our uid (default: this process's). */
  uid?: number;
}

export type Verdict =
  /** A node of this cluster: safe to signal. */
  | { kind: 'ours' }
  /** No such process, or a zombie (exited, not yet reaped by its parent): nothing to signal. */
  | { kind: 'gone'; zombie?: true }
  /** Alive, but not provably this node: never signalled; `why` says what did not match. */
  | { kind: 'foreign'; why: string };

const ENTRY = /(^|\/)cli\/acp\.(ts|mjs)$/;

/** Where argv runs the node entry with this config: `… cli/acp.ts node start --config CONFIG`. */
function runsNode(argv: readonly string[], config: string): boolean {
  const i = argv.findIndex((a) => ENTRY.test(a));
  if (i < 0) return false;
  const rest = argv.slice(i + 1);
  return rest[0] === 'node' && rest[1] === 'start' && rest[2] === '--config' && rest[3] === config && rest.length === 4;
}

export function verifyNode(pid: number, e: Expected, proc: ProcReader = procfs): Verdict {
  const stat = proc.stat(pid);
  if (stat === undefined) return { kind: 'gone' };
  if (stateFromStat(stat) === 'Z') return { kind: 'gone', zombie: true };
  const uid = e.uid ?? process.getuid?.();
  const owner = proc.uid(pid);
  if (uid !== undefined && owner !== undefined && owner !== uid) return { kind: 'foreign', why: `it belongs to uid ${owner}, not to you (uid ${uid})` };
  const argv = proc.cmdline(pid);
  if (argv === undefined) return { kind: 'foreign', why: 'its command line cannot be read' };
  if (!runsNode(argv, e.config)) {
    const shown = argv.join(' ');
    return { kind: 'foreign', why: `its command line is not node ${e.name} of this cluster: ${shown.length > 120 ? shown.slice(0, 117) + '…' : shown}` };
  }
  if (e.startTime === undefined) return { kind: 'foreign', why: 'run.json holds no start time to check it against (written by an older acp)' };
  const started = startTimeFromStat(stat);
  if (started !== e.startTime) return { kind: 'foreign', why: `it started at tick ${started ?? '?'}, not at tick ${e.startTime} as recorded by acp up: the pid was reused` };
  return { kind: 'ours' };
}
