// The CLI as a person runs it, each command a real child process: `acp up
// --detach` starts a cluster (in a directory it creates 0700) and shows its
// leader and Monitor primary; status, cdb put/get/ls work, in text, JSON and
// YAML; mistakes are one clear line and a distinct exit code; `acp status`
// exits 5 while a node is down; `acp down` stops every node; a second `up`
// and a taken port are refused clearly; a cluster started again keeps its
// data.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, readRunFile, readClusterFile } from '../../cli/cluster-dir.ts';
import { purgeDataPlane } from '../../cli/dataplane.ts';
import { acquireSlotFor, runCli, waitFor } from '../support/cluster.ts';

const oneLine = (s: string) => s.trim().split('\n').length === 1 && !/\n\s+at /.test(s) && !s.includes('Error:');

test('acp up/status/cdb/down as child processes, with clear errors', async (t) => {
  const release = await acquireSlotFor(t);
  const parent = mkdtempSync(join(tmpdir(), 'acp-cli-'));
  // Not there yet: `acp up` creates it, private.
  const dir = join(parent, 'cluster');
  const D = ['--dir', dir];
  t.teardown(async () => {
    // Whatever happened: stop what `acp up --detach` left running, then remove the dir.
    const run = readRunFile(dir);
    for (const pid of Object.values(run?.pids ?? {})) if (alive(pid)) process.kill(pid, 'SIGKILL');
    // Run as root, `acp up` gave the nodes network namespaces: remove them too.
    if (existsSync(dir)) await purgeDataPlane(dir, undefined).catch(() => {});
    rmSync(parent, { recursive: true, force: true });
    release();
  });
  const acp = (...args: string[]) => runCli(args, { timeoutMs: 90_000 });

  const up = await acp('up', '--detach', '--nodes', '3', '--timeout', '60000', ...D);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /^NODE\s+ADDRESS\s+STATE\s+RAFT/m);
  t.regex(up.stdout, /Raft leader: n[123] \(term \d+\)\s+Monitor primary: n[123]/);
  t.is(up.stdout.match(/^n[123]\s+127\.0\.0\.1:\d+\s+up\s+/gm)?.length, 3, up.stdout);
  t.regex(up.stdout, /stop it with: acp down --dir /);
  t.is(statSync(dir).mode & 0o777, 0o700, 'acp up creates the cluster dir 0700');
  const run = readRunFile(dir)!;
  t.deepEqual(Object.keys(run.pids).sort(), ['n1', 'n2', 'n3']);
  t.deepEqual(Object.keys(run.starts ?? {}).sort(), ['n1', 'n2', 'n3'], 'with the start time of each node process');
  t.true(Object.values(run.pids).every(alive), 'the detached nodes outlive `acp up`');

  const st = await acp('status', '--json', ...D);
  t.is(st.code, 0, st.stderr);
  const s = JSON.parse(st.stdout) as { nodes: { name: string; up: boolean }[]; leader?: string; monitorPrimary?: string; health?: number; healthy: boolean; problems: string[] };
  t.deepEqual(s.nodes.map((n) => [n.name, n.up]), [['n1', true], ['n2', true], ['n3', true]]);
  t.truthy(s.leader);
  t.truthy(s.monitorPrimary);
  t.true(s.healthy);
  t.deepEqual(s.problems, []);
  // ACP_DIR stands for --dir.
  const viaEnv = await runCli(['status', '-o', 'wide'], { timeoutMs: 90_000, env: { ACP_DIR: dir } });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.regex(viaEnv.stdout, /^NODE\s+ADDRESS\s+STATE\s+RAFT\s+TERM\s+MONITOR\s+PID\s+UPTIME\s+COMMIT\s+APPLIED\s+ALARMS\s+LISTENERS \(control · peer\)\s+ACTORS/m);
  // Every listener's limit shows: open/limit and refusals, control socket then peer port.
  t.regex(viaEnv.stdout, /\d+\/\d+ refused \d+ · \d+\/\d+ refused \d+/);

  const obj = { type: 'system', id: 'cli-1', spec: { name: 'from-the-cli', vcpus: 2, memoryMb: 512 } };
  const put = await acp('cdb', 'put', JSON.stringify(obj), ...D);
  t.is(put.code, 0, put.stderr);
  t.regex(put.stdout, /^ok, revision \d+\n$/);
  const get = await acp('cdb', 'get', 'system/cli-1', '--node', 'n3', ...D);
  t.is(get.code, 0, get.stderr);
  t.like(JSON.parse(get.stdout), { type: 'system', id: 'cli-1', spec: obj.spec });
  const yaml = await acp('cdb', 'get', 'system/cli-1', '-o', 'yaml', ...D);
  t.is(yaml.code, 0, yaml.stderr);
  t.regex(yaml.stdout, /^type: system\nid: cli-1\nspec:\n {2}name: from-the-cli\n {2}vcpus: 2\n {2}memoryMb: 512\nrevision: \d+\ncreatedRevision: \d+\n$/);
  const ls = await acp('cdb', 'ls', 'system', ...D);
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout, /^system\/cli-1\s+\d+$/m);
  t.regex(ls.stdout, /\(1 object at revision \d+\)/);
  const lsJson = await acp('cdb', 'ls', 'system', '--json', ...D);
  t.is(lsJson.code, 0, lsJson.stderr);
  const lj = JSON.parse(lsJson.stdout) as { revision: number; objects: { id: string }[] };
  t.deepEqual(Object.keys(lj).sort(), ['objects', 'revision']);
  t.deepEqual(lj.objects.map((o) => o.id), ['cli-1']);

  // Mistakes: one line on stderr, a distinct exit code, no stack trace.
  const bad = await acp('cdb', 'put', JSON.stringify({ type: 'system', id: 'cli-2', spec: { name: 'x', vcpus: 0, memoryMb: 512 } }), ...D);
  t.is(bad.code, 2);
  t.true(oneLine(bad.stderr), bad.stderr);
  t.regex(bad.stderr, /^acp: invalid: .*vcpus/);
  const notJson = await acp('cdb', 'put', '{type: system', ...D);
  t.is(notJson.code, 2);
  t.true(oneLine(notJson.stderr), notJson.stderr);
  t.regex(notJson.stderr, /^acp: the object is not valid JSON/);
  const missing = await acp('cdb', 'get', 'system/nope', ...D);
  t.is(missing.code, 3);
  t.is(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  t.regex(missing.stderr, /system\/nope not found/);
  const missingJson = await acp('cdb', 'get', 'system/nope', '-o', 'json', ...D);
  t.is(missingJson.code, 3);
  t.is(missingJson.stdout, '');
  t.like(JSON.parse(missingJson.stderr), { error: { kind: 'not-found', exitCode: 3 } });
  // A bare id: the error names the object that has it.
  const bare = await acp('cdb', 'get', 'cli-1', ...D);
  t.is(bare.code, 2);
  t.is(bare.stderr, 'acp: objects are named TYPE/ID: "cli-1" is system/cli-1, e.g. acp cdb get system/cli-1\n');

  // A second `up` on a running cluster is refused, and touches nothing.
  const again = await acp('up', '--detach', '--nodes', '3', ...D);
  t.is(again.code, 1);
  t.true(oneLine(again.stderr), again.stderr);
  t.regex(again.stderr, /^acp: a cluster is already running in .* \(stop it with: acp down --dir .*\)$/m);
  t.true(Object.values(run.pids).every(alive));

  // A node down: the cluster is degraded, and `acp status` says so with exit code 5.
  process.kill(run.pids.n3!, 'SIGKILL');
  await waitFor('n3 to be gone', () => !alive(run.pids.n3!) || readFileSync(`/proc/${run.pids.n3}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'), 20_000);
  const degraded = await acp('status', ...D);
  t.is(degraded.code, 5, degraded.stderr);
  t.regex(degraded.stdout, /^n3\s+127\.0\.0\.1:\d+\s+down\s+/m);
  t.regex(degraded.stdout, /^DEGRADED: node n3 is down/m);
  t.is(degraded.stderr, '');

  const down = await acp('down', ...D);
  t.is(down.code, 0, down.stderr);
  t.regex(down.stdout, /^stopped 2 nodes/);
  await waitFor('every node process to be gone', () => Object.values(run.pids).every((p) => !alive(p)), 20_000);
  t.false(existsSync(join(dir, 'run.json')));
  const st2 = await acp('status', ...D);
  t.is(st2.code, 4);
  t.regex(st2.stderr, /^acp: no node of the cluster in .* is running/);

  // A node that cannot start: its port is taken. `acp up` says so in one line; so does the node itself.
  const cluster = readClusterFile(dir);
  const n2 = cluster.nodes.find((n) => n.name === 'n2')!;
  const squatter = net.createServer();
  await new Promise<void>((resolve, reject) => {
    squatter.once('error', reject);
    squatter.listen(n2.port, '127.0.0.1', () => resolve());
  });
  try {
    const taken = await acp('up', '--detach', '--nodes', '3', ...D);
    t.is(taken.code, 1);
    t.true(oneLine(taken.stderr), taken.stderr);
    t.is(taken.stderr, `acp: node n2 cannot start: port 127.0.0.1:${n2.port} is taken\n`);
    t.is(readRunFile(dir), undefined, 'nothing was started');
    const node = await acp('node', 'start', '--config', n2.config);
    t.is(node.code, 1);
    t.true(oneLine(node.stderr), node.stderr);
    t.is(node.stderr, `acp: node n2 cannot start: cannot listen on 127.0.0.1:${n2.port} (port taken)\n`);
  } finally {
    await new Promise((r) => squatter.close(r));
  }

  // Started again on the same dir, the cluster keeps its data.
  const up2 = await acp('up', '--detach', '--nodes', '3', '--timeout', '60000', ...D);
  t.is(up2.code, 0, up2.stderr + readLogs(dir));
  const get2 = await acp('cdb', 'get', 'system/cli-1', ...D);
  t.is(get2.code, 0, get2.stderr);
  t.is((JSON.parse(get2.stdout) as { spec: { name: string } }).spec.name, 'from-the-cli');
  const pids2 = Object.values(readRunFile(dir)?.pids ?? {});
  t.is(pids2.length, 3);
  const down2 = await acp('down', ...D);
  t.is(down2.code, 0);
  t.true(pids2.every((p) => !alive(p)), 'acp down waits for every node to exit');
});

function readLogs(dir: string): string {
  return ['n1', 'n2', 'n3'].map((n) => {
    try {
      return `\n--- ${n}\n${readFileSync(join(dir, 'nodes', n, 'node.log'), 'utf8').slice(-2000)}`;
    } catch {
      return '';
    }
  }).join('');
}
