// Process identity and safe signalling. A PID alone names nothing for long: once a process
// exits its number is reused. A workload's process is recorded as (pid, start time in clock
// ticks since boot, boot id); it is "ours" only while /proc/<pid>/stat still shows that start
// time on that boot. To signal it, a pidfd is opened first (it pins the process), the identity
// is checked again through it, and the signal goes through the pidfd: no window in which a
// recycled PID could receive it. Where pidfd_open is missing (kernel < 5.3, no koffi), the
// fallback checks the identity and signals at once (a window of microseconds), and says so.
import { closeSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

export interface ProcIdentity {
  pid: number;
  /** field 22 of /proc/<pid>/stat: start time in clock ticks after boot */
  start: number;
  bootId: string;
}

let BOOT_ID: string | undefined;
export function bootId(): string {
  BOOT_ID ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return BOOT_ID;
}

export interface ProcStat {
  state: string;
  ppid: number;
  /** user + system CPU time, clock ticks */
  utime: number;
  stime: number;
  start: number;
  rssPages: number;
}

/** /proc/<pid>/stat parsed (the command name may hold spaces and parentheses). */
export function procStat(pid: number): ProcStat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state)
  return { state: f[0]!, ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), start: Number(f[19]), rssPages: Number(f[21]) };
}

export function identify(pid: number): ProcIdentity | undefined {
  const st = procStat(pid);
  return st ? { pid, start: st.start, bootId: bootId() } : undefined;
}

/** Whether the process recorded as `id` is still that process (and not a zombie). */
export function alive(id: ProcIdentity | undefined): boolean {
  if (!id || id.bootId !== bootId()) return false;
  const st = procStat(id.pid);
  return st !== undefined && st.start === id.start && st.state !== 'Z' && st.state !== 'X';
}

interface Pidfd {
  open(pid: number): number;
  signal(fd: number, sig: number): number;
}

let PIDFD: Pidfd | null | undefined;
async function pidfd(): Promise<Pidfd | null> {
  if (PIDFD !== undefined) return PIDFD;
  try {
    const koffi = (await import('koffi')).default;
    const libc = koffi.load('libc.so.6');
    const syscall = libc.func('long syscall(long nr, int a, int b, void *c, unsigned int d)');
    // x86_64 and aarch64 (asm-generic) share these numbers.
    const SYS_pidfd_open = 434;
    const SYS_pidfd_send_signal = 424;
    const probe = Number(syscall(SYS_pidfd_open, process.pid, 0, null, 0));
    if (probe < 0) throw new Error('pidfd_open failed');
    closeSync(probe);
    PIDFD = {
      open: (pid) => Number(syscall(SYS_pidfd_open, pid, 0, null, 0)),
      signal: (fd, sig) => Number(syscall(SYS_pidfd_send_signal, fd, sig, null, 0)),
    };
  } catch {
    PIDFD = null;
  }
  return PIDFD;
}

/** How signals are delivered here ("pidfd" or the fallback). */
export async function signalMethod(): Promise<string> {
  return (await pidfd()) ? 'pidfd' : 'pid+start-time check';
}

export type SignalResult = 'sent' | 'gone' | 'not-ours';

/**
 * Send `signal` to the process recorded as `id`, only if it still is that process.
 * 'gone': it has exited; 'not-ours': the PID now belongs to another process (nothing sent).
 */
export async function signalProcess(id: ProcIdentity, signal: NodeJS.Signals | 0): Promise<SignalResult> {
  if (id.bootId !== bootId()) return 'gone';
  const sig = signal === 0 ? 0 : constants.signals[signal];
  const p = await pidfd();
  if (p) {
    const fd = p.open(id.pid);
    if (fd < 0) return 'gone';
    try {
      const st = procStat(id.pid);
      if (!st || st.state === 'Z') return 'gone';
      if (st.start !== id.start) return 'not-ours';
      return p.signal(fd, sig) === 0 ? 'sent' : 'gone';
    } finally {
      closeSync(fd);
    }
  }
  const st = procStat(id.pid);
  if (!st || st.state === 'Z') return 'gone';
  if (st.start !== id.start) return 'not-ours';
  try {
    process.kill(id.pid, sig);
    return 'sent';
  } catch {
    return 'gone';
  }
}

/** Clock ticks per second for /proc times (USER_HZ: 100 on every Linux ABI Node runs on). */
export const CLK_TCK = 100;
