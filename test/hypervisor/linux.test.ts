// The Hypervisor's Linux driver on this machine, as root, driven by the real reconciler:
//  - a process with a memory limit is OOM-killed, its exit observed as such, and restarted
//    after its back-off;
//  - kill -9 of the process hosting the driver leaves the workload running, and a new driver
//    instance adopts it (no second start);
//  - a runc container runs a busybox command and its exit code is observed;
//  - a TCG (or KVM) VM boots the Debian kernel with our initramfs to a shell prompt on its
//    serial console, and answers a command typed there.
// Skipped, with the reason printed, where the machine lacks what a test needs. Everything a test
// starts is stopped and removed by its teardown, also when it fails.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SystemSpec } from '../../actors/cdb/schema.ts';
import { LinuxHypervisor } from '../../actors/hypervisor/linux.ts';
import { alive } from '../../actors/hypervisor/proc.ts';
import { buildInitramfs, findKernel, GUEST_CMDLINE, GUEST_PROMPT, GUEST_READY } from '../../actors/hypervisor/guest.ts';
import { consoleLog, consoleSock } from '../../actors/hypervisor/qemu.ts';
import { converge, desired, pass, rootSkip, waitForText } from './helpers.ts';

const NODE_BIN = join(process.cwd(), 'node_modules', '.bin', 'node');

