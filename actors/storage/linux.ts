// Storage's Linux driver: loop devices, btrfs (or ext4) pools, subvolume
// shares with qgroup quotas, and their exports (nfs-ganesha for NFS,
// qemu-storage-daemon or qemu-nbd for NBD), all on the real kernel.
//
// Ownership: everything it creates is written to its record
// (<dataDir>/storage/state.json, atomic write + fsync) *before* it is
// created, and checked against the kernel on every observe — so a node killed
// halfway adopts what exists instead of making it twice, and never reports
// (or removes) a device, mount or process it did not create. Everything lives
// under <dataDir>/storage: backing files, mount points, server configs,
// pid files and logs; server processes are recognised by their command line
// naming our config or pid file.
//
// Servers run daemonized, so they outlive the node process (stopping a node
// leaves the workloads' storage served); observe finds them dead or alive and
// the reconciler starts a dead one again. One ganesha per node serves every
// NFS share (exports reloaded with SIGHUP); one NBD server per nbd share.
//
// Stats are read from sysfs and statfs (no process per sample): /sys/block/*/stat
// for devices, statfs + /sys/fs/btrfs/<uuid>/devinfo/*/error_stats for pools,
// /sys/fs/btrfs/<uuid>/qgroups for shares. `btrfs device stats` is spawned
// only where sysfs lacks error_stats, and at most every `slowStatsMs`.
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { accessSync, closeSync, constants as fsc, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, writeSync, type Stats as FsStats } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ObjectKey, Stats } from '../cdb/client.ts';
import { DriverError, type Capabilities, type Driver } from '../reconciler/contract.ts';
import type { ObservedDevice, ObservedExport, ObservedPool, ObservedShare, PathProbe, PoolFs, PoolProfile, StorageAction, StorageObserved } from './reconcile.ts';

// ---------------------------------------------------------------------------------------------
// The ownership record

interface DeviceRec {
  kind: 'loop' | 'block';
  path: string;
  /** The kernel device last seen (a loop device's number can change when attached again). */
  dev?: string;
  /** Loop: we created the backing file (it is deleted on release); false: it was there (wipe: true). */
  createdFile?: boolean;
  sizeBytes: number;
}
interface PoolRec {
  fs: PoolFs;
  profile: PoolProfile;
  devices: string[];
  /** btrfs device id of each device (1… in mkfs order, then as added). */
  devids: Record<string, number>;
  uuid: string;
  mount: string;
  /** mkfs completed (false: intent recorded, the file system may not exist yet). */
  made: boolean;
  quotas: boolean;
}
interface ExportRec {
  protocol: 'nfs' | 'nbd';
  path: string;
  /** nfs: the Export_Id in ganesha's config. */
  exportId?: number;
  /** nfs of a subvolume: bind-mounted onto itself (ganesha's VFS FSAL finds a subvolume only as a mount of its own). */
  bind?: boolean;
  /** nbd: its server's port, and the disk file's size. */
  port?: number;
  sizeBytes?: number;
  server?: 'qemu-storage-daemon' | 'qemu-nbd';
}
interface ShareRec {
  pool: string;
  kind: 'subvolume' | 'directory';
  dir: string;
  subvolId?: number;
  quotaBytes?: number;
  export?: ExportRec;
}
interface StateRec {
  version: 1;
  devices: Record<string, DeviceRec>;
  pools: Record<string, PoolRec>;
  shares: Record<string, ShareRec>;
  nfs?: { port: number; nextExportId: number };
}

const EMPTY: StateRec = { version: 1, devices: {}, pools: {}, shares: {} };

// ---------------------------------------------------------------------------------------------
// Small helpers

const SBIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The full path of a tool, or undefined (PATH and the sbin directories). */
export function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  for (const d of dirs) {
    const p = join(d, tool);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a tool; a failure is a DriverError whose reason is the command and its last line of stderr. */
export function run(tool: string, args: string[], opts: { timeoutMs?: number; okCodes?: number[] } = {}): Promise<RunResult & { code: number }> {
  const bin = which(tool) ?? tool;
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 8 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const raw = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof raw === 'number' ? raw : -1) : 0;
      if (err && !(opts.okCodes ?? []).includes(code)) {
        const line = (stderr || stdout || err.message).trim().split('\n').filter(Boolean).pop() ?? err.message;
        reject(new DriverError(`${tool} ${args.join(' ')}: ${line}`));
        return;
      }
      resolve({ stdout, stderr, code });
    });
  });
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function statOrUndefined(p: string): FsStats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number | undefined, mark: string): boolean {
  if (pid === undefined || !(pid > 0)) return false;
  const cmd = readText(`/proc/${pid}/cmdline`);
  if (cmd === undefined) return false;
  // A zombie has an empty command line.
  return cmd.split('\0').some((a) => a.includes(mark));
}

