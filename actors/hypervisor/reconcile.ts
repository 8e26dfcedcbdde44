// The Hypervisor's pure core: the systems placed on this node × the workloads the driver
// observes × the node's capabilities → start / stop / restart / adopt / remove actions and one
// Condition per system. No clock is read: back-off is computed from the observed exit history
// against `observed.now`, so a table of cases pins every decision down.
//
// Decisions, per system that concerns this node (spec.node, else spec.placement.node):
//   no kind                       → unsupported (a record only: nothing to run)
//   kind the node cannot run      → unsupported, the capability's reason (package to install)
//   networks/shares not ready     → pending, waiting for the Network/Storage service
//   autostart false               → stop it if it runs; else ready (phase stopped)
//   not running, never started    → start
//   running, started earlier by another node process → adopt (never a second start)
//   running with an older spec    → restart (graceful stop, then start)
//   exited                        → per restart policy: after back-off start again, or failed /
//                                   completed; a changed spec starts at once (back-off reset)
// Workloads observed here whose system is gone or placed elsewhere are removed.
import type { CdbObject, ObjectKey } from '../cdb/client.ts';
import type { RestartPolicy, SystemSpec } from '../cdb/schema.ts';
import type { Capabilities, Condition, Desired, Plan } from '../reconciler/contract.ts';
import type { ExitRecord, HypervisorAction, HypervisorObserved, Workload } from './types.ts';

export const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 } as const;
/** How long a graceful stop may take before it is forced. */
export const DEFAULT_GRACE_MS = 10_000;

/** The node a system should run on, or undefined while unplaced. */
export function assignedNode(spec: SystemSpec): string | undefined {
  return spec.node ?? spec.placement?.node;
}

/** The capability a kind needs, in Capabilities. */
export const KIND_CAPABILITY = { process: 'process', container: 'runc', vm: 'qemu' } as const;

