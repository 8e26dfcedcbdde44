// Building behaviours. Behaviours are values: a handler returns the next one.
import type { ActorContext, Behavior, BehaviorFactory, Next, Signal } from './types.ts';
import type { SupervisorStrategy } from '../supervision/decide.ts';

export { Same, Stopped } from './types.ts';

/** A behaviour from a message handler (and optionally a signal handler). */
export function receive<M>(
  onMessage: (ctx: ActorContext<M>, msg: M) => Next<M> | Promise<Next<M>>,
  onSignal?: (ctx: ActorContext<M>, sig: Signal) => Next<M> | Promise<Next<M>>,
): Behavior<M> {
  return onSignal ? { $behavior: 'receive', onMessage, onSignal } : { $behavior: 'receive', onMessage };
}

/** A behaviour built when the actor starts (and again on every restart): the place for per-instance state. */
export function setup<M>(factory: (ctx: ActorContext<M>) => Behavior<M>): Behavior<M> {
  return { $behavior: 'setup', setup: factory };
}

/** The same behaviour, supervising its children with `strategy`. */
export function withStrategy<M>(b: Behavior<M>, strategy: SupervisorStrategy): Behavior<M> {
  return { ...b, strategy };
}

/**
 * Declare a behaviour that can start in a worker thread. Export the result
 * under `name` from the module at `moduleUrl` (pass `import.meta.url`):
 *
 *   export const counter = defineBehavior(import.meta.url, 'counter', (a: { start: number }) => ...);
 */
export function defineBehavior<M, A = void>(moduleUrl: string, name: string, create: (args: A) => Behavior<M>): BehaviorFactory<M, A> {
  return { $factory: true, module: moduleUrl, name, create };
}

export function isFactory(x: unknown): x is BehaviorFactory<unknown, unknown> {
  return typeof x === 'object' && x !== null && (x as { $factory?: unknown }).$factory === true;
}
