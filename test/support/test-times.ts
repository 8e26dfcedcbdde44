// Per-test time, printed after ava's own report so slow tests are visible.
// Loaded by ava.config.js into ava's main process (ava's `observeRun`
// hook): it sees every test's and hook's duration, from every worker, and
// prints, once the run is over,
//   - every test of the end-to-end and worker areas (test/node, test/cli,
//     test/runtime) with its time, and
//   - the slowest 20 tests and hooks of the whole run.
// ACP_TEST_TIMES=all lists every test, =off prints nothing, =N sets how many
// slowest are listed. Nothing is printed with --tap (it would break TAP).
import { writeSync } from 'node:fs';
import { relative, sep } from 'node:path';

/** Areas whose every test gets a line: real processes, worker threads, sockets. */
const LISTED = ['test/node/', 'test/cli/', 'test/runtime/'];

interface StateChange {
  type: string;
  testFile?: string;
  title?: string;
  duration?: number;
}

interface Timed {
  file: string;
  title: string;
  ms: number;
  failed: boolean;
}

const KINDS: Record<string, boolean> = { 'test-passed': false, 'test-failed': true, 'hook-finished': false, 'hook-failed': true };

export async function observeRun({ events }: { events: AsyncIterable<StateChange> }): Promise<void> {
  const mode = (process.env.ACP_TEST_TIMES ?? '').trim();
  if (mode === 'off' || process.argv.includes('--tap') || process.argv.includes('-t')) return;
  const start = performance.now();
  const timed: Timed[] = [];
  let ended = false;
  // Printed at exit: after ava's summary, which it writes once the run has ended.
  process.once('exit', () => {
    if (ended && timed.length > 0) writeSync(1, render(timed, performance.now() - start, mode));
  });
  for await (const e of events) {
    if (e.type === 'end') ended = true;
    const failed = KINDS[e.type];
    if (failed === undefined || e.testFile === undefined || e.title === undefined || typeof e.duration !== 'number') continue;
    timed.push({ file: relative(process.cwd(), e.testFile).split(sep).join('/'), title: e.title, ms: e.duration, failed });
  }
}

function render(timed: Timed[], wallMs: number, mode: string): string {
  const top = /^\d+$/.test(mode) ? Number(mode) : 20;
  const listed = mode === 'all' ? timed : timed.filter((x) => LISTED.some((a) => x.file.startsWith(a)));
  const out: string[] = [''];
  if (listed.length > 0) {
    out.push(`  Per-test time${mode === 'all' ? '' : ` (${LISTED.map((a) => a.slice(0, -1)).join(', ')})`}:`);
    const byFile = [...listed].sort((a, b) => a.file.localeCompare(b.file));
    for (const x of byFile) out.push(line(x));
    out.push('');
  }
  const tests = timed.length;
  const slowest = [...timed].sort((a, b) => b.ms - a.ms).slice(0, top);
  if (slowest.length > 0) {
    out.push(`  Slowest ${slowest.length} of ${tests} tests and hooks (the run took ${fmt(wallMs)}):`);
    for (const x of slowest) out.push(line(x));
    out.push('');
  }
  return out.join('\n') + '\n';
}

function line(x: Timed): string {
  const name = x.file.replace(/^test\//, '').replace(/\.test\.ts$/, '');
  return `  ${fmt(x.ms).padStart(8)}  ${x.failed ? '✘ ' : ''}${name} › ${x.title}`;
}

function fmt(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
