// acp apply / get / describe / delete / capabilities as a person runs them,
// each a child process against a real single-node cluster: a file with two
// objects applied (created), listed, described, applied again (unchanged); a
// bad file refused with the object and the field named and nothing written;
// a missing object is exit 3; --watch prints a change and ends cleanly on
// Ctrl-C.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACP, TestCluster, waitFor } from '../support/cluster.ts';
import { within } from '../support/wait.ts';

const oneLine = (s: string) => s.endsWith('\n') && s.trim().split('\n').length === 1 && !/\n\s+at /.test(s);

// One cluster for the steps below, run in order (each step is a test so that a slow, loaded
// machine never runs into ava's timeout in the middle of one long test).
let c: TestCluster;
let files: string;
test.before(async (t) => {
  c = await TestCluster.start({ nodes: 1 }, t);
  files = mkdtempSync(join(tmpdir(), 'acp-apply-'));
});
test.after.always(async () => {
  await c?.stop();
  if (files) rmSync(files, { recursive: true, force: true });
});

const acp = (...args: string[]) => c.cli([...args, '--dir', c.dir], { timeoutMs: 60_000 });
const file = (name: string, text: string): string => {
  const p = join(files, name);
  writeFileSync(p, text);
  return p;
};
const lan = (mtu: number) => `type: network
subtype: vlan-bridge
id: lan
spec:
  vlan: 100
  bridge: br-lan
  nodes: [n1]
  mtu: ${mtu}
`;
const two = () =>
  file(
    'two.yaml',
    `${lan(1500)}---
type: storage
subtype: device
id: d1
spec: { node: n1, path: /dev/loop7, sizeBytes: 1073741824 }
`,
  );

test.serial('apply a file with two objects: both created', async (t) => {
  const first = await acp('apply', '-f', two());
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, 'network/lan created\ndevice/d1 created\n');
});

test.serial('get lists them with their status, as a table and as JSON', async (t) => {
  const nets = await acp('get', 'networks');
  t.is(nets.code, 0, nets.stderr);
  t.regex(nets.stdout, /^NAME +SUBTYPE +STATE +REASON +VLAN +NODES +RX +TX\n/);
  t.regex(nets.stdout, /^lan +vlan-bridge +[a-z]+ .*100 +n1:[a-z]+ /m);
  const dev = await acp('get', 'devices', 'd1', '-o', 'json');
  t.is(dev.code, 0, dev.stderr);
  const d1 = JSON.parse(dev.stdout) as { type: string; subtype: string; id: string; spec: { path: string }; status: { state: string; nodes: { node: string; expected: boolean }[] } };
  t.like(d1, { type: 'storage', subtype: 'device', id: 'd1', spec: { path: '/dev/loop7' } });
  t.deepEqual(d1.status.nodes.map((n) => [n.node, n.expected]), [['n1', true]]);
  const nodes = await acp('get', 'nodes');
  t.is(nodes.code, 0, nodes.stderr);
  t.regex(nodes.stdout, /^n1 +up +/m);
});

test.serial('describe shows the spec, the conditions and the history', async (t) => {
  const desc = await acp('describe', 'network/lan');
  t.is(desc.code, 0, desc.stderr);
  t.regex(desc.stdout, /^Name: +lan\nObject: +network\/lan\nType: +network\/vlan-bridge\nState: +\S+/);
  t.regex(desc.stdout, /^Spec:\n {2}vlan: +100\n {2}bridge: +br-lan\n {2}nodes: +\[n1\]\n {2}mtu: +1500\nConditions:\n {2}NODE +STATE/m);
  t.regex(desc.stdout, /^History:\n {2}REVISION +CHANGE\n {2}\d+ +created$/m);
  const descYaml = await acp('describe', 'storage/d1', '-o', 'yaml');
  t.is(descYaml.code, 0, descYaml.stderr);
  t.regex(descYaml.stdout, /^object:\n {2}type: storage\n {2}subtype: device\n {2}id: d1\n/);
});

test.serial('apply again: unchanged', async (t) => {
  const again = await acp('apply', '-f', two());
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, 'network/lan unchanged\ndevice/d1 unchanged\n');
});

test.serial('a bad file: exit 2, the object and the field named, nothing written; missing objects: exit 3', async (t) => {
  // A list with a valid object and an invalid one.
  const bad = file('bad.json', JSON.stringify([
    { type: 'storage', subtype: 'device', id: 'd2', spec: { node: 'n1', path: '/dev/loop8', sizeBytes: 0 } },
    { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1', 'd2'], redundancy: 'raid1' } },
  ]));
  const refused = await acp('apply', '-f', bad);
  t.is(refused.code, 2, refused.stderr);
  t.true(oneLine(refused.stderr), refused.stderr);
  t.is(refused.stderr, `acp: ${bad}, object 2: storage/pool "p1": spec.redundancy must be one of mirror, raid5, none, raidz1 (nothing was applied)\n`);
  t.is(refused.stdout, '');
  const notWritten = await acp('get', 'devices', 'd2');
  t.is(notWritten.code, 3, 'the valid object of the refused file was not written');
  t.regex(notWritten.stderr, /^acp: device\/d2 not found \(revision \d+\)\n$/);
  const missing = await acp('describe', 'pool/nope', '-o', 'json');
  t.is(missing.code, 3);
  t.like(JSON.parse(missing.stderr), { error: { kind: 'not-found', exitCode: 3 } });
});

test.serial('get --watch prints a change, and Ctrl-C ends it with exit 0 and nothing on stderr', async (t) => {
  const w = spawn(process.execPath, [ACP, 'get', 'networks', '--watch', '-o', 'json', '--dir', c.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => w.kill('SIGKILL'));
  let out = '';
  let err = '';
  w.stdout.on('data', (b: Buffer) => (out += b.toString()));
  w.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => w.once('close', (code) => r(code)));
  const events = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; id: string; spec: { mtu: number }; status: { state: string } });
  await waitFor(() => `the first event of --watch (stdout: ${out}, stderr: ${err})`, () => events().length >= 1, 30_000);
  t.like(events()[0], { event: 'ADDED', id: 'lan', spec: { mtu: 1500 } });
  // The change comes after the listing's revision: the watch sees it even if its streams are still subscribing.
  const conf = await acp('apply', '-f', file('lan.yaml', lan(9000)));
  t.is(conf.code, 0, conf.stderr);
  t.is(conf.stdout, 'network/lan configured\n');
  await waitFor(() => `a MODIFIED event (stdout: ${out}, stderr: ${err})`, () => events().some((e) => e.event === 'MODIFIED' && e.spec.mtu === 9000), 30_000);
  w.kill('SIGINT');
  t.is(await within(exited, { what: 'acp get --watch to exit on SIGINT' }), 0, err);
  t.is(err, '');
});

test.serial('capabilities, and delete', async (t) => {
  const caps = await acp('capabilities');
  t.is(caps.code, 0, caps.stderr);
  t.regex(caps.stdout, /^(n1: no capabilities reported yet|NODE +CAPABILITY +AVAILABLE +REASON\nn1 )/);
  t.is((await acp('capabilities', '--node', 'n9')).code, 3);
  const del = await acp('delete', 'network/lan', 'device/d1');
  t.is(del.code, 0, del.stderr);
  t.is(del.stdout, 'network/lan deleted\ndevice/d1 deleted\n');
  const gone = await acp('delete', 'network/lan');
  t.is(gone.code, 3);
  t.is(gone.stdout, '');
  t.is(gone.stderr, 'acp: network/lan not found\n');
  t.is((await acp('get', 'networks')).stdout, 'no networks\n');
});
