// The CLI as a new user meets it, without a running cluster: the launcher
// under an old Node, what a command loads, one-line errors with distinct exit
// codes for the usual mistakes, JSON errors when JSON is asked for, ACP_DIR,
// the cluster directory's permissions, no API key on the command line, and
// `acp down` refusing to signal a process that is not the cluster's node.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cluster.ts';
import { processStartTime } from '../../cli/proc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = join(ROOT, 'cli', 'acp.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'acp-cli-unit-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const oneLine = (s: string) => s.endsWith('\n') && s.trim().split('\n').length === 1 && !/\n\s+at /.test(s);

let n = 0;
/** A cluster directory as `acp up` leaves it, with no node running (its sockets do not exist). */
function fakeCluster(): string {
  const dir = join(tmp, `c${++n}`);
  mkdirSync(join(dir, 'pki'), { recursive: true, mode: 0o700 });
  const nodes = ['n1', 'n2'].map((name, i) => ({ name, host: '127.0.0.1', port: 7400 + i, dir: join(dir, 'nodes', name), config: join(dir, 'nodes', name, 'config.json'), socketDir: join(dir, 'nodes', name, 'sock') }));
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ v: 1, nodes }), { mode: 0o600 });
  writeFileSync(join(dir, 'pki', 'api.key'), 'ab'.repeat(32) + '\n', { mode: 0o600 });
  return dir;
}

const acp = (args: string[], env: Record<string, string> = {}) => runCli(args, { timeoutMs: 60_000, env: { ACP_DIR: '', ...env }, cwd: tmp });

