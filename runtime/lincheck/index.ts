// ACP linearizability checker: public API.
export type {
  CheckOptions,
  CheckResult,
  CheckVerdict,
  HistoryEvent,
  IllegalPartition,
  Model,
  Operation,
} from './types.ts';
export { checkEvents, checkOperations } from './checker.ts';
export { eventsToOperations, isPending, validateOperations } from './history.ts';
export { kvModel } from './kv-model.ts';
export type { KvInput, KvOperation, KvOutput, KvState, KvValue } from './kv-model.ts';
export {
  describeInterval,
  describeOperation,
  describeOperationFully,
  historyToJSON,
  renderCheckResult,
  renderHistory,
} from './render.ts';
