// Shared by the Hypervisor's real-machine tests: desired state from specs, a converge loop that
// runs the real reconciler against a driver (observe → reconcile → apply until nothing is left
// or a condition holds), waiting on files with a deadline, and the skip reasons.
import { existsSync, readFileSync } from 'node:fs';
import type { CdbObject } from '../../actors/cdb/client.ts';
import type { SystemSpec } from '../../actors/cdb/schema.ts';
import type { Capabilities, Desired, Driver, Plan } from '../../actors/reconciler/contract.ts';
import { reconcile } from '../../actors/hypervisor/reconcile.ts';
import type { HypervisorAction, HypervisorObserved } from '../../actors/hypervisor/types.ts';

export function desired(specs: Record<string, SystemSpec>): Desired {
  return new Map(Object.entries(specs).map(([id, spec]) => [`system/${id}`, { type: 'system', id, spec, revision: 1, createdRevision: 1 } as CdbObject]));
}

export interface Pass {
  observed: HypervisorObserved;
  plan: Plan<HypervisorAction>;
  applied: HypervisorAction[];
}

/** One reconcile pass: observe, reconcile, apply every action (in order). */
export async function pass(node: string, d: Driver<HypervisorObserved, HypervisorAction>, want: Desired, caps: Capabilities): Promise<Pass> {
  const observed = await d.observe();
  const plan = reconcile(node, want, observed, caps);
  for (const a of plan.actions) await d.apply(a);
  return { observed, plan, applied: plan.actions };
}

/** Run passes (every `everyMs`) until `until` holds for a pass; every pass is handed to `seen`. */
export async function converge(
  node: string,
  d: Driver<HypervisorObserved, HypervisorAction>,
  want: Desired,
  caps: Capabilities,
  until: (p: Pass) => boolean,
  opts: { deadlineMs: number; everyMs?: number; seen?: (p: Pass) => void; what: string },
): Promise<Pass> {
  const deadline = Date.now() + opts.deadlineMs;
  for (;;) {
    const p = await pass(node, d, want, caps);
    opts.seen?.(p);
    if (until(p)) return p;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what}; last plan: ${JSON.stringify([...p.plan.status])}`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 50));
  }
}

/** Wait until `file` contains a match of `re` (polling its size, with a deadline: never a blind sleep). */
export async function waitForText(file: string, re: RegExp, deadlineMs: number, what: string): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what} in ${file}; it has: ${JSON.stringify(text.slice(-400))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Why this machine cannot run the real tests, or undefined. */
export function rootSkip(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (cgroups, namespaces, runc)';
  return undefined;
}
