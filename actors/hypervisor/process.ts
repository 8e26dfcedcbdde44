// Launching a workload so that it outlives the node process, and observing how it ended.
//
// Every workload (a process, `runc run` for a container, qemu for a VM) runs under a tiny
// supervisor, the shim: busybox-static's `sh` running the script below, started in its own
// session (setsid: no signal from the node's terminal or process group reaches it) with
// stdout/stderr on the workload's log files. The shim
//   1. joins the workload's cgroup (so the workload is limited from its first instruction),
//   2. makes itself unkillable by the OOM killer (the workload, its child, gets the default
//      back), so that an OOM kill takes the workload and the shim lives to report it,
//   3. starts the workload (optionally through `nsenter` into a network namespace and/or with
//      another uid/gid), writes its own pid and the workload's to the run directory,
//   4. waits for the workload and writes its exit status to `exit.<run>` (atomically).
// The node is not the workload's parent: kill -9 of the node leaves the shim and the workload
// running, and a new node process finds them through the run directory (pids + start times).
// This is the job containerd's shim or conmon do, in twelve lines of sh instead of a binary.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { identify, type ProcIdentity } from './proc.ts';

export const SHIM_SCRIPT = [
  'for f in $ACP_PROCS; do echo $$ > "$f" || { echo "acp-shim: cannot join the cgroup ($f)" >&2; echo 121 > "$ACP_DIR/exit.$ACP_RUN"; exit 121; }; done',
  'echo -1000 > /proc/self/oom_score_adj 2>/dev/null',
  'echo $$ > "$ACP_DIR/shim.$ACP_RUN"',
  '( echo 0 > /proc/self/oom_score_adj 2>/dev/null; exec 3>&-; exec "$@" ) &',
  'c=$!',
  'echo $c > "$ACP_DIR/main.$ACP_RUN"',
  'echo $c >&3; exec 3>&-',
  'wait $c; rc=$?',
  'echo $rc > "$ACP_DIR/exit.$ACP_RUN.tmp" && mv -f "$ACP_DIR/exit.$ACP_RUN.tmp" "$ACP_DIR/exit.$ACP_RUN"',
].join('\n');

export interface LaunchSpec {
  /** busybox(-static) binary: the shim's shell and its nsenter */
  busybox: string;
  /** the workload's run directory (exists; logs and status files go here) */
  dir: string;
  run: number;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** run the workload as this uid/gid (the shim stays root to join the cgroup) */
  user?: { uid: number; gid: number };
  /** a network namespace to run the workload in (a path such as /run/netns/NAME, from the Network service) */
  netns?: string;
  /** cgroup.procs files the shim joins (none: no cgroup) */
  cgroupProcs: string[];
  /** log files (appended) */
  stdout: string;
  stderr: string;
}

export interface Launched {
  shim: ProcIdentity;
  main: ProcIdentity;
}

/** Start the shim and the workload; resolves once the workload's pid is known. */
export function launch(s: LaunchSpec, timeoutMs = 10_000): Promise<Launched> {
  let argv = s.argv;
  if (s.netns !== undefined || s.user !== undefined) {
    // nsenter -F: no fork, so the workload keeps the pid the shim waits for.
    const ns = ['nsenter', '-F'];
    if (s.netns !== undefined) ns.push(`-n${s.netns}`);
    if (s.user !== undefined) ns.push('-S', String(s.user.uid), '-G', String(s.user.gid));
    argv = [s.busybox, ...ns, '--', ...argv];
  }
  const out = openSync(s.stdout, 'a');
  const err = openSync(s.stderr, 'a');
  return new Promise<Launched>((resolve, reject) => {
    let child;
    try {
      child = spawn(s.busybox, ['sh', '-c', SHIM_SCRIPT, 'acp-shim', ...argv], {
        cwd: s.cwd ?? '/',
        env: { ...s.env, ACP_DIR: s.dir, ACP_RUN: String(s.run), ACP_PROCS: s.cgroupProcs.join(' ') },
        detached: true,
        stdio: ['ignore', out, err, 'pipe'],
      });
    } catch (e) {
      closeSync(out);
      closeSync(err);
      reject(e as Error);
      return;
    } finally {
      // the child has its own copies
    }
    closeSync(out);
    closeSync(err);
    const shimPid = child.pid;
    let text = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`the shim did not report the workload's pid within ${timeoutMs} ms`)), timeoutMs);
    const finish = (e?: Error, main?: number): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdio[3]?.destroy();
      child.unref();
      if (e || main === undefined || shimPid === undefined) {
        // The shim may have written why (a cgroup it could not join): say so.
        const ex = readExit(s.dir, s.run);
        reject(e ?? new Error(ex ? `the workload exited at once (status ${ex.status})` : 'the shim exited before starting the workload'));
        return;
      }
      const shim = identify(shimPid);
      const m = identify(main);
      if (!shim || !m) {
        // Exited already: the exit file tells how; the record still needs identities.
        resolve({ shim: shim ?? { pid: shimPid, start: -1, bootId: '' }, main: m ?? { pid: main, start: -1, bootId: '' } });
        return;
      }
      resolve({ shim, main: m });
    };
    child.once('error', (e) => finish(e));
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    pipe?.setEncoding('utf8');
    pipe?.on('data', (d: string) => {
      text += d;
      const n = Number(text.trim().split('\n')[0]);
      if (text.includes('\n') && Number.isInteger(n) && n > 0) finish(undefined, n);
    });
    pipe?.on('end', () => {
      const n = Number(text.trim());
      finish(undefined, Number.isInteger(n) && n > 0 ? n : undefined);
    });
  });
}

/** The exit status the shim wrote for `run`: the raw shell status and when it was written. */
export function readExit(dir: string, run: number): { status: number; at: number } | undefined {
  const f = join(dir, `exit.${run}`);
  try {
    const status = Number(readFileSync(f, 'utf8').trim());
    if (!Number.isInteger(status)) return undefined;
    return { status, at: Math.floor(statSync(f).mtimeMs) };
  } catch {
    return undefined;
  }
}

/** A shell status as (code, signal): 128+N is read as signal N (shells cannot tell them apart). */
export function decodeStatus(status: number): { code: number | null; signal: string | null } {
  if (status > 128 && status <= 128 + 64) return { code: null, signal: signalName(status - 128) };
  return { code: status, signal: null };
}

const SIGNALS = ['', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM'];
export function signalName(n: number): string {
  return SIGNALS[n] ?? `SIG${n}`;
}

/** The pid files the shim wrote for `run` (to recover a run whose record was not completed). */
export function readPids(dir: string, run: number): { shim?: number; main?: number } {
  const num = (f: string): number | undefined => {
    const p = join(dir, f);
    if (!existsSync(p)) return undefined;
    const n = Number(readFileSync(p, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  };
  const out: { shim?: number; main?: number } = {};
  const shim = num(`shim.${run}`);
  const main = num(`main.${run}`);
  if (shim !== undefined) out.shim = shim;
  if (main !== undefined) out.main = main;
  return out;
}
