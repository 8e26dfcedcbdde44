// acp logs and acp system start|stop as a person runs them, against a real single-node
// cluster with the Linux Hypervisor, as root: a busybox process system is applied, its
// "hello" shows in acp logs (and in acp logs -f, which ends cleanly on Ctrl-C), acp system
// stop takes it out of running, acp system start runs it again, acp system restart stops
// and starts it. Skipped, with the reason
// printed, without root or busybox. Nothing it started is left: the system is deleted and
// any process left with its marker (the shell's $0) is killed by pid.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACP, TestCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';
import { lastLines } from '../../cli/commands/logs.ts';
import { readLog } from '../../actors/node/api.ts';

const MARK = `acp-syscli-${process.pid}`;
const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
const skip = process.getuid?.() !== 0 ? 'not root (the Linux Hypervisor runs workloads as root)' : busybox === '' ? 'busybox is not installed' : undefined;

function skipped(t: ExecutionContext): boolean {
  if (skip === undefined) return false;
  t.log(`SKIPPED: ${skip}`);
  console.log(`system e2e test "${t.title}" skipped: ${skip}`);
  t.pass();
  return true;
}

/** Pids of processes whose command line has the marker (what this test started). */
function marked(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(MARK)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

test('--tail keeps the last N lines, a last line without its newline counting', (t) => {
  t.is(lastLines('a\nb\nc\n', 2), 'b\nc\n');
  t.is(lastLines('a\nb\nc', 2), 'b\nc');
  t.is(lastLines('a\n', 5), 'a\n');
  t.is(lastLines('a\nb\n', 0), '');
  t.is(lastLines('a\nb\n', undefined), 'a\nb\n');
});

test('the node reads whole UTF-8 characters of a log: a cut one is left for the next read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'acp-syscli-log-'));
  try {
    const f = join(dir, 'stdout.log');
    writeFileSync(f, Buffer.concat([Buffer.from('aé'), Buffer.from('€').subarray(0, 2)]));
    t.like(await readLog(f, { id: 'x', offset: 0 }), { ok: true, data: 'aé', offset: 0, next: 3, size: 5 });
    writeFileSync(f, Buffer.concat([Buffer.from('aé€'), Buffer.from('b')]));
    t.like(await readLog(f, { id: 'x', offset: 3 }), { data: '€b', next: 7 });
    t.like(await readLog(f, { id: 'x', tail: 5 }), { data: '€b', offset: 3 });
    t.like(await readLog(join(dir, 'none.log'), { id: 'x' }), { ok: true, data: '', missing: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

let c: TestCluster | undefined;
let files: string;
test.before(async (t) => {
  if (skip !== undefined) return;
  c = await TestCluster.start({ nodes: 1 }, t);
  files = mkdtempSync(join(tmpdir(), 'acp-syscli-'));
});
test.after.always(async () => {
  if (c) {
    await c.cli(['delete', 'system/hello', '--dir', c.dir], { timeoutMs: 30_000 }).catch(() => undefined);
    // The Hypervisor removes it; the processes are not children of the node, so wait for them.
    await waitFor(() => marked().length === 0, { what: 'the workload to be removed', deadlineMs: 15_000, everyMs: 200 }).catch(() => undefined);
    await c.stop();
  }
  for (const pid of marked()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (files) rmSync(files, { recursive: true, force: true });
});

const acp = (...args: string[]) => c!.cli([...args, '--dir', c!.dir], { timeoutMs: 60_000 });
const phase = async (): Promise<string | undefined> => {
  const r = await acp('describe', 'system/hello', '-o', 'json');
  if (r.code !== 0) return undefined;
  const d = JSON.parse(r.stdout) as { status: { nodes: { info?: { phase?: string } }[] } };
  return d.status.nodes[0]?.info?.phase;
};

test.serial('acp logs shows what the system wrote', async (t) => {
  if (skipped(t)) return;
  const f = join(files, 'hello.yaml');
  writeFileSync(
    f,
    `type: system
id: hello
spec:
  name: hello
  vcpus: 1
  memoryMb: 64
  node: n1
  kind: process
  process: { command: ${busybox}, args: [sh, -c, 'echo hello; echo oops >&2; while :; do ${busybox} sleep 1; done', ${MARK}] }
`,
  );
  const a = await acp('apply', '-f', f);
  t.is(a.code, 0, a.stderr);
  const logs = await waitFor(
    async () => {
      const r = await acp('logs', 'hello');
      return r.code === 0 && r.stdout.includes('hello') ? r : undefined;
    },
    { what: 'acp logs to show hello', deadlineMs: 45_000, everyMs: 500 },
  );
  t.log(`$ acp logs hello\n${logs.stdout}${logs.stderr}`);
  t.is(logs.stdout, 'hello\n');
  t.is(logs.stderr, 'oops\n');
  const j = await acp('logs', 'system/hello', '--tail', '1', '-o', 'json');
  t.is(j.code, 0, j.stderr);
  t.deepEqual(JSON.parse(j.stdout), { system: 'hello', node: 'n1', stdout: 'hello\n', stderr: 'oops\n' });
  const missing = await acp('logs', 'nosuch');
  t.is(missing.code, 3, missing.stderr);
  const bad = await acp('logs', 'Bad!');
  t.is(bad.code, 2, bad.stderr);
});

test.serial('acp logs -f prints the log and ends cleanly on Ctrl-C', async (t) => {
  if (skipped(t)) return;
  const p = spawn(process.execPath, [ACP, 'logs', 'hello', '-f', '--dir', c!.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  try {
    await waitFor(() => out.includes('hello'), { what: 'acp logs -f to print hello', deadlineMs: 30_000 });
    p.kill('SIGINT');
    t.is(await exited, 0, err);
    t.false(/\n\s+at /.test(err), err);
  } finally {
    p.kill('SIGKILL');
  }
});

test.serial('acp system stop takes it out of running, acp system start runs it again, restart too', async (t) => {
  if (skipped(t)) return;
  await waitFor(async () => (await phase()) === 'running', { what: 'the system to run', deadlineMs: 30_000, everyMs: 500 });
  const stop = await acp('system', 'stop', 'hello', '--wait');
  t.is(stop.code, 0, stop.stderr);
  t.is(stop.stdout, 'system/hello stopped\n');
  await waitFor(async () => { const ph = await phase(); return ph !== undefined && ph !== 'running'; }, { what: 'the system to leave running', deadlineMs: 30_000, everyMs: 500 });
  await waitFor(() => marked().length === 0, { what: 'the workload process to end', deadlineMs: 15_000, everyMs: 200 });
  const again = await acp('system', 'stop', 'hello', '-o', 'json');
  t.is(again.code, 0, again.stderr);
  t.like(JSON.parse(again.stdout), { system: 'hello', action: 'stop', changed: false });
  const start = await acp('system', 'start', 'hello');
  t.is(start.code, 0, start.stderr);
  await waitFor(async () => (await phase()) === 'running', { what: 'the system to run again', deadlineMs: 30_000, everyMs: 500 });
  const before = await acp('system', 'start', 'hello', '--wait', '-o', 'json');
  t.is(before.code, 0, before.stderr);
  const run = (JSON.parse(before.stdout) as { run: number }).run;
  t.true(typeof run === 'number', before.stdout);
  const restart = await acp('system', 'restart', 'hello', '-o', 'json');
  t.is(restart.code, 0, restart.stderr);
  t.log(`$ acp system stop hello --wait\n${stop.stdout}$ acp system start hello\n${start.stdout}$ acp system restart hello -o json\n${restart.stdout}`);
  t.like(JSON.parse(restart.stdout), { system: 'hello', action: 'restart', phase: 'running', node: 'n1' });
  t.true((JSON.parse(restart.stdout) as { run: number }).run > run, `a new run after ${run}: ${restart.stdout}`);
  const missing = await acp('system', 'start', 'nosuch');
  t.is(missing.code, 3, missing.stderr);
});
