// Helpers of the real-kernel Storage tests: why a test must skip, driving the
// driver to convergence with the pure reconciler (what the service shell does),
// and counting/cleaning everything created under a test's directory.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { CdbObject, ObjectDef } from '../../actors/cdb/client.ts';
import type { Capabilities, Plan } from '../../actors/reconciler/contract.ts';
import { which } from '../../actors/storage/linux.ts';
import { reconcileStorage, type StorageAction, type StorageObserved } from '../../actors/storage/reconcile.ts';
import type { Driver } from '../../actors/reconciler/contract.ts';

/** Why the real-kernel tests cannot run here (undefined: they can). */
export function skipReason(tools: string[]): string | undefined {
  if (process.getuid?.() !== 0) return 'real-kernel storage tests need root';
  if (!existsSync('/dev/loop-control')) return 'the kernel has no loop devices';
  const fs = readFileSync('/proc/filesystems', 'utf8');
  if (!/\sbtrfs\n/.test(fs)) return 'the kernel has no btrfs';
  const missing = tools.filter((t) => !which(t));
  if (missing.length) return `missing tools: ${missing.join(', ')}`;
  return undefined;
}

export function objs(...defs: ObjectDef[]): Map<string, CdbObject> {
  return new Map(defs.map((d, i) => [`${d.type}/${d.id}`, { ...d, revision: i + 1, createdRevision: i + 1 } as CdbObject]));
}

/** Observe → reconcile → apply until a pass plans nothing; returns the last plan and the actions applied. */
export async function converge(
  driver: Driver<StorageObserved, StorageAction>,
  desired: Map<string, CdbObject>,
  caps: Capabilities,
  opts: { node?: string; maxPasses?: number; onAction?: (a: StorageAction) => void } = {},
): Promise<{ plan: Plan<StorageAction>; applied: StorageAction[]; observed: StorageObserved }> {
  const applied: StorageAction[] = [];
  for (let i = 0; i < (opts.maxPasses ?? 20); i++) {
    const observed = await driver.observe();
    const plan = reconcileStorage(opts.node ?? 'n1', desired, observed, caps);
    if (plan.actions.length === 0) return { plan, applied, observed };
    for (const a of plan.actions) {
      await driver.apply(a);
      applied.push(a);
      opts.onAction?.(a);
    }
  }
  throw new Error(`no convergence after ${opts.maxPasses ?? 20} passes; applied: ${applied.map((a) => `${a.kind} ${a.id}`).join(', ')}`);
}

export function conditions(plan: Plan<StorageAction>): Record<string, string> {
  return Object.fromEntries([...plan.status].map(([k, c]) => [k, c.reason ? `${c.state}: ${c.reason}` : c.state]));
}

/** What exists under `dir`: loop devices on files there, mounts there, processes naming it. */
export function census(dir: string): { loops: string[]; mounts: string[]; procs: string[] } {
  const loops: string[] = [];
  for (const n of readdirSync('/sys/block').filter((x) => x.startsWith('loop'))) {
    try {
      const b = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      if (b.startsWith(dir)) loops.push(`${n}:${b}`);
    } catch {
      /* not attached */
    }
  }
  const mounts: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const at = line.split(' ')[4];
    if (at?.startsWith(dir)) mounts.push(at);
  }
  const procs: string[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    if (Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(dir) && !cmd.includes('driver-child') && !cmd.includes('ava')) procs.push(`${p}:${cmd.split('\0')[0]}`);
    } catch {
      /* gone */
    }
  }
  return { loops: loops.sort(), mounts: mounts.sort(), procs: procs.sort() };
}

/** Remove everything under `dir` whatever state a test left it in: processes, mounts, loop devices, files. */
export function scrub(dir: string): void {
  if (!dir.startsWith('/tmp/acp-storage-')) throw new Error(`refusing to scrub ${dir}`);
  const c = census(dir);
  for (const p of c.procs) {
    try {
      process.kill(Number(p.split(':')[0]), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const m of c.mounts.sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  for (const l of census(dir).loops) {
    try {
      execFileSync('losetup', ['-d', `/dev/${l.split(':')[0]}`], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
