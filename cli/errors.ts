// What can go wrong in an `acp` command, and the exit code that says so.
// Scripts branch on these codes (as on etcdctl's), so they are defined here
// once, printed by `acp --help` and listed in the README; a test keeps the
// README's table equal to this one.

/** Exit codes of every `acp` command. */
export const EXIT = {
  /** the command did what was asked */
  ok: 0,
  /** the command failed: the cluster refused the request (conflict, API key rejected), its outcome is unknown, or an internal error */
  failed: 1,
  /** invalid input: arguments, options, files or objects (fix the command line) */
  invalid: 2,
  /** not found: the object, the node or the cluster directory named does not exist */
  notFound: 3,
  /** cluster unreachable: no node (or not the node named) answered, or the cluster has no leader */
  unreachable: 4,
  /** `acp status` only: the cluster answered but is degraded (a node down, no Raft leader or no Monitor primary) */
  degraded: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
/** The name of an error's exit code in JSON/YAML errors. */
export type ErrorKind = 'failed' | 'invalid' | 'not-found' | 'unreachable' | 'degraded';
const KINDS: Record<number, ErrorKind> = { 1: 'failed', 2: 'invalid', 3: 'not-found', 4: 'unreachable', 5: 'degraded' };

/** The table of exit codes as `acp --help` and the README show it. */
export const EXIT_TABLE: readonly { code: number; meaning: string }[] = [
  { code: EXIT.ok, meaning: 'success' },
  { code: EXIT.failed, meaning: 'the command failed: refused by the cluster (conflict, API key rejected), outcome unknown, or an internal error' },
  { code: EXIT.invalid, meaning: 'invalid input: arguments, options, files or objects' },
  { code: EXIT.notFound, meaning: 'not found: the object, node or cluster directory named does not exist' },
  { code: EXIT.unreachable, meaning: 'cluster unreachable: no node answered (or not the one named), or no Raft leader' },
  { code: EXIT.degraded, meaning: '`acp status`: the cluster answered but is degraded (a node down, no Raft leader or no Monitor primary)' },
];

function kindOf(exitCode: number): ErrorKind {
  return KINDS[exitCode] ?? 'failed';
}

/** An error the command reports as one line (or one JSON object) and an exit code, never a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failed) {
    super(message);
    this.exitCode = exitCode;
  }
  get kind(): ErrorKind {
    return kindOf(this.exitCode);
  }
}

/** A mistake by the person running the command (exit 2 unless told otherwise). */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, exitCode: number = EXIT.invalid) {
    super(message, exitCode);
  }
}

export class NotFoundError extends CliError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super(message, EXIT.notFound);
  }
}

export class UnreachableError extends CliError {
  override name = 'UnreachableError';
  constructor(message: string) {
    super(message, EXIT.unreachable);
  }
}

/** The exit code for an error reply of a node (`{ ok: false, code }`). */
export function exitForReplyCode(code: string | undefined): number {
  switch (code) {
    case 'invalid':
      return EXIT.invalid;
    case 'not-found':
      return EXIT.notFound;
    case 'unavailable':
    case 'not-leader':
      return EXIT.unreachable;
    default:
      // conflict, indeterminate, compacted, internal, …
      return EXIT.failed;
  }
}

/** The error as a JSON value, for `-o json` / `-o yaml`. */
export function errorValue(e: CliError): { error: { kind: ErrorKind; exitCode: number; message: string } } {
  return { error: { kind: e.kind, exitCode: e.exitCode, message: e.message } };
}
