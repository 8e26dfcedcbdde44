// Supervision decisions as pure functions (OTP semantics). The runtime feeds
// them what happened and does what they say; nothing here touches a clock,
// a thread or a mailbox, so every rule is testable on its own.

export type StrategyKind = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface SupervisorStrategy {
  kind: StrategyKind;
  /** Max restarts within periodMs before the supervisor gives up and fails itself (OTP: intensity). */
  intensity: number;
  periodMs: number;
}

export const defaultStrategy: SupervisorStrategy = { kind: 'one_for_one', intensity: 3, periodMs: 5000 };

/** How a child ended. */
export type ExitKind = 'normal' | 'crash';

export interface ChildView {
  name: string;
  restart: RestartType;
}

export type Decision =
  /** Stop these (already in reverse start order), then start these (in start order). */
  | { action: 'restart'; stop: string[]; start: string[]; restartLog: number[] }
  /** The child is simply gone (temporary, or transient ending normally). */
  | { action: 'remove'; restartLog: number[] }
  /** Too many restarts: the supervisor must shut down its children and fail itself. */
  | { action: 'escalate'; restartLog: number[]; reason: string };

/** Should a child of this restart type be restarted after this kind of exit? */
export function wantsRestart(restart: RestartType, exit: ExitKind): boolean {
  if (restart === 'permanent') return true;
  if (restart === 'transient') return exit === 'crash';
  return false;
}

/**
 * OTP's restart-intensity check: record `now`, forget restarts older than
 * the period, and report whether the count now exceeds the intensity.
 */
export function addRestart(log: readonly number[], now: number, s: SupervisorStrategy): { log: number[]; exceeded: boolean } {
  const kept = log.filter((t) => now - t < s.periodMs);
  kept.push(now);
  return { log: kept, exceeded: kept.length > s.intensity };
}

/**
 * Decide what to do when child `failed` ended. `children` are in start order.
 */
export function decide(
  s: SupervisorStrategy,
  children: readonly ChildView[],
  failed: string,
  exit: ExitKind,
  restartLog: readonly number[],
  now: number,
): Decision {
  const idx = children.findIndex((c) => c.name === failed);
  const child = children[idx];
  if (child === undefined || !wantsRestart(child.restart, exit)) {
    return { action: 'remove', restartLog: [...restartLog] };
  }
  const r = addRestart(restartLog, now, s);
  if (r.exceeded) {
    return {
      action: 'escalate',
      restartLog: r.log,
      reason: `reached max restart intensity (${s.intensity} in ${s.periodMs} ms) restarting ${failed}`,
    };
  }
  let group: readonly ChildView[];
  if (s.kind === 'one_for_one') group = [child];
  else if (s.kind === 'one_for_all') group = children;
  else group = children.slice(idx);
  // Siblings in the group are stopped first, newest first; the failed child is already dead.
  const stop = group.filter((c) => c.name !== failed).map((c) => c.name).reverse();
  // Siblings that are temporary are not brought back (OTP drops them on a group restart).
  const start = group.filter((c) => c.name === failed || c.restart !== 'temporary').map((c) => c.name);
  return { action: 'restart', stop, start, restartLog: r.log };
}
