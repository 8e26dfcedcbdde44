// Waiting in tests: on a condition or an event, with a deadline. A deadline
// is a failure bound, never a claim about speed: it only turns "this never
// happens" into a failure that names what did not happen (instead of ava's
// global timeout, or a hang). Deadlines are generous, so a correct system on
// a loaded 2-core CI machine never hits them; a test that must show that
// something happened *without* waiting something out asserts the kind of
// outcome (rejected as `stopped`, no "did not stop in time" warning), not how
// fast it came.

/** Default deadline of every wait: far beyond anything a working system needs, even on a loaded machine. */
export const DEADLINE_MS = 30_000;

export interface WaitOptions {
  /** What is waited for, named in the failure ("the cdb leader to be elected"). */
  what: string | (() => string);
  /** Fail after this long (default DEADLINE_MS). */
  deadlineMs?: number;
  /** Poll interval (default 50 ms). */
  everyMs?: number;
}

const describe = (what: WaitOptions['what']): string => (typeof what === 'string' ? what : what());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `probe` until it returns something other than `undefined`/`false`,
 * and resolve with that. A probe that throws counts as "not yet". After
 * the deadline: an Error naming `what` and the last thing the probe said.
 */
export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, o: WaitOptions): Promise<T> {
  const deadlineMs = o.deadlineMs ?? DEADLINE_MS;
  const deadline = performance.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${describe(o.what)}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(o.everyMs ?? 50);
  }
}

/** `p`, or an Error naming `what` once the deadline passed (for a promise that has no deadline of its own). */
export function within<T>(p: Promise<T>, o: Omit<WaitOptions, 'everyMs'>): Promise<T> {
  const deadlineMs = o.deadlineMs ?? DEADLINE_MS;
  let timer: NodeJS.Timeout | undefined;
  const fail = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${deadlineMs} ms waiting for ${describe(o.what)}`)), deadlineMs);
  });
  return Promise.race([p, fail]).finally(() => clearTimeout(timer));
}
