// `acp down`'s identity check of a pid from run.json, against a fake /proc
// and against real processes.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processStartTime, procfs, startTimeFromStat, verifyNode, type ProcReader } from '../../cli/proc.ts';

const CONFIG = '/home/u/.acp/nodes/n1/config.json';
const NODE_ARGV = ['/usr/local/bin/node', '/home/u/acp/cli/acp.ts', 'node', 'start', '--config', CONFIG];

/** A /proc/PID/stat line: field 22 (starttime) = start, state = st; the command name may hold ") (". */
function statLine(pid: number, start: number, comm = 'node', st = 'S'): string {
  // fields 3..21 (19 fields) before starttime
  const before = [st, '1', '1', '1', '0', '-1', '4194304', '100', '0', '0', '0', '5', '3', '0', '0', '20', '0', '11', '0'];
  return `${pid} (${comm}) ${before.join(' ')} ${start} 1000000 2000 18446744073709551615\n`;
}

function fake(procs: Record<number, { argv?: string[]; start: number; uid?: number; comm?: string; state?: string }>): ProcReader {
  return {
    cmdline: (pid) => procs[pid]?.argv,
    stat: (pid) => (procs[pid] ? statLine(pid, procs[pid]!.start, procs[pid]!.comm, procs[pid]!.state) : undefined),
    uid: (pid) => (procs[pid] ? (procs[pid]!.uid ?? 1000) : undefined),
  };
}

const expect = (startTime: number | undefined) => ({ name: 'n1', config: CONFIG, startTime, uid: 1000 });

test('field 22 of /proc/PID/stat, also when the command name holds spaces and parentheses', (t) => {
  t.is(startTimeFromStat(statLine(42, 765278)), 765278);
  t.is(startTimeFromStat(statLine(42, 99, 'a) (b c) d')), 99);
  t.is(startTimeFromStat('garbage'), undefined);
  t.is(startTimeFromStat('42 (x) S 1 2'), undefined);
});

test('a pid that is this node, started when recorded, is ours to signal', (t) => {
  t.deepEqual(verifyNode(7, expect(500), fake({ 7: { argv: NODE_ARGV, start: 500 } })), { kind: 'ours' });
  // The bin launcher as the entry, and node flags before it, are the node entry too.
  const viaLauncher = ['/usr/bin/node', '--max-old-space-size=512', '/opt/acp/cli/acp.mjs', 'node', 'start', '--config', CONFIG];
  t.deepEqual(verifyNode(7, expect(500), fake({ 7: { argv: viaLauncher, start: 500 } })), { kind: 'ours' });
});

test('no process, or a zombie: gone, nothing to signal', (t) => {
  t.deepEqual(verifyNode(7, expect(500), fake({})), { kind: 'gone' });
  t.deepEqual(verifyNode(7, expect(500), fake({ 7: { argv: NODE_ARGV, start: 500, state: 'Z' } })), { kind: 'gone', zombie: true });
});

test('anything else is refused, with the reason', (t) => {
  const foreign = (p: ProcReader, start: number | null = 500) => {
    const v = verifyNode(7, expect(start ?? undefined), p);
    return v.kind === 'foreign' ? v.why : `not refused: ${v.kind}`;
  };
  // The pid went to an unrelated process.
  t.regex(foreign(fake({ 7: { argv: ['/usr/bin/postgres', '-D', '/var/lib/pg'], start: 900 } })), /command line is not node n1 of this cluster: \/usr\/bin\/postgres -D/);
  // Another cluster's node (another config), or another node of this one.
  t.regex(foreign(fake({ 7: { argv: [...NODE_ARGV.slice(0, 5), '/other/.acp/nodes/n1/config.json'], start: 500 } })), /not node n1 of this cluster/);
  // A node entry doing something else.
  t.regex(foreign(fake({ 7: { argv: ['/usr/bin/node', '/home/u/acp/cli/acp.ts', 'status'], start: 500 } })), /not node n1/);
  // The same command line, but started at another time: the pid was reused (e.g. a second acp up after a crash).
  t.regex(foreign(fake({ 7: { argv: NODE_ARGV, start: 777 } })), /started at tick 777, not at tick 500 .*reused/);
  // Another user's process.
  t.regex(foreign(fake({ 7: { argv: NODE_ARGV, start: 500, uid: 0 } })), /belongs to uid 0, not to you \(uid 1000\)/);
  // An old run.json without start times.
  t.regex(foreign(fake({ 7: { argv: NODE_ARGV, start: 500 } }), null), /no start time/);
  // A command line that cannot be read.
  t.regex(foreign(fake({ 7: { start: 500 } })), /cannot be read/);
});

test('real processes: our own start time, and an unrelated child is not a node', async (t) => {
  t.is(processStartTime(process.pid), startTimeFromStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8')));
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  const start = processStartTime(child.pid!);
  t.true(typeof start === 'number');
  t.deepEqual(procfs.cmdline(child.pid!), [process.execPath, '-e', 'setInterval(() => {}, 1000)']);
  const v = verifyNode(child.pid!, { name: 'n1', config: CONFIG, startTime: start });
  t.is(v.kind, 'foreign');
  t.deepEqual(verifyNode(2 ** 22 + 12345, { name: 'n1', config: CONFIG, startTime: 1 }), { kind: 'gone' });
});