function setup(t: ExecutionContext, name: string): LinuxHypervisor {
  const dataDir = mkdtempSync(join(tmpdir(), `acp-hv-${name}-`));
  const node = `t${process.pid}-${name}`;
  const d = new LinuxHypervisor({ node, dataDir });
  t.teardown(async () => {
    const obs = await d.observe().catch(() => undefined);
    for (const id of obs?.workloads.keys() ?? []) await d.apply({ kind: 'remove', key: `system/${id}`, id, graceMs: 500 }).catch((e: Error) => t.log(`teardown: ${id}: ${e.message}`));
    await d.close();
    d.cg.removeBase();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return d;
}

function skipIf(t: ExecutionContext, reason: string | undefined): boolean {
  if (reason === undefined) return false;
  t.log(`SKIPPED: ${reason}`);
  console.log(`hypervisor test "${t.title}" skipped: ${reason}`);
  t.pass();
  return true;
}

test.serial('a process over its memory limit is OOM-killed, observed as such, and restarted after its back-off', async (t) => {
  if (skipIf(t, rootSkip())) return;
  const d = setup(t, 'oom');
  if (skipIf(t, d.cg.kind === 'none' ? `no cgroups: ${d.cg.detail}` : undefined)) return;
  const caps = await d.capabilities();
  if (skipIf(t, caps.process?.ok ? undefined : (caps.process as { reason: string }).reason)) return;
  t.log(`cgroups: ${d.cg.detail}`);
  const node = d.node;
  const spec = {
    name: 'hog',
    vcpus: 1,
    memoryMb: 24,
    node,
    kind: 'process',
    // Grow a shell variable to ~100 MB: far over 24 MiB.
    process: { command: 'busybox', args: ['sh', '-c', 'echo growing; x=$(busybox head -c 100000000 /dev/zero | busybox tr "\\0" a); echo survived ${#x}'] },
    restart: 'on-failure',
    backoff: { initialMs: 300, maxMs: 1000 },
  } as SystemSpec;
  const want = desired({ hog: spec });
  const states: string[] = [];
  let firstExitAt = 0;
  const p = await converge(node, d, want, caps, (x) => (x.observed.workloads.get('hog')?.run ?? 0) >= 2, {
    deadlineMs: 60_000,
    what: 'the OOM kill and a second run',
    seen: (x) => {
      const c = x.plan.status.get('system/hog');
      if (c) states.push(`${c.state}: ${c.reason ?? ''}`);
      const w = x.observed.workloads.get('hog');
      if (w && w.exits.length > 0 && firstExitAt === 0) firstExitAt = w.exits[0]!.at;
    },
  });
  const w = p.observed.workloads.get('hog')!;
  const e = w.exits[0]!;
  t.true(e.oom, `the first exit is an OOM kill: ${JSON.stringify(e)}`);
  t.is(e.signal, 'SIGKILL');
  t.false(e.requested);
  t.true(states.some((s) => /OOM killer.*restarting in \d+ s \(back-off 300 ms/.test(s)), `a back-off was reported: ${states.join(' | ')}`);
  t.true(w.startedAt - e.at >= 300, `the restart waited out the back-off (${w.startedAt - e.at} ms)`);
  t.regex(readFileSync(d.logs('hog').stdout, 'utf8'), /growing/);
  t.notRegex(readFileSync(d.logs('hog').stdout, 'utf8'), /survived/);
});

test.serial('kill -9 of the node process leaves the workload running; a new driver adopts it without starting it again', async (t) => {
  if (skipIf(t, rootSkip())) return;
  const d = setup(t, 'adopt');
  const caps = await d.capabilities();
  if (skipIf(t, caps.process?.ok ? undefined : (caps.process as { reason: string }).reason)) return;
  const spec = { name: 'sleeper', vcpus: 1, memoryMb: 32, node: d.node, kind: 'process', process: { command: 'sleep', args: ['600'] } } as SystemSpec;
  const host = spawn(NODE_BIN, [join('test', 'hypervisor', 'fixtures', 'host.ts'), join(d.root, '..'), d.node, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void host.kill('SIGKILL'));
  let out = '';
  let err = '';
  host.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const pid = await new Promise<number>((resolve, reject) => {
    host.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = out.match(/started (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    host.once('exit', (code) => reject(new Error(`host exited (${code}) before starting: ${err}`)));
  });
  const exited = new Promise((r) => host.once('exit', r));
  host.kill('SIGKILL');
  await exited;
  const rec = d.record('adoptme')!;
  t.is(rec.main?.pid, pid);
  t.true(alive(rec.main), 'the workload survived its node process');
  t.true(alive(rec.shim), 'so did its shim');

  // The new node process: observe shows it running but not ours yet; the plan is adopt, only.
  const want = desired({ adoptme: spec });
  const first = await pass(d.node, d, want, caps);
  t.deepEqual(first.applied.map((a) => a.kind), ['adopt']);
  const w = first.observed.workloads.get('adoptme')!;
  t.is(w.phase, 'running');
  t.false(w.attached);
  const second = await pass(d.node, d, want, caps);
  t.deepEqual(second.applied, [], 'adopted: nothing more to do');
  t.is(second.observed.workloads.get('adoptme')!.pid, pid, 'the same process, not a second copy');
  t.is(second.observed.workloads.get('adoptme')!.run, 1);
  t.is(second.plan.status.get('system/adoptme')?.state, 'ready');
  // Adopted means stoppable: the stop reaches it (through its identity) and is observed as asked for.
  await d.apply({ kind: 'stop', key: 'system/adoptme', id: 'adoptme', graceMs: 2000 });
  const after = await d.observe();
  t.is(after.workloads.get('adoptme')!.phase, 'exited');
  t.true(after.workloads.get('adoptme')!.exits.at(-1)!.requested);
  t.false(alive(rec.main));
});

test.serial('a process runs in the network namespace the caller hands over, as the user asked', async (t) => {
  if (skipIf(t, rootSkip())) return;
  if (skipIf(t, existsSync('/usr/sbin/ip') || existsSync('/sbin/ip') || existsSync('/usr/bin/ip') ? undefined : 'no ip command (apt-get install iproute2)')) return;
  const d = setup(t, 'netns');
  const caps = await d.capabilities();
  if (skipIf(t, caps.process?.ok ? undefined : (caps.process as { reason: string }).reason)) return;
  // The Network service's part, played by the test: a namespace of its own.
  const ns = `acp-hvt-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => void execFileSync('ip', ['netns', 'delete', ns]));
  d.attachments.set('inns', { netns: `/run/netns/${ns}` });
  const spec = { name: 'inns', vcpus: 1, memoryMb: 32, node: d.node, kind: 'process', process: { command: 'sleep', args: ['600'], user: '65534:65534' }, networks: ['v1'] } as SystemSpec;
  const p = await converge(d.node, d, desired({ inns: spec }), caps, (x) => x.plan.status.get('system/inns')?.state === 'ready', { deadlineMs: 20_000, what: 'the process' });
  const pid = p.observed.workloads.get('inns')!.pid!;
  t.is(readlinkSync(`/proc/${pid}/ns/net`), `net:[${statSync(`/run/netns/${ns}`).ino}]`, 'in the namespace handed over');
  t.regex(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+65534\s/m, 'as uid 65534');
  t.notRegex(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+0\s/m);
});

test.serial('a runc container runs a busybox command and its exit code is observed', async (t) => {
  if (skipIf(t, rootSkip())) return;
  const d = setup(t, 'runc');
  const caps = await d.capabilities();
  if (skipIf(t, !caps.runc?.ok ? (caps.runc as { reason: string }).reason : !caps.busybox?.ok ? (caps.busybox as { reason: string }).reason : undefined)) return;
  const spec = {
    name: 'box',
    vcpus: 1,
    memoryMb: 64,
    node: d.node,
    kind: 'container',
    container: { image: 'busybox', command: ['sh', '-c', 'echo "in $(hostname) as $(id -u)"; touch /ro 2>/dev/null || echo read-only root; exit 7'], hostname: 'box1' },
    restart: 'never',
  } as SystemSpec;
  const p = await converge(d.node, d, desired({ box: spec }), caps, (x) => x.plan.status.get('system/box')?.state === 'failed', { deadlineMs: 60_000, what: 'the container to exit' });
  const w = p.observed.workloads.get('box')!;
  t.is(w.exits.at(-1)!.code, 7);
  t.false(w.exits.at(-1)!.oom);
  t.regex(p.plan.status.get('system/box')!.reason!, /exited with code 7; not restarted: restart policy is never/);
  const out = readFileSync(d.logs('box').stdout, 'utf8');
  t.regex(out, /in box1 as 0/);
  t.regex(out, /read-only root/);
  const stderr = readFileSync(d.logs('box').stderr, 'utf8');
  t.notRegex(stderr, /error/i, stderr);
});

test.serial('a runc container over its memory limit is OOM-killed and observed as such', async (t) => {
  if (skipIf(t, rootSkip())) return;
  const d = setup(t, 'runcoom');
  const caps = await d.capabilities();
  if (skipIf(t, !caps.runc?.ok ? (caps.runc as { reason: string }).reason : d.cg.kind === 'none' ? `no cgroups: ${d.cg.detail}` : undefined)) return;
  const spec = {
    name: 'boxhog',
    vcpus: 1,
    memoryMb: 24,
    node: d.node,
    kind: 'container',
    container: { image: 'busybox', command: ['sh', '-c', 'echo growing; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived ${#x}'] },
    restart: 'never',
  } as SystemSpec;
  const p = await converge(d.node, d, desired({ boxhog: spec }), caps, (x) => x.plan.status.get('system/boxhog')?.state === 'failed', { deadlineMs: 60_000, what: 'the container to be OOM-killed' });
  const e = p.observed.workloads.get('boxhog')!.exits.at(-1)!;
  t.true(e.oom, JSON.stringify(e));
  t.regex(p.plan.status.get('system/boxhog')!.reason!, /OOM killer/);
  t.notRegex(readFileSync(d.logs('boxhog').stdout, 'utf8'), /survived/);
});

test.serial('a VM boots the Debian kernel and our initramfs to a shell prompt on its serial console', async (t) => {
  if (skipIf(t, rootSkip())) return;
  const d = setup(t, 'vm');
  const caps = await d.capabilities();
  if (skipIf(t, caps.qemu?.ok ? undefined : (caps.qemu as { reason: string }).reason)) return;
  const kernel = findKernel();
  if (skipIf(t, kernel ? undefined : 'no kernel in /boot (apt-get install linux-image-cloud-amd64)')) return;
  const initrd = join(d.root, 'guest-initrd.gz');
  const built = buildInitramfs(initrd, { kernelVersion: kernel!.version });
  t.log(`guest: ${kernel!.path}, initramfs ${built.bytes} bytes, modules ${built.modules.join(' ') || 'none'}; accel ${d.accel}`);
  const spec = { name: 'guest', vcpus: 1, memoryMb: 128, node: d.node, kind: 'vm', vm: { kernel: kernel!.path, initramfs: initrd, cmdline: GUEST_CMDLINE } } as SystemSpec;
  const started = Date.now();
  const p = await converge(d.node, d, desired({ guest: spec }), caps, (x) => x.plan.status.get('system/guest')?.state === 'ready', { deadlineMs: 30_000, what: 'the VM process' });
  t.is(p.plan.status.get('system/guest')!.info?.accel, d.accel);
  const log = consoleLog(d.dirOf('guest'));
  await waitForText(log, new RegExp(`${GUEST_READY}[\\s\\S]*${GUEST_PROMPT.trim()}`), 150_000, 'the guest shell prompt');
  t.log(`prompt after ${Date.now() - started} ms`);
  // A real shell: type on the serial console, read the answer from the console log.
  const sock = createConnection(consoleSock(d.dirOf('guest')));
  t.teardown(() => void sock.destroy());
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  sock.write('echo answer=$((6*7))\n');
  await waitForText(log, /answer=42/, 30_000, 'the answer typed on the console');
  // QMP: the VM is running, under the accelerator we said.
  const q = await d.qmp('guest');
  t.is((await q.queryStatus()).status, 'running');
  t.is((await q.queryKvm()).enabled, d.accel === 'kvm');
  await q.stop();
  t.is((await d.observe()).workloads.get('guest')!.phase, 'paused');
  await q.cont();
  const stats = await d.stats();
  t.true((stats.get('system/guest')?.memoryBytes ?? 0) > 0, JSON.stringify(stats.get('system/guest')));
});