test('the launcher is committed executable, is the bin, and under an old Node says what to run in one line', (t) => {
  const ls = spawnSync('git', ['ls-files', '-s', 'cli/acp.mjs', 'cli/acp.ts'], { cwd: ROOT, encoding: 'utf8' });
  // cli/acp.ts too: npx caches of the old bin link still point at it.
  t.regex(ls.stdout, /^100755 \S+ 0\tcli\/acp\.mjs\n100755 \S+ 0\tcli\/acp\.ts\n$/, 'git records the entry points with their executable bit');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string } };
  t.deepEqual(pkg.bin, { acp: 'cli/acp.mjs' });
  // engines names what bootstraps the project (npm ci brings Node 24): `npx acp` from npm on Node 20 prints no EBADENGINE.
  t.is(pkg.engines.node, '>=20');
  const ok = spawnSync(process.execPath, [LAUNCHER, 'version', '-o', 'json'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  t.is((JSON.parse(ok.stdout) as { node: string }).node, process.version);
  const old = '/usr/bin/node';
  const v = existsSync(old) ? spawnSync(old, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
  if (!/^v(1\d|2[0-3])\./.test(v)) {
    t.log(`no Node older than 24 at ${old} (${v || 'none'}): the old-Node case is not exercised`);
    return;
  }
  for (const entry of [LAUNCHER, join(ROOT, 'node_modules', '.bin', 'acp')].filter(existsSync)) {
    const r = spawnSync(old, [entry, 'status'], { encoding: 'utf8' });
    t.is(r.status, 1);
    t.is(r.stdout, '');
    t.true(oneLine(r.stderr), r.stderr);
    t.regex(r.stderr, new RegExp(`^acp: needs Node\\.js 24 or newer, but ${old} is ${v.replace(/\./g, '\\.')}; run "npx acp" in .*node_modules/\\.bin:\\$PATH"\\n$`));
    t.notRegex(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  }
});

test('a command loads only what it needs', async (t) => {
  const loaded = async (...args: string[]): Promise<string[]> => {
    const log = join(tmp, `load-${++n}.log`);
    writeFileSync(log, '');
    await new Promise<void>((resolve) => {
      const p = spawn(process.execPath, ['--import', join(ROOT, 'test', 'cli', 'load-hook.mjs'), LAUNCHER, ...args], { stdio: 'ignore', env: { ...process.env, ACP_LOAD_LOG: log } });
      p.once('close', () => resolve());
    });
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((u) => u.replace(`file://${ROOT}`, ''));
  };
  const heavy = /^(runtime|actors)\/|node_modules\/(zod|node-ipc|@peculiar|reflect-metadata|yaml|piscina|koffi)\//;
  const help = await loaded('--help');
  t.true(help.includes('cli/program.ts'), 'the hook sees the CLI load');
  t.deepEqual(help.filter((u) => heavy.test(u) || u.startsWith('cli/commands/')), [], '--help loads no command and nothing heavy');
  const cdbHelp = await loaded('cdb', 'get', '--help');
  t.true(cdbHelp.includes('cli/commands/cdb.ts'));
  t.deepEqual(cdbHelp.filter((u) => heavy.test(u) || /cli\/commands\/(?!cdb)/.test(u)), []);
  // `cdb get` needs the control-socket client, but not the X.509 library, the schemas, the node or the simulator.
  const get = await loaded('cdb', 'get', 'system/x', '--dir', fakeCluster());
  t.true(get.includes('runtime/net/local-api.ts'));
  t.deepEqual(get.filter((u) => /@peculiar|reflect-metadata|^actors\/|runtime\/(sim|actor)\/|yaml|piscina/.test(u)), []);
  t.true((await loaded('version', '-o', 'yaml')).some((u) => u.includes('node_modules/yaml/')), 'YAML is loaded when asked for');
  // acp get/describe: the control-socket client and the table code; not the schemas, the node, yaml or the other commands.
  for (const args of [['get', 'pools'], ['describe', 'pool/p1']]) {
    const got = await loaded(...args, '--dir', fakeCluster());
    t.true(got.includes('cli/object-view.ts') && got.includes('runtime/net/local-api.ts'), args.join(' '));
    t.deepEqual(got.filter((u) => /@peculiar|reflect-metadata|^actors\/|runtime\/(sim|actor)\/|node_modules\/yaml\/|piscina|cli\/commands\/(?!get|describe)/.test(u)), [], args.join(' '));
  }
  const applyHelp = await loaded('apply', '--help');
  t.deepEqual(applyHelp.filter((u) => heavy.test(u) || /cli\/commands\/(?!apply)/.test(u)), [], 'apply --help loads neither the schemas nor yaml');
});

test('user mistakes are one line with exit code 2, never "internal error"', async (t) => {
  const dir = fakeCluster();
  const D = ['--dir', dir];
  const cases: [string[], RegExp][] = [
    [['cdb', 'put', '--file', join(tmp, 'missing.json'), ...D], /^acp: --file .*missing\.json: no such file\n$/],
    [['cdb', 'put', '--file', tmp, ...D], /^acp: --file .* is a directory, not a file\n$/],
    [['cdb', 'put', '{"type":"system"}', '--file', join(tmp, 'x.json'), ...D], /either as an argument or with --file, not both/],
    [['up', '--dir', join(dir, 'cluster.json')], /^acp: --dir .*cluster\.json is a file, not a directory/],
    [['cdb', 'get', 'vm1', ...D], /^acp: objects are named TYPE\/ID \(types: system, node, storage, network, service\), e\.g\. acp cdb get system\/vm1\n$/],
    [['cdb', 'delete', 'vm1/', ...D], /objects are named TYPE\/ID .*e\.g\. acp cdb delete system\/vm1/],
    [['status', '--api-key', 'secret', ...D], /^acp: --api-key is gone \(a key on the command line shows in `ps` and in shell history\): set ACP_API_KEY or use --api-key-file FILE\n$/],
    [['status', '-o', 'yaml', '--json', ...D], /--json and -o yaml disagree/],
    [['explain', 'system', '-o', 'xml'], /argument 'xml' is invalid/],
    [['completion', 'fish'], /no completion for "fish": give bash or zsh/],
    [['get', 'vms', ...D], /^acp: no kind of object "vms"; acp get nodes\|networks\|devices\|pools\|shares\|systems\|services\n$/],
    [['describe', 'p1', ...D], /^acp: objects are named TYPE\/ID \(e\.g\. node\/n1, pool\/p1/],
    [['delete', ...D], /^acp: name the objects to delete \(acp delete pool\/p1\) or give a file with -f\n$/],
    [['apply', '-f', join(tmp, 'missing.yaml'), ...D], /^acp: -f .*missing\.yaml: no such file\n$/],
    [['apply', ...D], /required option '-f, --file <file>' not specified/],
  ];
  for (const [args, re] of cases) {
    const r = await acp(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.notRegex(r.stderr, /internal error|\n\s+at /);
    t.is(r.stdout, '');
  }
});

test('an object over the frame limit is refused before sending, with the limit named', async (t) => {
  const dir = fakeCluster();
  const big = join(tmp, 'big.json');
  writeFileSync(big, JSON.stringify({ type: 'system', id: 'big', spec: { name: 'x'.repeat(1_100_000), vcpus: 1, memoryMb: 16 } }));
  const r = await acp(['cdb', 'put', '--file', big, '--dir', dir]);
  t.is(r.code, 2);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, /^acp: the object is too large: \d+ bytes \(1\.05 MiB\) encoded, over the control socket's frame limit of 1048576 bytes \(1 MiB\); nothing was sent\n$/);
  t.notRegex(r.stderr, /may or may not/);
});

test('not found (3), unreachable (4), and errors as JSON when JSON is asked for', async (t) => {
  const missing = join(tmp, 'no-such-cluster');
  const nf = await acp(['status', '--dir', missing]);
  t.is(nf.code, 3);
  t.is(nf.stderr, `acp: no cluster in ${missing} (start one with: acp up --dir ${missing})\n`);
  // ACP_DIR is the default of --dir.
  const env = await acp(['cdb', 'ls'], { ACP_DIR: missing });
  t.is(env.code, 3);
  t.regex(env.stderr, new RegExp(`no cluster in ${missing} `));
  const dir = fakeCluster();
  const down = await acp(['cdb', 'ls', '--dir', dir]);
  t.is(down.code, 4);
  t.true(oneLine(down.stderr), down.stderr);
  t.regex(down.stderr, /^acp: no node in .* could answer: no node running in .*sock/);
  for (const args of [['get', 'nodes'], ['describe', 'node/n1'], ['capabilities'], ['delete', 'pool/p1']]) {
    const r = await acp([...args, '--dir', dir]);
    t.is(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^acp: no node in .* could answer: no node running in .*sock.*\(is the cluster running\? acp status --dir .*\)\n$/, args.join(' '));
  }
  const node = await acp(['cdb', 'ls', '--dir', dir, '--node', 'n9']);
  t.is(node.code, 3);
  t.regex(node.stderr, /no node named n9 in .* \(nodes: n1, n2\)/);
  const st = await acp(['status', '--dir', dir, '-o', 'json']);
  t.is(st.code, 4);
  t.like(JSON.parse(st.stdout), { healthy: false, nodes: [{ name: 'n1', up: false }, { name: 'n2', up: false }] });
  t.true(oneLine(st.stderr), st.stderr);
  t.like(JSON.parse(st.stderr), { error: { kind: 'unreachable', exitCode: 4 } });
  t.regex((JSON.parse(st.stderr) as { error: { message: string } }).error.message, /^no node of the cluster in .* is running \(no node running in .*n1\/sock/);
  const j = await acp(['cdb', 'get', 'system/x', '--dir', missing, '--json']);
  t.is(j.code, 3);
  t.deepEqual(JSON.parse(j.stderr), { error: { kind: 'not-found', exitCode: 3, message: `no cluster in ${missing} (start one with: acp up --dir ${missing})` } });
  const y = await acp(['cdb', 'get', '--bogus', '-o', 'yaml']);
  t.is(y.code, 2);
  t.is(y.stderr, "error:\n  kind: invalid\n  exitCode: 2\n  message: unknown option '--bogus'\n");
});

test('the API key comes from $ACP_API_KEY or a private --api-key-file, never the command line', async (t) => {
  const dir = fakeCluster();
  const keyFile = join(tmp, 'key');
  writeFileSync(keyFile, 'cd'.repeat(32) + '\n', { mode: 0o644 });
  chmodSync(keyFile, 0o644);
  const open = await acp(['status', '--dir', dir, '--api-key-file', keyFile]);
  t.is(open.code, 2);
  t.is(open.stderr, `acp: the API key file ${keyFile} has mode 0644; it must be readable by its owner only (chmod 600 ${keyFile})\n`);
  chmodSync(keyFile, 0o600);
  // Read, then the nodes are asked (and are not running).
  t.is((await acp(['status', '--dir', dir, '--api-key-file', keyFile])).code, 4);
  const gone = await acp(['status', '--dir', dir, '--api-key-file', join(tmp, 'nokey')]);
  t.is(gone.code, 2);
  t.regex(gone.stderr, /cannot read the API key file: .*nokey does not exist/);
  // Not in --help any more.
  const help = await acp(['status', '--help']);
  t.notRegex(help.stdout, /--api-key </);
  t.regex(help.stdout, /--api-key-file <file>/);
});

test('acp up refuses a cluster directory that other users can write, and leaves it as it was', async (t) => {
  const open = join(tmp, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const r = await acp(['up', '--dir', open, '--detach']);
  t.is(r.code, 2);
  t.is(r.stderr, `acp: --dir ${open} has mode 0777: other users could write the cluster's files (run.json names the processes acp down signals); make it private with: chmod 700 ${open}\n`);
  t.is(statSync(open).mode & 0o777, 0o777);
  t.false(existsSync(join(open, 'cluster.json')), 'nothing was created in it');
  const group = join(tmp, 'group');
  mkdirSync(group);
  chmodSync(group, 0o770);
  t.regex((await acp(['down', '--dir', group])).stderr, /has mode 0770: .*chmod 700/);
  // acp init creates its directory 0700 (as acp up does: test/node/cli.test.ts).
  const fresh = join(tmp, 'fresh', 'cluster');
  const init = await acp(['init', '--node', 'n1=127.0.0.1:7400', '--dir', fresh, '-o', 'json']);
  t.is(init.code, 0, init.stderr);
  t.is(statSync(fresh).mode & 0o777, 0o700);
  t.deepEqual(JSON.parse(init.stdout), { pkiDir: join(fresh, 'pki'), configs: { n1: join(fresh, 'nodes', 'n1.json') } });
});

test('acp down does not signal a pid from run.json that is not a node of this cluster', async (t) => {
  const dir = fakeCluster();
  // An innocent process of ours whose pid ended up in run.json (stale, or altered).
  const victim = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => victim.kill('SIGKILL'));
  await new Promise((r) => victim.once('spawn', r));
  const pid = victim.pid!;
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, pids: { n1: pid }, starts: { n1: processStartTime(pid) }, detached: true, startedAt: new Date().toISOString() }), { mode: 0o600 });
  const r = await acp(['down', '--dir', dir, '--timeout', '100']);
  t.is(r.code, 1);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, new RegExp(`^acp: did not signal pid ${pid} listed for node n1 in run\\.json: its command line is not node n1 of this cluster: .* -e setInterval`));
  t.is(victim.exitCode, null);
  t.is(victim.signalCode, null);
  t.notThrows(() => process.kill(pid, 0), 'the process is still running');
  // A pid listed for a node the cluster does not have, and an old run.json without start times: refused too.
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, pids: { n7: pid }, detached: true, startedAt: '' }), { mode: 0o600 });
  t.regex((await acp(['down', '--dir', dir])).stderr, /there is no node n7 in .*cluster\.json/);
  writeFileSync(join(dir, 'run.json'), '{"v":1,"pids":', { mode: 0o600 });
  const garbled = await acp(['down', '--dir', dir]);
  t.is(garbled.code, 1);
  t.regex(garbled.stderr, /^acp: cannot tell which processes to stop: .*run\.json: .*; nothing was signalled\n$/);
  t.notThrows(() => process.kill(pid, 0));
});

test('acp version, and acp sim -o json prints the summary on stdout', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = await acp(['version']);
  t.is(v.code, 0);
  t.is(v.stdout, `acp ${pkg.version}\nnode ${process.version}\n`);
  const sim = await runCli(['sim', 'test/sim/fixtures/quick.ts', '--seed', '2', '-o', 'json'], { cwd: ROOT, timeoutMs: 120_000 });
  t.is(sim.code, 0, sim.stderr);
  t.like(JSON.parse(sim.stdout), { scenario: 'quick', seeds: 1, failed: [], replay: {} });
  t.regex(sim.stderr, /quick seed 2: PASSED/, 'the report goes to stderr');
});