function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
    .join(',')}}`;
}

/**
 * A hash of what a run is made of (kind, its section, size, networks, disks): a change restarts
 * the workload. Name, placement, autostart and restart policy are not part of it.
 */
export function specHash(spec: SystemSpec): string {
  const s = stable({ kind: spec.kind, process: spec.process, container: spec.container, vm: spec.vm, vcpus: spec.vcpus, memoryMb: spec.memoryMb, networks: spec.networks, disks: spec.disks });
  // FNV-1a, twice with different seeds: 64 bits, no dependency, same in every runtime.
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 + 2) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** Whether an exit counts as a failure for `on-failure`. */
export function failed(e: ExitRecord): boolean {
  return e.oom || e.signal !== null || e.code !== 0;
}

export function describeExit(e: ExitRecord): string {
  if (e.oom) return 'was killed by the OOM killer (memory limit)';
  if (e.signal !== null) return `was killed by ${e.signal}`;
  if (e.code === null) return 'ended (exit status unknown)';
  return `exited with code ${e.code}`;
}

export type RestartDecision =
  | { restart: false; why: string }
  /** `at`: the earliest time the restart may happen; `failures`: consecutive short failing runs */
  | { restart: true; at: number; delayMs: number; failures: number };

/**
 * What the restart policy says after the last exit. Back-off: `initialMs` doubled per
 * consecutive run that ended before `resetAfterMs` (a run at least that long resets the
 * count), at most `maxMs`; the delay counts from the exit.
 */
export function restartDecision(spec: SystemSpec, exits: readonly ExitRecord[]): RestartDecision {
  const last = exits[exits.length - 1];
  if (last === undefined) return { restart: true, at: 0, delayMs: 0, failures: 0 };
  const policy: RestartPolicy = spec.restart ?? 'always';
  if (last.requested) return { restart: true, at: last.at, delayMs: 0, failures: 0 };
  if (policy === 'never') return { restart: false, why: 'restart policy is never' };
  if (policy === 'on-failure' && !failed(last)) return { restart: false, why: 'restart policy is on-failure' };
  const initialMs = spec.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = Math.max(initialMs, spec.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs);
  const resetAfterMs = spec.backoff?.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs;
  let failures = 0;
  for (let i = exits.length - 1; i >= 0; i--) {
    const e = exits[i]!;
    if (e.requested || e.at - e.startedAt >= resetAfterMs) break;
    failures++;
  }
  if (failures === 0) return { restart: true, at: last.at, delayMs: 0, failures };
  const delayMs = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
  return { restart: true, at: last.at + delayMs, delayMs, failures };
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

function runningInfo(w: Workload): Record<string, string | number | boolean> {
  const info: Record<string, string | number | boolean> = { phase: w.phase, kind: w.kind, run: w.run, restarts: w.run - 1, startedAt: w.startedAt };
  if (w.pid !== undefined) info.pid = w.pid;
  if (w.accel !== undefined) info.accel = w.accel;
  info.limits = w.limits.enforced ? w.limits.how : 'unsupported';
  return info;
}

function exitInfo(w: Workload, e: ExitRecord): Record<string, string | number | boolean> {
  const info: Record<string, string | number | boolean> = { phase: 'exited', kind: w.kind, run: w.run, restarts: w.run - 1, exitedAt: e.at, oom: e.oom };
  if (e.code !== null) info.exitCode = e.code;
  if (e.signal !== null) info.signal = e.signal;
  return info;
}

/** The reconciler (contract: actors/reconciler/contract.ts). */
export function reconcile(node: string, desired: Desired, observed: HypervisorObserved, caps: Capabilities): Plan<HypervisorAction> {
  const actions: HypervisorAction[] = [];
  const status = new Map<ObjectKey, Condition>();
  const now = observed.now;
  const mine = new Set<string>();
  /** The soonest back-off end: the shell looks again then. */
  let wakeAt = Infinity;

  const ids = [...desired.values()].filter((o): o is CdbObject & { type: 'system' } => o.type === 'system').sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  for (const o of ids) {
    const spec = o.spec as SystemSpec;
    if (assignedNode(spec) !== node) continue;
    mine.add(o.id);
    const key: ObjectKey = `system/${o.id}`;
    const w = observed.workloads.get(o.id);
    const set = (c: Condition): void => void status.set(key, c);

    if (spec.kind === undefined) {
      set({ state: 'unsupported', reason: 'no kind: this system is a record only (set spec.kind to process, container or vm and its section to run it)' });
      if (w) actions.push({ kind: 'remove', key, id: o.id, graceMs: DEFAULT_GRACE_MS });
      continue;
    }
    const cap = caps[KIND_CAPABILITY[spec.kind]];
    if (!cap?.ok) {
      set({ state: 'unsupported', reason: `cannot run a ${spec.kind} on ${node}: ${cap ? cap.reason : `capability ${KIND_CAPABILITY[spec.kind]} not probed`}` });
      continue;
    }
    if (spec.kind === 'container' && spec.container?.image === 'busybox' && !caps.busybox?.ok) {
      set({ state: 'unsupported', reason: `cannot build the busybox image on ${node}: ${caps.busybox ? (caps.busybox as { reason: string }).reason : 'busybox not probed'}` });
      continue;
    }
    const hash = specHash(spec);
    const running = w !== undefined && w.phase !== 'exited';

    if (spec.autostart === false) {
      if (running) {
        actions.push({ kind: 'stop', key, id: o.id, graceMs: DEFAULT_GRACE_MS });
        set({ state: 'pending', reason: 'stopping (autostart is false)', info: runningInfo(w) });
      } else set({ state: 'ready', info: { phase: 'stopped', kind: spec.kind } });
      continue;
    }

    // What a start needs from the other services: network attachment, share paths.
    const needNets = spec.networks ?? [];
    const attachment = observed.attachments?.get(o.id);
    const shareIds = [...new Set([...(spec.container?.mounts ?? []).map((m) => m.share), ...(spec.disks ?? []).map((d) => d.share)])];
    const missingShares = shareIds.filter((s) => !observed.shares?.has(s));
    const shares = shareIds.length > 0 ? Object.fromEntries(shareIds.filter((s) => observed.shares?.has(s)).map((s) => [s, observed.shares!.get(s)!])) : undefined;
    const waiting =
      needNets.length > 0 && attachment === undefined
        ? `waiting for the Network service to attach ${needNets.join(', ')}`
        : missingShares.length > 0
          ? `waiting for the Storage service to provide share${missingShares.length > 1 ? 's' : ''} ${missingShares.join(', ')}`
          : undefined;
    const startWith = { ...(attachment ? { attachment } : {}), ...(shares ? { shares } : {}) };

    if (running) {
      if (!w.attached) {
        actions.push({ kind: 'adopt', key, id: o.id });
        set({ state: 'pending', reason: `adopting the running ${spec.kind} (pid ${w.pid ?? '?'}) started by an earlier node process`, info: runningInfo(w) });
        continue;
      }
      if (w.specHash !== hash) {
        if (waiting) {
          set({ state: 'degraded', reason: `spec changed; restart ${waiting}`, info: runningInfo(w) });
          continue;
        }
        actions.push({ kind: 'restart', key, id: o.id, spec, specHash: hash, run: w.run + 1, graceMs: DEFAULT_GRACE_MS, ...startWith });
        set({ state: 'pending', reason: 'restarting: the spec changed', info: runningInfo(w) });
        continue;
      }
      if (w.phase === 'paused') set({ state: 'degraded', reason: `paused`, info: runningInfo(w) });
      else if (!w.limits.enforced) set({ state: 'degraded', reason: `running without CPU/memory limits: ${w.limits.reason}`, info: runningInfo(w) });
      else set({ state: 'ready', info: runningInfo(w) });
      continue;
    }

    // Not running: never started, or exited.
    const last = w?.exits[w.exits.length - 1];
    const fresh = w === undefined || w.specHash !== hash || last === undefined;
    const decision = fresh ? ({ restart: true, at: 0, delayMs: 0, failures: 0 } as RestartDecision) : restartDecision(spec, w.exits);
    if (!decision.restart) {
      const e = last!;
      if (failed(e)) set({ state: 'failed', reason: `${describeExit(e)}; not restarted: ${decision.why}`, info: exitInfo(w!, e) });
      else set({ state: 'ready', reason: `completed (${describeExit(e)}); not restarted: ${decision.why}`, info: { ...exitInfo(w!, e), phase: 'completed' } });
      continue;
    }
    if (waiting) {
      set({ state: 'pending', reason: waiting, ...(w && last ? { info: exitInfo(w, last) } : {}) });
      continue;
    }
    if (decision.at > now) {
      const e = last!;
      wakeAt = Math.min(wakeAt, decision.at);
      set({
        state: 'pending',
        reason: `${describeExit(e)}; restarting in ${Math.ceil((decision.at - now) / 1000)} s (back-off ${decision.delayMs} ms after the ${ordinal(decision.failures)} consecutive failure)`,
        info: { ...exitInfo(w!, e), phase: 'backoff', restartAt: decision.at },
      });
      continue;
    }
    const run = (w?.run ?? 0) + 1;
    actions.push({ kind: 'start', key, id: o.id, spec, specHash: hash, run, ...startWith });
    set({ state: 'pending', reason: w === undefined ? `starting the ${spec.kind}` : last ? `${describeExit(last)}; starting run ${run}` : `starting run ${run}`, ...(w && last ? { info: exitInfo(w, last) } : {}) });
  }

  // Workloads here whose system is gone, or concerns another node now: stop and forget them.
  for (const id of [...observed.workloads.keys()].sort()) {
    if (mine.has(id)) continue;
    const key: ObjectKey = `system/${id}`;
    actions.push({ kind: 'remove', key, id, graceMs: DEFAULT_GRACE_MS });
    if (desired.has(key)) status.set(key, { state: 'removing', reason: `placed on another node: stopping it here on ${node}` });
  }
  return wakeAt === Infinity ? { actions, status } : { actions, status, wakeInMs: Math.max(1, wakeAt - now) };
}
