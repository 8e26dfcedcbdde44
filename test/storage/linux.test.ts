// Storage on the real kernel (root only): loop devices, a btrfs mirror that
// loses a device, a share with a quota, NFS through ganesha and NBD through
// qemu-storage-daemon on loopback, and a driver killed with SIGKILL that
// adopts everything when it comes back. Each test works under its own
// /tmp/acp-storage-* directory and removes everything it made, also when it
// fails (t.teardown scrubs processes, mounts, loop devices and files there).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LinuxStorageDriver, which } from '../../actors/storage/linux.ts';
import { census, conditions, converge, objs, scrub, skipReason } from './linux-support.ts';

const skip = skipReason(['losetup', 'mkfs.btrfs', 'btrfs', 'wipefs', 'truncate']);
if (skip) console.log(`test/storage/linux: skipping the real-kernel storage tests: ${skip}`);
const realTest = skip ? test.skip : test.serial;

const MiB = 1 << 20;

function workDir(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync('/tmp/acp-storage-');
  t.teardown(() => scrub(dir));
  return dir;
}

const loopDev = (dir: string, id: string, sizeBytes = 256 * MiB) => ({ type: 'storage' as const, subtype: 'device' as const, id, spec: { node: 'n1', path: join(dir, 'disks', `${id}.img`), sizeBytes, loop: true } });

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function writeRandom(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  try {
    for (let n = 0; n < bytes; n += MiB) writeSync(fd, randomBytes(Math.min(MiB, bytes - n)));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

realTest('a btrfs mirror on two loop devices survives losing one: data intact, pool degraded naming the device', async (t) => {
  const dir = workDir(t);
  const driver = new LinuxStorageDriver({ dataDir: join(dir, 'node') });
  const caps = await driver.capabilities();
  const desired = objs(
    loopDev(dir, 'd1'),
    loopDev(dir, 'd2'),
    { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1', 'd2'], redundancy: 'mirror' } },
    { type: 'storage', subtype: 'share', id: 'data', spec: { pool: 'p1', protocol: 'local', path: '/data' } },
  );
  const first = await converge(driver, desired, caps);
  t.deepEqual(conditions(first.plan), { 'storage/d1': 'ready', 'storage/d2': 'ready', 'storage/p1': 'ready', 'storage/data': 'ready' });
  t.is(first.plan.status.get('storage/p1')!.info!.profile, 'raid1');
  const shareDir = String(first.plan.status.get('storage/data')!.info!.path);
  const file = join(shareDir, 'payload');
  writeRandom(file, 24 * MiB);
  const before = sha(file);
  const d2 = first.observed.devices.get('d2')!.dev!;

  // Live failure: the disk under d2 dies (its loop device shrinks to nothing; every I/O on it fails).
  execFileSync('truncate', ['-s', '0', join(dir, 'disks', 'd2.img')]);
  execFileSync('losetup', ['--set-capacity', d2]);
  writeRandom(join(shareDir, 'more'), 4 * MiB); // writes that hit the dead mirror half
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
  t.is(sha(file), before, 'data read back intact from the surviving mirror');
  const live = await converge(driver, desired, caps);
  const c = conditions(live.plan);
  t.regex(c['storage/p1']!, new RegExp(`^degraded: pool p1: device d2 \\(${d2}\\) has \\d+ I/O errors?$`));
  t.regex(c['storage/d2']!, /^degraded: device d2 \(\/dev\/loop\d+\) has \d+ I\/O errors? \(btrfs device stats\)$/);
  const stats = await driver.stats();
  t.true((stats.get('storage/p1')!.deviceErrors ?? 0) > 0, 'pool stats count the device errors');

  // The machine restarts without that disk: no mounts, no loop devices, and the dead disk's file is
  // gone. A new driver attaches what is left and mounts the pool degraded.
  execFileSync('umount', [String(first.plan.status.get('storage/p1')!.info!.mount)]);
  for (const l of census(dir).loops) execFileSync('losetup', ['-d', `/dev/${l.split(':')[0]}`]);
  execFileSync('rm', ['-f', join(dir, 'disks', 'd2.img')]);
  t.deepEqual(census(dir).loops, []);
  const again = new LinuxStorageDriver({ dataDir: join(dir, 'node') });
  const after = await converge(again, desired, caps);
  t.deepEqual(
    after.applied.map((a) => `${a.kind} ${a.id}${a.kind === 'mount-pool' && a.degraded ? ' degraded' : ''}`),
    ['create-loop d1', 'mount-pool p1 degraded'],
    'nothing is re-created: d1 is attached again and the pool mounted degraded',
  );
  const c2 = conditions(after.plan);
  t.is(c2['storage/d2'], `failed: device d2 failed: its loop device ${d2} is gone and its backing file ${join(dir, 'disks', 'd2.img')} was removed`);
  t.is(c2['storage/p1'], `degraded: pool p1: device d2 (${d2}) missing`);
  t.is(c2['storage/data'], 'ready');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
  t.is(sha(file), before, 'data intact on the one device left');
});

realTest('a share with a quota: writes beyond it fail with EDQUOT; usage and quota in its stats', async (t) => {
  const dir = workDir(t);
  const driver = new LinuxStorageDriver({ dataDir: join(dir, 'node') });
  const caps = await driver.capabilities();
  if (!caps.quotas?.ok) return t.pass(`quotas unavailable: ${caps.quotas && !caps.quotas.ok ? caps.quotas.reason : ''}`);
  const desired = objs(
    loopDev(dir, 'd1'),
    { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1'], redundancy: 'none' } },
    { type: 'storage', subtype: 'share', id: 'q', spec: { pool: 'p1', protocol: 'local', path: '/q', quotaBytes: 8 * MiB } },
  );
  const r = await converge(driver, desired, caps);
  t.is(conditions(r.plan)['storage/q'], 'ready');
  t.is(r.observed.shares.get('q')!.quotaBytes, 8 * MiB, 'the kernel reports the limit');
  const shareDir = String(r.plan.status.get('storage/q')!.info!.path);
  const err = t.throws(() => writeRandom(join(shareDir, 'big'), 32 * MiB));
  t.is((err as NodeJS.ErrnoException).errno, -122, `EDQUOT expected: ${err!.message}`);
  const st = (await driver.stats()).get('storage/q')!;
  t.is(st.quotaBytes, 8 * MiB);
  t.true(st.usedBytes! > 4 * MiB && st.usedBytes! <= 9 * MiB, `used ${st.usedBytes}`);
  // Raising the quota is one action, and then the write fits.
  const raised = objs(...[...desired.values()].map((o) => (o.id === 'q' ? { ...o, spec: { ...o.spec, quotaBytes: 64 * MiB } } : o)) as never[]);
  const r2 = await converge(driver, raised, caps);
  t.deepEqual(r2.applied.map((a) => `${a.kind} ${a.id}`), ['set-quota q']);
  writeRandom(join(shareDir, 'big'), 32 * MiB);
  const ds = (await driver.stats()).get('storage/d1')!;
  t.true(ds.writeBytes! > 32 * MiB, 'device stats count the writes');
});

const nfsSkip = skip ?? (which('ganesha.nfsd') ? undefined : 'ganesha.nfsd not installed (Debian: nfs-ganesha nfs-ganesha-vfs)');
if (!skip && nfsSkip) console.log(`test/storage/linux: skipping the NFS test: ${nfsSkip}`);

(nfsSkip ? test.skip : test.serial)('an nfs share is served by ganesha on loopback and readable; an nbd share serves its disk', async (t) => {
  const dir = workDir(t);
  const driver = new LinuxStorageDriver({ dataDir: join(dir, 'node') });
  const caps = await driver.capabilities();
  const nbd = caps['qemu-storage-daemon']?.ok || caps['qemu-nbd']?.ok;
  const desired = objs(
    loopDev(dir, 'd1'),
    { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1'], redundancy: 'none' } },
    { type: 'storage', subtype: 'share', id: 'exp', spec: { pool: 'p1', protocol: 'nfs', path: '/exp' } },
    ...(nbd ? [{ type: 'storage' as const, subtype: 'share' as const, id: 'disk', spec: { pool: 'p1', protocol: 'nbd' as const, path: '/vm1-disk', quotaBytes: 64 * MiB } }] : []),
  );
  const r = await converge(driver, desired, caps);
  const c = conditions(r.plan);
  t.is(c['storage/exp'], 'ready');
  const info = r.plan.status.get('storage/exp')!.info!;
  const [host, port] = String(info.endpoint).split(':');
  t.is(host, '127.0.0.1');
  writeFileSync(join(String(info.dir), 'hello.txt'), 'hello over nfs\n');
  const url = `nfs://127.0.0.1${info.export}/hello.txt?version=4&nfsport=${port}`;
  if (/\snfs4?\n/.test(readFileSync('/proc/filesystems', 'utf8'))) {
    const m = join(dir, 'nfs-mnt');
    execFileSync('mkdir', ['-p', m]);
    execFileSync('mount', ['-t', 'nfs4', '-o', `port=${port},vers=4.1`, `127.0.0.1:${info.export}`, m]);
    try {
      t.is(readFileSync(join(m, 'hello.txt'), 'utf8'), 'hello over nfs\n');
    } finally {
      execFileSync('umount', [m]);
    }
  } else if (which('nfs-cat')) {
    t.log('the kernel has no NFS client: reading through libnfs (nfs-cat)');
    t.is(execFileSync('nfs-cat', [url], { encoding: 'utf8' }), 'hello over nfs\n');
  } else {
    t.log('no NFS client (kernel nor libnfs-utils): checking that the server answers on its port');
    await new Promise<void>((resolve, reject) => {
      const s = connect(Number(port), host, () => (s.end(), resolve()));
      s.on('error', reject);
    });
  }
  if (nbd) {
    t.is(c['storage/disk'], 'ready');
    const ni = r.plan.status.get('storage/disk')!.info!;
    const q = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', `nbd://${ni.endpoint}${ni.export}`], { encoding: 'utf8' })) as { 'virtual-size': number };
    t.is(q['virtual-size'], 64 * MiB);
  } else t.log(`nbd part skipped: ${JSON.stringify(caps['qemu-storage-daemon'])}`);

  // The server dies: the next pass starts it again (the service supervises it).
  const pid = Number(readFileSync(join(dir, 'node', 'storage', 'nfs', 'ganesha.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  await new Promise((res) => setTimeout(res, 100));
  const again = await converge(driver, desired, caps);
  t.deepEqual(again.applied.map((a) => `${a.kind} ${a.id}`), ['export-share exp']);
  if (which('nfs-cat')) t.is(execFileSync('nfs-cat', [url], { encoding: 'utf8' }), 'hello over nfs\n');

  // Deleting the share takes its export down, then the subvolume.
  const fewer = new Map([...desired].filter(([k]) => k !== 'storage/exp'));
  const gone = await converge(driver, fewer, caps);
  t.deepEqual(gone.applied.map((a) => `${a.kind} ${a.id}`), ['unexport-share exp', 'destroy-share exp']);
  t.is(census(dir).procs.filter((p) => p.includes('ganesha')).length, 0, 'no ganesha left once no share needs it');
});

interface ChildLine {
  applied?: string;
  id?: string;
  converged?: boolean;
  actions?: number;
  states?: Record<string, string>;
}

/** Run the driver in a child process; resolve on the line `until` accepts, with the child still running. */
function child(t: { teardown: (f: () => void) => void }, dataDir: string, desiredFile: string, until: (l: ChildLine) => boolean): Promise<{ pid: number; lines: ChildLine[] }> {
  const node = process.execPath;
  const c = spawn(node, [join(import.meta.dirname, 'driver-child.ts'), dataDir, desiredFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  });
  let err = '';
  c.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines: ChildLine[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: c.stdout }).on('line', (line) => {
      const l = JSON.parse(line) as ChildLine;
      lines.push(l);
      if (until(l)) resolve({ pid: c.pid!, lines });
    });
    c.on('exit', (code) => reject(new Error(`driver child exited (${code}): ${err}`)));
  });
}

realTest('kill -9 of the driver mid-reconcile, then a restart: everything is adopted, nothing duplicated or leaked', async (t) => {
  const dir = workDir(t);
  const dataDir = join(dir, 'node');
  const nfs = which('ganesha.nfsd') !== undefined;
  const desiredFile = join(dir, 'desired.json');
  writeFileSync(
    desiredFile,
    JSON.stringify([
      loopDev(dir, 'd1'),
      loopDev(dir, 'd2'),
      loopDev(dir, 'd3'),
      { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1', 'd2'], redundancy: 'mirror' } },
      { type: 'storage', subtype: 'share', id: 's1', spec: { pool: 'p1', protocol: 'local', path: '/s1', quotaBytes: 16 * MiB } },
      { type: 'storage', subtype: 'share', id: 's2', spec: { pool: 'p1', protocol: nfs ? 'nfs' : 'local', path: '/s2' } },
    ]),
  );
  // First life: killed right after the pool is made (devices and pool exist, shares not yet).
  const a = await child(t, dataDir, desiredFile, (l) => l.applied === 'create-pool');
  process.kill(a.pid, 'SIGKILL');
  t.true(a.lines.some((l) => l.applied === 'create-loop'));
  // Second life: finishes the work.
  const b = await child(t, dataDir, desiredFile, (l) => l.converged === true);
  const done = b.lines.at(-1)!;
  t.false(b.lines.some((l) => l.applied === 'create-loop' || l.applied === 'create-pool'), `second life re-created nothing: ${JSON.stringify(b.lines)}`);
  t.true(Object.values(done.states!).every((s) => s === 'ready'), JSON.stringify(done.states));
  const mid = census(dir);
  t.is(mid.loops.length, 3, `three loop devices: ${mid.loops}`);
  t.is(mid.mounts.length, nfs ? 2 : 1, `the pool's mount (and the nfs share's bind mount): ${mid.mounts}`);
  t.is(mid.procs.length, nfs ? 1 : 0, `one ganesha: ${mid.procs}`);
  process.kill(b.pid, 'SIGKILL');
  // Third life: adopts everything, does nothing.
  const c = await child(t, dataDir, desiredFile, (l) => l.converged === true);
  process.kill(c.pid, 'SIGKILL');
  t.is(c.lines.at(-1)!.actions, 0, `third life applied nothing: ${JSON.stringify(c.lines)}`);
  t.deepEqual(census(dir), mid, 'same loop devices, mounts and servers: no duplicates, no leaks');
  // Purge removes all of it.
  const driver = new LinuxStorageDriver({ dataDir });
  await driver.purge();
  t.deepEqual(census(dir), { loops: [], mounts: [], procs: [] });
});

realTest('raid5 over three loop devices is btrfs raid5; without btrfs a pool is ext4 on one device, its shares directories with the quota said to be unenforced', async (t) => {
  const dir = workDir(t);
  const driver = new LinuxStorageDriver({ dataDir: join(dir, 'node') });
  const caps = await driver.capabilities();
  const r5 = objs(loopDev(dir, 'a'), loopDev(dir, 'b'), loopDev(dir, 'c'), { type: 'storage', subtype: 'pool', id: 'p5', spec: { devices: ['a', 'b', 'c'], redundancy: 'raid5' } });
  if (caps['btrfs-raid5']?.ok) {
    const r = await converge(driver, r5, caps);
    t.like(r.plan.status.get('storage/p5'), { state: 'ready', info: { fs: 'btrfs', profile: 'raid5' } });
    await converge(driver, objs(), caps); // deleting everything removes it all
    t.deepEqual(census(dir), { loops: [], mounts: [], procs: [] });
  } else t.log(`raid5 part skipped: ${JSON.stringify(caps['btrfs-raid5'])}`);
  // A machine without btrfs (its capability switched off): ext4 on the first device.
  const noBtrfs = { ...caps, btrfs: { ok: false as const, reason: 'pretend: no btrfs' }, 'btrfs-raid1': { ok: false as const, reason: 'no btrfs' }, 'btrfs-raid5': { ok: false as const, reason: 'no btrfs' }, quotas: { ok: false as const, reason: 'no btrfs' } };
  const plain = objs(
    loopDev(dir, 'e1'),
    loopDev(dir, 'e2'),
    { type: 'storage', subtype: 'pool', id: 'pe', spec: { devices: ['e1', 'e2'], redundancy: 'none' } },
    { type: 'storage', subtype: 'share', id: 'se', spec: { pool: 'pe', protocol: 'local', path: '/se', quotaBytes: 4 * MiB } },
  );
  const r = await converge(driver, plain, noBtrfs);
  const c = conditions(r.plan);
  t.is(c['storage/pe'], 'degraded: pool pe: ext4 on e1 only (btrfs: pretend: no btrfs): device e2 not used');
  t.is(c['storage/se'], 'degraded: share se: quota 4 MiB not enforced: a directory in an ext4 pool has no quota of its own');
  t.is(r.observed.shares.get('se')!.kind, 'directory');
  t.true(readFileSync('/proc/self/mountinfo', 'utf8').includes(`${join(dir, 'node', 'storage', 'pools', 'pe')} rw`) || census(dir).mounts.length === 1);
  await converge(driver, objs(), noBtrfs);
  t.deepEqual(census(dir), { loops: [], mounts: [], procs: [] }, 'deleting the objects removes the share, the pool and the loop devices');
});