function readPid(file: string): number | undefined {
  const t = readText(file);
  const n = t === undefined ? NaN : Number.parseInt(t.trim(), 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A free TCP port on `host` (the kernel picks it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** mountinfo: mount point → { source, fstype, majmin }. */
function mounts(): Map<string, { source: string; fstype: string; majmin: string; options: string }> {
  const out = new Map<string, { source: string; fstype: string; majmin: string; options: string }>();
  const text = readText('/proc/self/mountinfo') ?? '';
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    const unesc = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    out.set(unesc(f[4]!), { majmin: f[2]!, fstype: r[0]!, source: unesc(r[1] ?? ''), options: `${f[5] ?? ''},${r[2] ?? ''}` });
  }
  return out;
}

/** Loop devices attached now: /dev/loopN → backing file (without a " (deleted)" suffix, flagged). */
function loopDevices(): Map<string, { file: string; deleted: boolean }> {
  const out = new Map<string, { file: string; deleted: boolean }>();
  let names: string[] = [];
  try {
    names = readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {
    return out;
  }
  for (const n of names) {
    const b = readText(`/sys/block/${n}/loop/backing_file`);
    if (b === undefined) continue;
    const t = b.trim();
    const deleted = t.endsWith(' (deleted)');
    out.set(`/dev/${n}`, { file: deleted ? t.slice(0, -' (deleted)'.length) : t, deleted });
  }
  return out;
}

const PROC_MARK = 'acp-storage';

// ---------------------------------------------------------------------------------------------
// The driver

export interface LinuxStorageOptions {
  /** The node's data directory; the driver keeps everything under <dataDir>/storage. */
  dataDir: string;
  /** Loopback address the servers listen on. */
  host?: string;
  /** How often the spawning stats (`btrfs device stats`) may run. Default 60 s. */
  slowStatsMs?: number;
  /** Time source for rates (ms). Default performance.now. */
  now?: () => number;
}

interface DevSample {
  at: number;
  rdIos: number;
  rdSectors: number;
  rdTicks: number;
  wrIos: number;
  wrSectors: number;
  wrTicks: number;
  ioTicks: number;
}

export class LinuxStorageDriver implements Driver<StorageObserved, StorageAction> {
  readonly root: string;
  readonly #stateFile: string;
  readonly #host: string;
  readonly #slowMs: number;
  readonly #now: () => number;
  #state: StateRec;
  /** The record could not be read: nothing is touched until it is fixed. */
  #loadError: DriverError | undefined;
  #caps: Capabilities | undefined;
  /** Paths probed on request (re-probed at each observe until they are ours or forgotten). */
  readonly #probePaths = new Map<string, boolean>();
  readonly #devSamples = new Map<string, DevSample>();
  #slowAt = -Infinity;
  readonly #slowErrors = new Map<string, Record<string, number>>();

  constructor(o: LinuxStorageOptions) {
    this.root = join(o.dataDir, 'storage');
    this.#stateFile = join(this.root, 'state.json');
    this.#host = o.host ?? '127.0.0.1';
    this.#slowMs = o.slowStatsMs ?? 60_000;
    this.#now = o.now ?? (() => performance.now());
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      this.#state = this.#load();
    } catch (e) {
      this.#state = structuredClone(EMPTY);
      this.#loadError = e as DriverError;
    }
  }

  #load(): StateRec {
    const t = readText(this.#stateFile);
    if (t === undefined) return structuredClone(EMPTY);
    try {
      const s = JSON.parse(t) as StateRec;
      if (s.version !== 1) throw new Error(`unknown version ${String(s.version)}`);
      return { ...structuredClone(EMPTY), ...s };
    } catch (e) {
      // Never guess about ownership: a record we cannot read stops the driver.
      throw new DriverError(`storage ownership record ${this.#stateFile} is unreadable: ${(e as Error).message}`, true);
    }
  }

  #save(): void {
    writeAtomic(this.#stateFile, JSON.stringify(this.#state, null, 1));
  }

  /** The record, for tests and the bench (a copy). */
  record(): StateRec {
    return structuredClone(this.#state);
  }

  // ---- capabilities

  async capabilities(): Promise<Capabilities> {
    if (this.#caps) return this.#caps;
    const caps: Capabilities = {};
    const root = process.getuid?.() === 0;
    const needRoot = (what: string) => ({ ok: false as const, reason: `${what}: needs root (the node runs as uid ${process.getuid?.()})` });
    const fsList = readText('/proc/filesystems') ?? '';
    const kernelFs = (name: string) => new RegExp(`\\s${name}\\n`).test(fsList + '\n') || existsSync(`/sys/fs/${name}`);
    const tool = (t: string, pkg: string): { ok: true; detail: string } | { ok: false; reason: string } => {
      const p = which(t);
      return p ? { ok: true, detail: p } : { ok: false, reason: `${t} not found (install the Debian package ${pkg})` };
    };
    // loop
    if (!root) caps.loop = needRoot('loop devices');
    else if (!existsSync('/dev/loop-control')) caps.loop = { ok: false, reason: 'the kernel has no loop devices (/dev/loop-control is missing)' };
    else caps.loop = tool('losetup', 'util-linux (mount)');
    caps.wipefs = tool('wipefs', 'util-linux');
    caps.blkid = tool('blkid', 'util-linux');
    // btrfs
    if (!root) caps.btrfs = needRoot('btrfs');
    else if (!kernelFs('btrfs')) caps.btrfs = { ok: false, reason: 'the kernel has no btrfs' };
    else {
      const mk = tool('mkfs.btrfs', 'btrfs-progs');
      const bt = tool('btrfs', 'btrfs-progs');
      caps.btrfs = mk.ok && bt.ok ? { ok: true, detail: bt.detail } : mk.ok ? bt : mk;
    }
    caps['btrfs-raid1'] = caps.btrfs.ok ? { ok: true } : { ok: false, reason: `no btrfs: ${caps.btrfs.reason}` };
    caps['btrfs-raid5'] = !caps.btrfs.ok
      ? { ok: false, reason: `no btrfs: ${caps.btrfs.reason}` }
      : existsSync('/sys/fs/btrfs/features/raid56')
        ? { ok: true, detail: 'raid56 (btrfs raid5 has a known write hole: keep metadata raid1 in production)' }
        : { ok: false, reason: 'this kernel has no btrfs raid56 support (/sys/fs/btrfs/features/raid56)' };
    caps.quotas = caps.btrfs.ok ? { ok: true, detail: 'btrfs qgroups' } : { ok: false, reason: `quotas need btrfs qgroups: ${caps.btrfs.reason}` };
    // ext4 (the fallback pool)
    if (!root) caps.ext4 = needRoot('ext4 pools');
    else if (!kernelFs('ext4')) caps.ext4 = { ok: false, reason: 'the kernel has no ext4' };
    else caps.ext4 = tool('mkfs.ext4', 'e2fsprogs');
    // servers
    const ganesha = tool('ganesha.nfsd', 'nfs-ganesha');
    if (!ganesha.ok) caps['nfs-ganesha'] = ganesha;
    else if (!root) caps['nfs-ganesha'] = needRoot('nfs-ganesha (VFS exports)');
    else {
      const fsal = ['/usr/lib/x86_64-linux-gnu/ganesha', '/usr/lib/aarch64-linux-gnu/ganesha', '/usr/lib64/ganesha', '/usr/lib/ganesha'].find((d) => existsSync(join(d, 'libfsalvfs.so')));
      caps['nfs-ganesha'] = fsal ? { ok: true, detail: ganesha.detail } : { ok: false, reason: 'ganesha has no VFS FSAL (install the Debian package nfs-ganesha-vfs)' };
    }
    caps['qemu-storage-daemon'] = tool('qemu-storage-daemon', 'qemu-system-common');
    caps['qemu-nbd'] = tool('qemu-nbd', 'qemu-utils');
    this.#caps = caps;
    return caps;
  }

  // ---- observe

  async observe(): Promise<StorageObserved> {
    if (this.#loadError) throw this.#loadError;
    const s = this.#state;
    const loops = loopDevices();
    const mnt = mounts();
    const devices = new Map<string, ObservedDevice>();
    let changed = false;
    for (const [id, r] of Object.entries(s.devices)) {
      const o: ObservedDevice = { id, kind: r.kind, path: r.path, present: false, sizeBytes: r.sizeBytes };
      if (r.kind === 'loop') {
        o.backingExists = existsSync(r.path);
        // The loop device recorded, or any loop device on our backing file (attached before the record was written).
        let dev = r.dev && loops.get(r.dev)?.file === r.path && !loops.get(r.dev)?.deleted ? r.dev : undefined;
        if (!dev) for (const [d, l] of loops) if (l.file === r.path && !l.deleted) dev = d;
        if (dev) {
          o.present = true;
          o.dev = dev;
          if (r.dev !== dev) {
            r.dev = dev;
            changed = true;
          }
        } else if (r.dev) o.dev = r.dev;
      } else {
        o.dev = r.path;
        o.present = statOrUndefined(r.path)?.isBlockDevice() === true;
      }
      devices.set(id, o);
    }
    if (changed) this.#save();

    const probes = new Map<string, PathProbe>();
    const owned = new Set(Object.values(s.devices).map((d) => d.path));
    for (const [path, loop] of this.#probePaths) {
      if (owned.has(path)) {
        this.#probePaths.delete(path);
        continue;
      }
      probes.set(path, await this.#probe(path, loop, loops, mnt));
    }

    const pools = new Map<string, ObservedPool>();
    for (const [id, r] of Object.entries(s.pools)) {
      if (!r.made) continue; // an interrupted create-pool: made again (the intent keeps the devices claimed)
      const m = mnt.get(r.mount);
      const mountedHere = m !== undefined && (m.fstype === r.fs);
      const o: ObservedPool = { id, fs: r.fs, profile: r.profile, devices: [...r.devices], mount: r.mount, mounted: mountedHere, missing: [], errors: {} };
      if (mountedHere && r.fs === 'btrfs') {
        o.degradedMount = /(^|,)degraded(,|$)/.test(m.options);
        const base = `/sys/fs/btrfs/${r.uuid}/devinfo`;
        for (const [dev, devid] of Object.entries(r.devids)) {
          if (readText(`${base}/${devid}/missing`)?.trim() === '1') o.missing.push(dev);
          const errs = this.#errorCount(readText(`${base}/${devid}/error_stats`)) ?? this.#slowErrors.get(id)?.[dev];
          if (errs && errs > 0) o.errors[dev] = errs;
        }
      }
      pools.set(id, o);
    }
    // Pools whose intent was recorded but not made still hold their devices.
    for (const [id, r] of Object.entries(s.pools)) if (!r.made) pools.set(id, { id, fs: r.fs, profile: r.profile, devices: [...r.devices], mount: r.mount, mounted: false, missing: [], errors: {} });

    const shares = new Map<string, ObservedShare>();
    const ganeshaUp = this.#ganeshaAlive();
    for (const [id, r] of Object.entries(s.shares)) {
      const pool = s.pools[r.pool];
      const poolMounted = pool !== undefined && pools.get(r.pool)?.mounted === true;
      const o: ObservedShare = { id, pool: r.pool, kind: r.kind, dir: r.dir, exists: poolMounted ? existsSync(r.dir) : true };
      if (r.kind === 'subvolume' && poolMounted && r.subvolId !== undefined && pool.quotas) {
        const max = readText(`/sys/fs/btrfs/${pool.uuid}/qgroups/0_${r.subvolId}/max_referenced`);
        const n = max === undefined ? undefined : Number(max.trim());
        o.quotaBytes = n === undefined || !Number.isFinite(n) || n === 0 || n >= 2 ** 63 ? undefined : n;
      } else if (r.quotaBytes !== undefined && !poolMounted) o.quotaBytes = r.quotaBytes;
      if (r.export) {
        const e = r.export;
        const ex: ObservedExport = { protocol: e.protocol, path: e.path, running: false };
        if (e.protocol === 'nfs') {
          ex.running = ganeshaUp && poolMounted && (!e.bind || mnt.has(r.dir));
          if (s.nfs) ex.endpoint = `${this.#host}:${s.nfs.port}`;
        } else {
          ex.running = poolMounted && pidAlive(readPid(this.#nbdPidFile(id)), this.#nbdPidFile(id));
          if (e.port) ex.endpoint = `${this.#host}:${e.port}`;
          const st = statOrUndefined(join(r.dir, 'disk.raw'));
          if (st) ex.sizeBytes = st.size;
        }
        o.export = ex;
      }
      shares.set(id, o);
    }
    return { devices, probes, pools, shares };
  }

  #errorCount(text: string | undefined): number | undefined {
    if (text === undefined) return undefined;
    let n = 0;
    for (const line of text.split('\n')) {
      const m = /^(\w+)\s+(\d+)/.exec(line.trim());
      if (m) n += Number(m[2]);
    }
    return n;
  }

  async #probe(path: string, loop: boolean, loops: Map<string, { file: string; deleted: boolean }>, mnt: ReturnType<typeof mounts>): Promise<PathProbe> {
    const st = statOrUndefined(path);
    if (!st) return { path, kind: 'missing' };
    const p: PathProbe = { path, kind: st.isBlockDevice() ? 'block' : st.isFile() ? 'file' : 'other' };
    if (p.kind === 'other') return p;
    if (p.kind === 'file') {
      for (const [d, l] of loops) if (l.file === path) p.heldBy = `loop device ${d}`;
    } else {
      const majmin = `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
      for (const [at, m] of mnt) if (m.majmin === majmin || m.source === path) p.mountedAt = at;
      try {
        const holders = readdirSync(`/sys/dev/block/${majmin}/holders`);
        if (holders.length) p.heldBy = holders.join(', ');
      } catch {
        /* no holders directory */
      }
      const name = (() => {
        try {
          return readlinkSync(`/sys/dev/block/${majmin}`).split('/').pop();
        } catch {
          return undefined;
        }
      })();
      if (name && existsSync(`/sys/block/${name}/loop/backing_file`) && !p.heldBy) {
        // A loop device someone else attached is someone else's.
        p.heldBy = `its own backing file ${readText(`/sys/block/${name}/loop/backing_file`)?.trim()}`;
      }
    }
    // A file system or partition table signature.
    if (which('blkid')) {
      try {
        const r = await run('blkid', ['-p', '-o', 'export', path], { okCodes: [2] });
        const m = /^(TYPE|PTTYPE)=(.+)$/m.exec(r.stdout);
        if (m) p.signature = m[2]!.trim();
      } catch (e) {
        p.error = (e as DriverError).reason?.split(': ').pop() ?? String(e);
      }
    } else if (loop && p.kind === 'file' && st.size > 0) p.signature = 'data of unknown kind';
    return p;
  }

  // ---- apply

  async apply(a: StorageAction): Promise<void> {
    if (this.#loadError) throw this.#loadError;
    switch (a.kind) {
      case 'probe-device':
        this.#probePaths.set(a.path, a.loop);
        return;
      case 'create-loop':
        return this.#createLoop(a.id, a.file, a.sizeBytes, a.wipe);
      case 'claim-device':
        return this.#claim(a.id, a.path, a.wipe);
      case 'release-device':
        return this.#release(a.id);
      case 'create-pool':
        return this.#createPool(a.id, a.fs, a.profile, a.devices);
      case 'mount-pool':
        return this.#mountPool(a.id, a.degraded);
      case 'add-pool-device':
        return this.#addPoolDevice(a.id, a.device);
      case 'remove-pool-device':
        return this.#removePoolDevice(a.id, a.device);
      case 'convert-pool':
        return this.#convertPool(a.id, a.profile);
      case 'destroy-pool':
        return this.#destroyPool(a.id);
      case 'create-share':
        return this.#createShare(a.id, a.pool, a.subvolume);
      case 'set-quota':
        return this.#setQuota(a.id, a.quotaBytes);
      case 'export-share':
        return a.protocol === 'nfs' ? this.#exportNfs(a.id, a.path) : this.#exportNbd(a.id, a.path, a.sizeBytes ?? 0);
      case 'unexport-share':
        return this.#unexport(a.id);
      case 'destroy-share':
        return this.#destroyShare(a.id);
    }
  }

  #dev(id: string): string {
    const r = this.#state.devices[id];
    if (!r) throw new DriverError(`device ${id} is not Storage's`);
    if (r.kind === 'block') return r.path;
    const loops = loopDevices();
    if (r.dev && loops.get(r.dev)?.file === r.path) return r.dev;
    for (const [d, l] of loops) if (l.file === r.path && !l.deleted) return d;
    throw new DriverError(`device ${id}: no loop device on ${r.path}`);
  }

  async #createLoop(id: string, file: string, sizeBytes: number, wipe: boolean): Promise<void> {
    const s = this.#state;
    let r = s.devices[id];
    if (!r) {
      // Intent first: a crash after this line leaves a record we adopt, never an orphan file.
      const existed = existsSync(file);
      r = s.devices[id] = { kind: 'loop', path: file, createdFile: !existed, sizeBytes };
      this.#save();
      mkdirSync(dirname(file), { recursive: true });
      if (existed && wipe) {
        // Erase what was on it: the first and last MiB hold every signature we care about.
        await run('truncate', ['-s', '0', file]);
      }
    }
    if (!existsSync(file)) {
      if (r.createdFile === false) throw new DriverError(`device ${id}: backing file ${file} is gone`, true);
      const fd = openSync(file, 'w', 0o600);
      closeSync(fd);
    }
    const st = statSync(file);
    if (st.size < sizeBytes) await run('truncate', ['-s', String(sizeBytes), file]);
    for (const [d, l] of loopDevices()) {
      if (l.file === file && !l.deleted) {
        r.dev = d;
        this.#save();
        return;
      }
    }
    const out = await run('losetup', ['--find', '--show', file]);
    r.dev = out.stdout.trim();
    this.#probePaths.delete(file);
    this.#save();
  }

  async #claim(id: string, path: string, wipe: boolean): Promise<void> {
    const st = statOrUndefined(path);
    if (!st?.isBlockDevice()) throw new DriverError(`device ${id}: ${path} is not a block device`);
    if (wipe) await run('wipefs', ['--all', path]);
    this.#state.devices[id] = { kind: 'block', path, dev: path, sizeBytes: st.size };
    this.#probePaths.delete(path);
    this.#save();
  }

  async #release(id: string): Promise<void> {
    const r = this.#state.devices[id];
    if (!r) return;
    for (const p of Object.values(this.#state.pools)) if (p.devices.includes(id)) throw new DriverError(`device ${id} is still in a pool`);
    if (r.kind === 'loop') {
      for (const [d, l] of loopDevices()) if (l.file === r.path) await run('losetup', ['--detach', d]);
      if (r.createdFile) rmSync(r.path, { force: true });
    }
    delete this.#state.devices[id];
    this.#save();
  }

  async #createPool(id: string, fs: PoolFs, profile: PoolProfile, devices: string[]): Promise<void> {
    const s = this.#state;
    const devs = devices.map((d) => this.#dev(d));
    let r = s.pools[id];
    if (!r) {
      const devids: Record<string, number> = {};
      devices.forEach((d, i) => (devids[d] = i + 1));
      r = s.pools[id] = { fs, profile, devices, devids, uuid: randomUUID(), mount: join(this.root, 'pools', id), made: false, quotas: false };
      this.#save();
    }
    if (fs === 'btrfs') await run('mkfs.btrfs', ['-f', '-q', '-U', r.uuid, '-L', `acp-${id}`.slice(0, 255), '-d', profile, '-m', profile === 'single' ? (devices.length > 1 ? 'raid1' : 'dup') : profile, ...devs]);
    else await run('mkfs.ext4', ['-F', '-q', '-U', r.uuid, '-L', `acp-${id}`.slice(0, 16), devs[0]!]);
    r.made = true;
    this.#save();
    await this.#mountPool(id, false);
    if (fs === 'btrfs' && this.#caps?.quotas?.ok !== false) {
      try {
        await run('btrfs', ['quota', 'enable', r.mount]);
        r.quotas = true;
        this.#save();
      } catch {
        /* quotas stay off: shares report their quota as not enforced */
      }
    }
  }

  async #mountPool(id: string, degraded: boolean): Promise<void> {
    const r = this.#state.pools[id];
    if (!r) throw new DriverError(`pool ${id} is not Storage's`);
    if (mounts().get(r.mount)) return;
    mkdirSync(r.mount, { recursive: true, mode: 0o755 });
    const devs: string[] = [];
    for (const d of r.devices) {
      try {
        devs.push(this.#dev(d));
      } catch {
        /* missing: mounted degraded */
      }
    }
    if (devs.length === 0) throw new DriverError(`pool ${id}: none of its devices is present`);
    const opts = r.fs === 'btrfs' ? [...devs.map((d) => `device=${d}`), ...(degraded ? ['degraded'] : [])] : [];
    await run('mount', ['-t', r.fs, ...(opts.length ? ['-o', opts.join(',')] : []), devs[0]!, r.mount]);
  }

  async #addPoolDevice(id: string, device: string): Promise<void> {
    const r = this.#state.pools[id]!;
    const dev = this.#dev(device);
    await run('btrfs', ['device', 'add', '-f', dev, r.mount]);
    r.devices.push(device);
    r.devids[device] = Math.max(0, ...Object.values(r.devids)) + 1;
    this.#save();
  }

  async #removePoolDevice(id: string, device: string): Promise<void> {
    const r = this.#state.pools[id]!;
    let target: string;
    try {
      target = this.#dev(device);
    } catch {
      target = 'missing';
    }
    await run('btrfs', ['device', 'remove', target, r.mount], { timeoutMs: 600_000 });
    r.devices = r.devices.filter((d) => d !== device);
    delete r.devids[device];
    this.#save();
  }

  async #convertPool(id: string, profile: PoolProfile): Promise<void> {
    const r = this.#state.pools[id]!;
    const meta = profile === 'single' ? (r.devices.length > 1 ? 'raid1' : 'dup') : profile;
    await run('btrfs', ['balance', 'start', '-f', `-dconvert=${profile}`, `-mconvert=${meta}`, r.mount], { timeoutMs: 600_000 });
    r.profile = profile;
    this.#save();
  }

  async #destroyPool(id: string): Promise<void> {
    const r = this.#state.pools[id];
    if (!r) return;
    if (Object.values(this.#state.shares).some((s) => s.pool === id)) throw new DriverError(`pool ${id} still has shares`);
    if (mounts().get(r.mount)) await run('umount', [r.mount]);
    // Erase the signatures of the file system we made, so the devices can be used again without wipe.
    for (const d of r.devices) {
      try {
        await run('wipefs', ['--all', this.#dev(d)]);
      } catch {
        /* a missing device has nothing to erase */
      }
    }
    // The mount point only (empty once unmounted): never a recursive delete next to data.
    try {
      rmdirSync(r.mount);
    } catch {
      /* not empty or gone: leave it */
    }
    delete this.#state.pools[id];
    this.#save();
  }

  async #createShare(id: string, pool: string, subvolume: boolean): Promise<void> {
    const p = this.#state.pools[pool];
    if (!p) throw new DriverError(`share ${id}: pool ${pool} is not Storage's`);
    const dir = join(p.mount, 'shares', id);
    const r: ShareRec = this.#state.shares[id] ?? { pool, kind: subvolume ? 'subvolume' : 'directory', dir };
    this.#state.shares[id] = r;
    this.#save();
    mkdirSync(join(p.mount, 'shares'), { recursive: true });
    if (!existsSync(dir)) {
      if (r.kind === 'subvolume') await run('btrfs', ['subvolume', 'create', dir]);
      else mkdirSync(dir, { mode: 0o755 });
    }
    if (r.kind === 'subvolume') {
      const out = await run('btrfs', ['inspect-internal', 'rootid', dir]);
      r.subvolId = Number(out.stdout.trim());
      this.#save();
    }
  }

  async #setQuota(id: string, quotaBytes: number | null): Promise<void> {
    const r = this.#state.shares[id]!;
    const p = this.#state.pools[r.pool]!;
    if (!p.quotas) {
      await run('btrfs', ['quota', 'enable', p.mount]);
      p.quotas = true;
      this.#save();
    }
    await run('btrfs', ['qgroup', 'limit', quotaBytes === null ? 'none' : String(quotaBytes), r.dir]);
    if (quotaBytes === null) delete r.quotaBytes;
    else r.quotaBytes = quotaBytes;
    this.#save();
  }

  // ---- NFS: one ganesha per node

  #nfsDir(): string {
    return join(this.root, 'nfs');
  }
  #ganeshaPidFile(): string {
    return join(this.#nfsDir(), 'ganesha.pid');
  }
  #ganeshaConf(): string {
    return join(this.#nfsDir(), 'ganesha.conf');
  }
  #ganeshaAlive(): boolean {
    return pidAlive(readPid(this.#ganeshaPidFile()), this.#ganeshaConf());
  }

  #writeGaneshaConf(): void {
    const s = this.#state;
    const nfs = s.nfs!;
    const exports = Object.entries(s.shares)
      .filter(([, r]) => r.export?.protocol === 'nfs')
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(
        ([id, r]) => `# share ${id}
EXPORT {
  Export_Id = ${r.export!.exportId};
  Path = "${r.dir}";
  Pseudo = "${r.export!.path}";
  Access_Type = RW;
  Squash = No_Root_Squash;
  Protocols = 4;
  Transports = TCP;
  SecType = sys;
  FSAL { Name = VFS; }
}`,
      );
    mkdirSync(join(this.#nfsDir(), 'recovery'), { recursive: true, mode: 0o700 });
    writeAtomic(
      this.#ganeshaConf(),
      `# Written by ACP Storage (${PROC_MARK}); regenerated on every change.
NFS_CORE_PARAM {
  Bind_addr = ${this.#host};
  NFS_Port = ${nfs.port};
  Protocols = 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
}
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "${join(this.#nfsDir(), 'recovery')}"; }
NFS_KRB5 { Active_krb5 = false; }
${exports.join('\n')}
`,
    );
  }

  async #ganeshaSync(): Promise<void> {
    const pid = readPid(this.#ganeshaPidFile());
    const alive = pidAlive(pid, this.#ganeshaConf());
    const any = Object.values(this.#state.shares).some((r) => r.export?.protocol === 'nfs');
    if (!any) {
      if (alive) await this.#stopPid(pid!, this.#ganeshaConf());
      return;
    }
    this.#writeGaneshaConf();
    if (alive) {
      process.kill(pid!, 'SIGHUP'); // ganesha re-reads its exports
      return;
    }
    const nfs = this.#state.nfs!;
    const log = join(this.#nfsDir(), 'ganesha.log');
    // Two tries: the second on a fresh port (the old one may still be held by connections of a
    // server that was killed; ganesha does not reuse it while they linger).
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 || !(await portFree(this.#host, nfs.port))) {
        nfs.port = await freePort(this.#host);
        this.#save();
        this.#writeGaneshaConf();
      }
      rmSync(this.#ganeshaPidFile(), { force: true });
      // ganesha daemonizes itself: it outlives this process, as the workloads' storage must.
      await run('ganesha.nfsd', ['-f', this.#ganeshaConf(), '-L', log, '-p', this.#ganeshaPidFile(), '-N', 'NIV_EVENT']);
      try {
        await this.#waitFor(() => this.#ganeshaAlive(), 5000, `ganesha did not start (see ${log})`);
        await this.#waitFor(async () => !(await portFree(this.#host, nfs.port)), 5000, `ganesha is not listening on ${this.#host}:${nfs.port} (see ${log})`);
        return;
      } catch (e) {
        const pid = readPid(this.#ganeshaPidFile());
        if (pidAlive(pid, this.#ganeshaConf())) await this.#stopPid(pid!, this.#ganeshaConf());
        if (attempt >= 1) throw e;
      }
    }
  }

  async #exportNfs(id: string, path: string): Promise<void> {
    const s = this.#state;
    const r = s.shares[id]!;
    if (!s.nfs) {
      s.nfs = { port: await freePort(this.#host), nextExportId: 1 };
    }
    if (r.export && r.export.protocol !== 'nfs') await this.#unexport(id);
    if (!r.export) r.export = { protocol: 'nfs', path, exportId: s.nfs.nextExportId++ };
    r.export.path = path;
    if (r.kind === 'subvolume') r.export.bind = true;
    this.#save();
    if (r.export.bind && !mounts().has(r.dir)) await run('mount', ['--bind', r.dir, r.dir]);
    await this.#ganeshaSync();
  }

  // ---- NBD: one server per share

  #nbdPidFile(id: string): string {
    return join(this.root, 'nbd', `${id}.pid`);
  }

  async #exportNbd(id: string, path: string, sizeBytes: number): Promise<void> {
    const s = this.#state;
    const r = s.shares[id]!;
    if (r.export && r.export.protocol !== 'nbd') await this.#unexport(id);
    const file = join(r.dir, 'disk.raw');
    const st = statOrUndefined(file);
    if (!st) {
      closeSync(openSync(file, 'w', 0o600));
    }
    if ((st?.size ?? 0) < sizeBytes) await run('truncate', ['-s', String(sizeBytes), file]);
    const pidFile = this.#nbdPidFile(id);
    mkdirSync(dirname(pidFile), { recursive: true, mode: 0o700 });
    const old = readPid(pidFile);
    if (pidAlive(old, pidFile)) await this.#stopPid(old!, pidFile);
    const e: ExportRec = r.export ?? { protocol: 'nbd', path };
    e.path = path;
    e.sizeBytes = sizeBytes;
    if (!e.port || !(await portFree(this.#host, e.port))) e.port = await freePort(this.#host);
    e.server = this.#caps?.['qemu-storage-daemon']?.ok === false ? 'qemu-nbd' : 'qemu-storage-daemon';
    r.export = e;
    this.#save();
    rmSync(pidFile, { force: true });
    const name = path.replace(/^\/+/, '') || id;
    if (e.server === 'qemu-storage-daemon') {
      await run('qemu-storage-daemon', [
        '--blockdev', `driver=file,node-name=f0,filename=${file}`,
        '--blockdev', 'driver=raw,node-name=d0,file=f0',
        '--nbd-server', `addr.type=inet,addr.host=${this.#host},addr.port=${e.port}`,
        '--export', `type=nbd,id=e0,node-name=d0,name=${name},writable=on`,
        '--pidfile', pidFile,
        '--daemonize',
      ]);
    } else {
      await run('qemu-nbd', ['--fork', '--persistent', '--shared=8', '--bind', this.#host, '--port', String(e.port), '--export-name', name, '--format', 'raw', '--pid-file', pidFile, file]);
    }
    await this.#waitFor(() => pidAlive(readPid(pidFile), pidFile), 5000, `the nbd server for share ${id} did not start`);
  }

  async #unexport(id: string): Promise<void> {
    const r = this.#state.shares[id];
    if (!r?.export) return;
    const e = r.export;
    delete r.export;
    this.#save();
    if (e.protocol === 'nfs') {
      await this.#ganeshaSync();
      if (e.bind && mounts().has(r.dir)) await run('umount', [r.dir]);
    } else {
      const pidFile = this.#nbdPidFile(id);
      const pid = readPid(pidFile);
      if (pidAlive(pid, pidFile)) await this.#stopPid(pid!, pidFile);
      rmSync(pidFile, { force: true });
    }
  }

  async #destroyShare(id: string): Promise<void> {
    const r = this.#state.shares[id];
    if (!r) return;
    if (r.export) await this.#unexport(id);
    const p = this.#state.pools[r.pool];
    const poolMounted = p !== undefined && mounts().get(p.mount) !== undefined;
    if (!poolMounted) throw new DriverError(`share ${id}: pool ${r.pool} is not mounted; cannot remove ${r.dir}`);
    if (existsSync(r.dir)) {
      if (r.kind === 'subvolume') {
        await run('btrfs', ['subvolume', 'delete', r.dir]);
        if (p.quotas && r.subvolId !== undefined) await run('btrfs', ['qgroup', 'destroy', `0/${r.subvolId}`, p.mount]).catch(() => undefined);
      } else rmSync(r.dir, { recursive: true, force: true });
    }
    delete this.#state.shares[id];
    this.#save();
  }

  async #stopPid(pid: number, mark: string): Promise<void> {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const gone = await this.#waitFor(() => !pidAlive(pid, mark), 5000, '').then(
      () => true,
      () => false,
    );
    if (!gone) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await this.#waitFor(() => !pidAlive(pid, mark), 2000, `process ${pid} did not stop`);
    }
  }

  async #waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
    const until = Date.now() + ms;
    let delay = 5;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > until) throw new DriverError(what);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 100);
    }
  }

  // ---- stats

  async stats(): Promise<Map<ObjectKey, Stats>> {
    const out = new Map<ObjectKey, Stats>();
    const now = this.#now();
    const s = this.#state;
    const loops = loopDevices();
    for (const [id, r] of Object.entries(s.devices)) {
      let dev = r.kind === 'block' ? r.path : r.dev;
      if (r.kind === 'loop' && (!dev || loops.get(dev)?.file !== r.path)) dev = undefined;
      if (!dev) continue;
      const name = this.#blockName(dev);
      const text = name ? readText(`/sys/block/${name}/stat`) : undefined;
      if (!text) continue;
      const f = text.trim().split(/\s+/).map(Number);
      const cur: DevSample = { at: now, rdIos: f[0]!, rdSectors: f[2]!, rdTicks: f[3]!, wrIos: f[4]!, wrSectors: f[6]!, wrTicks: f[7]!, ioTicks: f[9]! };
      const st: Stats = {
        readOps: cur.rdIos,
        writeOps: cur.wrIos,
        readBytes: cur.rdSectors * 512,
        writeBytes: cur.wrSectors * 512,
        sizeBytes: Number(readText(`/sys/block/${name}/size`)?.trim() ?? 0) * 512,
      };
      const prev = this.#devSamples.get(id);
      if (prev && now > prev.at) {
        const dt = (now - prev.at) / 1000;
        const dr = cur.rdIos - prev.rdIos;
        const dw = cur.wrIos - prev.wrIos;
        st.readOpsPerSec = round(dr / dt);
        st.writeOpsPerSec = round(dw / dt);
        st.readBytesPerSec = round(((cur.rdSectors - prev.rdSectors) * 512) / dt);
        st.writeBytesPerSec = round(((cur.wrSectors - prev.wrSectors) * 512) / dt);
        st.readLatencyMs = dr > 0 ? round((cur.rdTicks - prev.rdTicks) / dr) : 0;
        st.writeLatencyMs = dw > 0 ? round((cur.wrTicks - prev.wrTicks) / dw) : 0;
        st.utilPct = round(Math.min(100, ((cur.ioTicks - prev.ioTicks) / (now - prev.at)) * 100));
      }
      this.#devSamples.set(id, cur);
      out.set(`storage/${id}`, st);
    }
    const slowDue = now - this.#slowAt >= this.#slowMs;
    const mnt = mounts();
    for (const [id, r] of Object.entries(s.pools)) {
      if (!r.made || !mnt.get(r.mount)) continue;
      try {
        const v = await statfs(r.mount);
        const st: Stats = { sizeBytes: v.blocks * v.bsize, usedBytes: (v.blocks - v.bfree) * v.bsize, freeBytes: v.bavail * v.bsize };
        if (r.fs === 'btrfs') {
          let errors = 0;
          let sysfs = true;
          for (const devid of Object.values(r.devids)) {
            const n = this.#errorCount(readText(`/sys/fs/btrfs/${r.uuid}/devinfo/${devid}/error_stats`));
            if (n === undefined) sysfs = false;
            else errors += n;
          }
          if (!sysfs && slowDue) errors = await this.#btrfsDeviceStats(id, r);
          else if (!sysfs) errors = Object.values(this.#slowErrors.get(id) ?? {}).reduce((a, b) => a + b, 0);
          st.deviceErrors = errors;
        }
        out.set(`storage/${id}`, st);
      } catch {
        /* unmounted meanwhile */
      }
    }
    if (slowDue) this.#slowAt = now;
    for (const [id, r] of Object.entries(s.shares)) {
      const p = s.pools[r.pool];
      if (!p || !mnt.get(p.mount)) continue;
      const st: Stats = {};
      if (r.kind === 'subvolume' && p.quotas && r.subvolId !== undefined) {
        const ref = readText(`/sys/fs/btrfs/${p.uuid}/qgroups/0_${r.subvolId}/referenced`);
        if (ref !== undefined) st.usedBytes = Number(ref.trim());
      }
      if (r.quotaBytes !== undefined) st.quotaBytes = r.quotaBytes;
      if (r.export?.sizeBytes !== undefined) st.diskBytes = r.export.sizeBytes;
      out.set(`storage/${id}`, st);
    }
    return out;
  }

  #blockName(dev: string): string | undefined {
    const base = dev.replace(/^\/dev\//, '');
    if (existsSync(`/sys/block/${base}`)) return base;
    const st = statOrUndefined(dev);
    if (!st?.isBlockDevice()) return undefined;
    try {
      const majmin = `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
      return readlinkSync(`/sys/dev/block/${majmin}`).split('/').pop();
    } catch {
      return undefined;
    }
  }

  async #btrfsDeviceStats(id: string, r: PoolRec): Promise<number> {
    const out = await run('btrfs', ['device', 'stats', r.mount], { okCodes: [64] });
    const byDev: Record<string, number> = {};
    const devOf = new Map<string, string>();
    for (const d of r.devices) {
      try {
        devOf.set(this.#dev(d), d);
      } catch {
        /* missing */
      }
    }
    let total = 0;
    for (const line of out.stdout.split('\n')) {
      const m = /^\[(.+)\]\.\w+\s+(\d+)/.exec(line);
      if (!m) continue;
      const n = Number(m[2]);
      total += n;
      const d = devOf.get(m[1]!);
      if (d) byDev[d] = (byDev[d] ?? 0) + n;
    }
    this.#slowErrors.set(id, byDev);
    return total;
  }

  async close(): Promise<void> {
    /* nothing held open: resources outlive the process by design */
  }

  /**
   * Remove everything this driver created (`acp down --purge`, and tests): exports, shares,
   * pools, loop devices and their files — in that order — and the record.
   */
  async purge(): Promise<void> {
    const s = this.#state;
    for (const id of Object.keys(s.shares)) await this.#unexport(id).catch(() => undefined);
    for (const [id, r] of Object.entries(s.shares)) {
      const p = s.pools[r.pool];
      if (p && mounts().get(p.mount)) await this.#destroyShare(id).catch(() => undefined);
      else delete s.shares[id];
    }
    const pid = readPid(this.#ganeshaPidFile());
    if (pidAlive(pid, this.#ganeshaConf())) await this.#stopPid(pid!, this.#ganeshaConf());
    for (const [id, r] of Object.entries(s.pools)) {
      if (mounts().get(r.mount)) await run('umount', [r.mount]).catch(() => run('umount', ['-l', r.mount]));
      for (const d of r.devices) await run('wipefs', ['--all', this.#dev(d)]).catch(() => undefined);
      delete s.pools[id];
    }
    this.#save();
    for (const id of Object.keys(s.devices)) await this.#release(id).catch(() => undefined);
    this.#save();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
