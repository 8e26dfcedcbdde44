export * from './pki.ts';
export * from './node-transport.ts';
export * from './local-api.ts';
export { nullLogger, type NetLogger } from './log.ts';
