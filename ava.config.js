// ava's configuration. A file rather than package.json because of one
// function: `observeRun` prints every end-to-end test's time and the slowest
// tests after ava's report (test/support/test-times.ts).
import { observeRun } from './test/support/test-times.ts';

export default {
  extensions: ['ts'],
  files: ['test/**/*.test.ts'],
  timeout: '120s',
  workerThreads: false,
  nonSemVerExperiments: { observeRunsFromConfig: true },
  observeRun,
};
