// The actor runtime's public surface.
//
//   const system = new ActorSystem();
//   const counter = system.spawn(receive<Msg>((ctx, m) => { ... }), 'counter');
//   counter.tell({ type: 'inc' });
//   const n = await counter.ask<number>((replyTo) => ({ type: 'get', replyTo }), { timeoutMs: 1000 });
//   await system.shutdown();
export type * from './types.ts';
export { Same, Stopped } from './types.ts';
export { receive, setup, withStrategy, defineBehavior } from './behavior.ts';
export { supervisor, type ChildSpec, type SupervisorMsg } from './supervisor.ts';
export { ActorSystem, type SystemOptions, type LogEntry } from './system.ts';
export type { ActorStats } from './stats.ts';
export * from './errors.ts';
export type { SupervisorStrategy, RestartType, StrategyKind } from '../supervision/decide.ts';
export type { InspectionEvent, EventKind } from '../inspect/events.ts';
