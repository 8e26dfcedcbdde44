// Re-exported type names used by internal modules (keeps wire.ts free of cycles).
export type { MailboxOptions, WorkerLimits } from './types.ts';
export type { RestartType } from '../supervision/decide.ts';
