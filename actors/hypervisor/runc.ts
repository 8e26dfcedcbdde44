// Containers through runc: the root file system (a directory given, or a busybox-static image
// the node builds once from what is installed), the OCI bundle (config.json: namespaces, cgroup
// limits, mounts, read-only root) and the runc command lines.
//
// The container runs as `runc run` in the foreground under the workload shim (process.ts), not
// `runc run --detach`: runc stays the container's parent, forwards signals to it and exits with
// its status, which the shim records. A detached runc would leave the container to be reaped by
// whoever is the subreaper (init), and its exit code would be lost. Like every workload, the shim
// and the container outlive the node process. Each node keeps its containers under its own runc
// state root (`--root`), so a container id there is provably the node's.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { ContainerSection, SystemSpec } from '../cdb/schema.ts';

/**
 * The busybox image: a root with busybox-static and a link per applet, /etc/passwd and group.
 * Built once under `imagesDir` (atomically: built aside, then renamed), reused by every
 * container (read-only) or copied into the bundle when the root must be writable.
 */
export function busyboxImage(imagesDir: string, busybox: string): string {
  const root = join(imagesDir, 'busybox', 'rootfs');
  if (existsSync(join(root, 'bin', 'busybox'))) return root;
  const tmp = join(imagesDir, `busybox.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const r = join(tmp, 'rootfs');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'root', 'run', 'var/tmp']) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(busybox, join(r, 'bin', 'busybox'));
  chmodSync(join(r, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const p = join(r, a);
    if (a === 'bin/busybox' || existsSync(p)) continue;
    mkdirSync(join(p, '..'), { recursive: true });
    symlinkSync('/bin/busybox', p);
  }
  writeFileSync(join(r, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(r, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n');
  writeFileSync(join(r, 'etc', 'hostname'), 'acp\n');
  chmodSync(join(r, 'tmp'), 0o1777);
  mkdirSync(join(imagesDir, 'busybox'), { recursive: true });
  try {
    renameSync(r, root);
  } catch (e) {
    // Another builder won the race: use its image.
    if (!existsSync(join(root, 'bin', 'busybox'))) throw e;
  }
  rmSync(tmp, { recursive: true, force: true });
  return root;
}

export interface BundleInput {
  id: string;
  spec: SystemSpec;
  /** the image root (busybox) or spec.container.rootfs */
  rootfs: string;
  bundle: string;
  /** cgroupsPath for runc (relative to runc's own cgroup) */
  cgroupsPath: string | undefined;
  /**
   * Whether runc sets the CPU/memory limits itself. The driver sets them on its own group and
   * gives runc a leaf below it instead: runc removes its leaf when the container ends, and with
   * it the leaf's OOM-kill count, while the limit hit in the parent is counted in the parent.
   */
  runcLimits: boolean;
  /** a network namespace to join (from the Network service); none: a new, empty one */
  netns?: string;
  /** share id → path */
  shares?: Readonly<Record<string, string>>;
  uid?: number;
  gid?: number;
}

const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

/** The OCI runtime config for a container workload. */
export function ociConfig(b: BundleInput): Record<string, unknown> {
  const c = b.spec.container as ContainerSection;
  const readOnly = c.readOnlyRoot ?? true;
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...(c.env ?? {}) };
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16384k'] },
  ];
  for (const m of c.mounts ?? []) {
    const src = b.shares?.[m.share];
    if (src === undefined) throw new Error(`share ${m.share} has no path on this node`);
    mounts.push({ destination: m.target, type: 'bind', source: src, options: ['rbind', 'nosuid', 'nodev', m.readOnly ? 'ro' : 'rw'] });
  }
  const namespaces: Record<string, string>[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, b.netns ? { type: 'network', path: b.netns } : { type: 'network' }];
  const memory = b.spec.memoryMb * 1024 * 1024;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: b.uid ?? 0, gid: b.gid ?? 0 },
      args: c.command,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: c.cwd ?? '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: b.rootfs, readonly: readOnly },
    hostname: c.hostname ?? b.id.replace(/[^a-z0-9-]/g, '-').slice(0, 63),
    mounts,
    linux: {
      ...(b.cgroupsPath !== undefined ? { cgroupsPath: b.cgroupsPath } : {}),
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(b.runcLimits ? { memory: { limit: memory, swap: memory }, cpu: { quota: b.spec.vcpus * 100_000, period: 100_000 } } : {}),
      },
      namespaces,
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * Write the bundle: config.json, and for a writable root over the shared busybox image a private
 * copy of it (a directory root given by the user is used as it is).
 */
export function writeBundle(b: BundleInput, image: boolean): void {
  mkdirSync(b.bundle, { recursive: true });
  let rootfs = b.rootfs;
  const c = b.spec.container as ContainerSection;
  if (image && c.readOnlyRoot === false) {
    rootfs = join(b.bundle, 'rootfs');
    if (!existsSync(rootfs)) cpSync(b.rootfs, rootfs, { recursive: true, verbatimSymlinks: true });
  }
  writeFileSync(join(b.bundle, 'config.json'), JSON.stringify(ociConfig({ ...b, rootfs }), null, 1));
}

/**
 * argv of the foreground `runc run` the shim starts. `--keep`: runc leaves the stopped container
 * (and its cgroup) behind, so the driver can read its OOM-kill count after the exit (cgroup v1
 * counts an OOM kill in the victim's group only); the driver deletes it afterwards.
 */
export function runcRunArgv(runc: string, root: string, bundle: string, cid: string): string[] {
  return [runc, '--root', root, 'run', '--keep', '--bundle', bundle, cid];
}

/** The container ids runc knows under `root` (from its state directories; no process spawned). */
export function runcContainers(root: string): string[] {
  try {
    return readdirSync(root).filter((n) => existsSync(join(root, n, 'state.json')));
  } catch {
    return [];
  }
}

/** The container's init pid from runc's state file (no process spawned). */
export function runcInitPid(root: string, cid: string): number | undefined {
  try {
    const st = JSON.parse(readFileSync(join(root, cid, 'state.json'), 'utf8')) as { init_process_pid?: number };
    return st.init_process_pid;
  } catch {
    return undefined;
  }
}
