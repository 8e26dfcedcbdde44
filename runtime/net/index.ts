export * from './pki.ts';
export * from './node-transport.ts';
export * from './local-api.ts';
export { nullLogger, RepeatAggregator, RepeatLog, DEFAULT_REPEAT_LOG, type NetLogger, type RepeatLogOptions, type LogRecord, type LogLevel } from './log.ts';
export * from './listener-gate.ts';
export { realClock, type NetClock } from './clock.ts';
