// Storage's simulated twin: a machine's block devices, loop devices, pools,
// shares and servers kept in memory, and a driver over it with the Linux
// driver's semantics (ownership recorded before a resource is made; observe
// reports only what the record lists, checked against the "kernel"), so the
// same reconciler runs in `acp sim`. The machine outlives the node's crashes
// (its record is on the machine's disk, its loop devices and mounts in its
// kernel); a reboot of the machine drops loops, mounts and servers.
//
// Faults a scenario can inject: an action that fails (the next N of a kind),
// a device that vanishes (its loop device detached and its file gone, or the
// block device pulled), a server that dies, I/O errors on a device, and a
// crash of the node while an action is under way (the hook `onAction`).
import type { ObjectKey, Stats } from '../cdb/client.ts';
import { DriverError, type Capabilities, type Driver } from '../reconciler/contract.ts';
import type { ObservedDevice, ObservedPool, ObservedShare, PathProbe, PoolFs, PoolProfile, StorageAction, StorageObserved } from './reconcile.ts';

interface DevRec {
  kind: 'loop' | 'block';
  path: string;
  createdFile: boolean;
  sizeBytes: number;
  /** The loop device last attached (kept when it vanishes, to name it). */
  dev?: string;
}
interface PoolRec {
  fs: PoolFs;
  profile: PoolProfile;
  devices: string[];
  made: boolean;
}
interface ShareRec {
  pool: string;
  kind: 'subvolume' | 'directory';
  quotaBytes?: number;
  export?: { protocol: 'nfs' | 'nbd'; path: string; sizeBytes?: number; port: number };
}

export const FULL_CAPABILITIES: Capabilities = {
  loop: { ok: true },
  wipefs: { ok: true },
  blkid: { ok: true },
  btrfs: { ok: true, detail: 'simulated' },
  'btrfs-raid1': { ok: true },
  'btrfs-raid5': { ok: true },
  quotas: { ok: true },
  ext4: { ok: true },
  'nfs-ganesha': { ok: true },
  'qemu-storage-daemon': { ok: true },
  'qemu-nbd': { ok: true },
};

/** One simulated machine's storage: its "kernel" and the service's ownership record on its disk. */
export class SimStorageMachine {
  // --- the kernel
  /** Block devices present (path → signature / mounted elsewhere), e.g. the machine's own disks. */
  readonly blockDevices = new Map<string, { sizeBytes: number; signature?: string; mountedAt?: string }>();
  /** Regular files (paths). */
  readonly files = new Map<string, { size: number }>();
  /** Attached loop devices: /dev/loopN → backing file. */
  readonly loops = new Map<string, string>();
  /** Pools mounted (by id). */
  readonly mounted = new Set<string>();
  /** Pools' missing devices (the file system lost them) and I/O errors per device. */
  readonly missing = new Map<string, Set<string>>();
  readonly ioErrors = new Map<string, number>();
  /** Servers running, by share id. */
  readonly servers = new Set<string>();
  #nextLoop = 0;
  #nextPort = 20000;
  // --- the service's ownership record (on the machine's disk)
  readonly devices = new Map<string, DevRec>();
  readonly pools = new Map<string, PoolRec>();
  readonly shares = new Map<string, ShareRec>();
  // --- faults and accounting
  caps: Capabilities;
  readonly #fail = new Map<string, { times: number; reason: string; permanent: boolean }>();
  /**
   * Called when an action has taken effect, before the driver returns (a scenario crashes the
   * node here: the service never learns it worked, and must adopt it after the restart); a
   * returned true keeps the action from ever returning.
   */
  onApplied: ((a: StorageAction) => boolean | void) | undefined;
  /** Devices vanished (and not yet replaced). */
  readonly vanished = new Set<string>();
  /** How many of each resource were ever created (duplicates show up here). */
  readonly created: Record<string, number> = {};
  readonly applied: string[] = [];

  constructor(o: { caps?: Capabilities; blockDevices?: Record<string, { sizeBytes: number; signature?: string; mountedAt?: string }> } = {}) {
    this.caps = o.caps ?? FULL_CAPABILITIES;
    for (const [p, d] of Object.entries(o.blockDevices ?? {})) this.blockDevices.set(p, d);
  }

  // ---- fault injection

  /** The next `times` actions of `kind` fail with `reason`. */
  failNext(kind: string, times = 1, reason = `injected failure of ${kind}`, permanent = false): void {
    this.#fail.set(kind, { times, reason, permanent });
  }

  /** A device vanishes: its loop device is detached and its backing file removed (or the block device pulled). */
  vanish(deviceId: string): boolean {
    const r = this.devices.get(deviceId);
    if (!r) return false;
    if (r.kind === 'loop') {
      for (const [d, f] of this.loops) if (f === r.path) this.loops.delete(d);
      this.files.delete(r.path);
    } else this.blockDevices.delete(r.path);
    this.vanished.add(deviceId);
    for (const [id, p] of this.pools) {
      if (!p.devices.includes(deviceId)) continue;
      let m = this.missing.get(id);
      if (!m) this.missing.set(id, (m = new Set()));
      m.add(deviceId);
    }
    return true;
  }

  /** A vanished device is replaced (as `btrfs replace` onto a new disk would): back, and no longer missing. */
  replace(deviceId: string): void {
    const r = this.devices.get(deviceId);
    if (!r) return;
    if (r.kind === 'loop') this.files.set(r.path, { size: r.sizeBytes });
    else this.blockDevices.set(r.path, { sizeBytes: r.sizeBytes });
    for (const m of this.missing.values()) m.delete(deviceId);
    this.ioErrors.delete(deviceId);
    this.vanished.delete(deviceId);
  }

  /** Undo the injected faults (the heal phase): vanished devices replaced, failures and hooks cleared. */
  heal(): void {
    for (const d of [...this.vanished]) this.replace(d);
    this.#fail.clear();
    this.onApplied = undefined;
  }

  /** Injected failures of `kind` not yet consumed. */
  pendingFailures(kind: string): number {
    return this.#fail.get(kind)?.times ?? 0;
  }

  killServer(shareId: string): boolean {
    return this.servers.delete(shareId);
  }

  /** The machine reboots: loop devices, mounts and servers are gone; files and the record stay. */
  reboot(): void {
    this.loops.clear();
    this.mounted.clear();
    this.servers.clear();
  }

  /** Invariants: what exists in the kernel is what the record says, once; nothing leaked or doubled. */
  check(): string[] {
    const out: string[] = [];
    const byFile = new Map<string, string[]>();
    for (const [d, f] of this.loops) byFile.set(f, [...(byFile.get(f) ?? []), d]);
    for (const [f, ds] of byFile) if (ds.length > 1) out.push(`file ${f} is attached to ${ds.length} loop devices (${ds.join(', ')})`);
    const owned = new Set([...this.devices.values()].filter((d) => d.kind === 'loop').map((d) => d.path));
    for (const f of byFile.keys()) if (!owned.has(f)) out.push(`loop device on ${f} is not in the ownership record (leaked)`);
    for (const id of this.mounted) if (!this.pools.has(id)) out.push(`pool ${id} is mounted but not recorded (leaked)`);
    for (const id of this.servers) if (!this.shares.get(id)?.export) out.push(`a server for share ${id} runs without a recorded export (leaked)`);
    return out;
  }

  loopOf(file: string): string | undefined {
    for (const [d, f] of this.loops) if (f === file) return d;
    return undefined;
  }

  attach(file: string): string {
    const d = `/dev/loop${this.#nextLoop++}`;
    this.loops.set(d, file);
    this.created.loop = (this.created.loop ?? 0) + 1;
    return d;
  }

  port(): number {
    return this.#nextPort++;
  }

  takeFailure(kind: string): { reason: string; permanent: boolean } | undefined {
    const f = this.#fail.get(kind);
    if (!f) return undefined;
    if (--f.times <= 0) this.#fail.delete(kind);
    return f;
  }
}

export interface SimStorageOptions {
  machine: SimStorageMachine;
  /** Virtual time an action takes. */
  actionMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class SimStorageDriver implements Driver<StorageObserved, StorageAction> {
  readonly machine: SimStorageMachine;
  readonly #actionMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #probePaths = new Map<string, boolean>();

  constructor(o: SimStorageOptions) {
    this.machine = o.machine;
    this.#actionMs = o.actionMs ?? 0;
    this.#sleep = o.sleep ?? (() => Promise.resolve());
  }

  async capabilities(): Promise<Capabilities> {
    return this.machine.caps;
  }

  async observe(): Promise<StorageObserved> {
    const m = this.machine;
    const devices = new Map<string, ObservedDevice>();
    for (const [id, r] of m.devices) {
      if (r.kind === 'loop') {
        const cur = m.loopOf(r.path);
        const dev = cur ?? r.dev;
        devices.set(id, { id, kind: 'loop', path: r.path, present: cur !== undefined, backingExists: m.files.has(r.path), sizeBytes: r.sizeBytes, ...(dev ? { dev } : {}) });
      } else devices.set(id, { id, kind: 'block', path: r.path, dev: r.path, present: m.blockDevices.has(r.path), sizeBytes: r.sizeBytes });
    }
    const probes = new Map<string, PathProbe>();
    const owned = new Set([...m.devices.values()].map((d) => d.path));
    for (const [path] of this.#probePaths) {
      if (owned.has(path)) {
        this.#probePaths.delete(path);
        continue;
      }
      const b = m.blockDevices.get(path);
      if (b) probes.set(path, { path, kind: 'block', ...(b.signature ? { signature: b.signature } : {}), ...(b.mountedAt ? { mountedAt: b.mountedAt } : {}) });
      else if (m.files.has(path)) {
        const held = m.loopOf(path);
        probes.set(path, { path, kind: 'file', ...(held ? { heldBy: `loop device ${held}` } : {}) });
      } else probes.set(path, { path, kind: 'missing' });
    }
    const pools = new Map<string, ObservedPool>();
    for (const [id, r] of m.pools) {
      const errors: Record<string, number> = {};
      for (const d of r.devices) if ((m.ioErrors.get(d) ?? 0) > 0) errors[d] = m.ioErrors.get(d)!;
      const mounted = r.made && m.mounted.has(id);
      pools.set(id, { id, fs: r.fs, profile: r.profile, devices: [...r.devices], mount: `/sim/storage/pools/${id}`, mounted, missing: mounted ? [...(m.missing.get(id) ?? [])] : [], errors });
    }
    const shares = new Map<string, ObservedShare>();
    for (const [id, r] of m.shares) {
      const o: ObservedShare = { id, pool: r.pool, kind: r.kind, dir: `/sim/storage/pools/${r.pool}/shares/${id}`, exists: true, ...(r.quotaBytes !== undefined ? { quotaBytes: r.quotaBytes } : {}) };
      if (r.export) o.export = { protocol: r.export.protocol, path: r.export.path, running: m.servers.has(id) && m.mounted.has(r.pool), endpoint: `127.0.0.1:${r.export.port}`, ...(r.export.sizeBytes !== undefined ? { sizeBytes: r.export.sizeBytes } : {}) };
      shares.set(id, o);
    }
    return { devices, probes, pools, shares };
  }

  async apply(a: StorageAction): Promise<void> {
    const m = this.machine;
    const f = m.takeFailure(a.kind);
    if (this.#actionMs > 0) await this.#sleep(this.#actionMs);
    if (f) throw new DriverError(f.reason, f.permanent);
    m.applied.push(`${a.kind} ${a.id}`);
    this.#effect(a);
    if (m.onApplied?.(a) === true) return new Promise<void>(() => {}); // the node died before it could say so
  }

  #effect(a: StorageAction): void {
    const m = this.machine;
    switch (a.kind) {
      case 'probe-device':
        this.#probePaths.set(a.path, a.loop);
        return;
      case 'create-loop': {
        if (!m.devices.has(a.id)) m.devices.set(a.id, { kind: 'loop', path: a.file, createdFile: !m.files.has(a.file), sizeBytes: a.sizeBytes });
        const r = m.devices.get(a.id)!;
        if (!m.files.has(a.file)) {
          if (!r.createdFile) throw new DriverError(`device ${a.id}: backing file ${a.file} is gone`, true);
          m.files.set(a.file, { size: a.sizeBytes });
        }
        r.dev = m.loopOf(a.file) ?? m.attach(a.file);
        return;
      }
      case 'claim-device': {
        const b = m.blockDevices.get(a.path);
        if (!b) throw new DriverError(`device ${a.id}: ${a.path} is not a block device`);
        if (a.wipe) delete b.signature;
        m.devices.set(a.id, { kind: 'block', path: a.path, createdFile: false, sizeBytes: b.sizeBytes });
        return;
      }
      case 'release-device': {
        const r = m.devices.get(a.id);
        if (!r) return;
        if (r.kind === 'loop') {
          const d = m.loopOf(r.path);
          if (d) m.loops.delete(d);
          if (r.createdFile) m.files.delete(r.path);
        }
        m.devices.delete(a.id);
        return;
      }
      case 'create-pool': {
        for (const d of a.devices) {
          const r = m.devices.get(d);
          if (!r || (r.kind === 'loop' ? !m.loopOf(r.path) : !m.blockDevices.has(r.path))) throw new DriverError(`device ${d} is not present`);
        }
        if (!m.pools.has(a.id)) m.pools.set(a.id, { fs: a.fs, profile: a.profile, devices: [...a.devices], made: false });
        m.pools.get(a.id)!.made = true;
        m.created.pool = (m.created.pool ?? 0) + 1;
        m.mounted.add(a.id);
        return;
      }
      case 'mount-pool':
        m.mounted.add(a.id);
        return;
      case 'add-pool-device':
        m.pools.get(a.id)!.devices.push(a.device);
        return;
      case 'remove-pool-device': {
        const p = m.pools.get(a.id)!;
        p.devices = p.devices.filter((d) => d !== a.device);
        m.missing.get(a.id)?.delete(a.device);
        return;
      }
      case 'convert-pool':
        m.pools.get(a.id)!.profile = a.profile;
        return;
      case 'destroy-pool':
        m.mounted.delete(a.id);
        m.pools.delete(a.id);
        m.missing.delete(a.id);
        return;
      case 'create-share':
        if (!m.mounted.has(a.pool)) throw new DriverError(`pool ${a.pool} is not mounted`);
        if (!m.shares.has(a.id)) m.created.share = (m.created.share ?? 0) + 1;
        m.shares.set(a.id, m.shares.get(a.id) ?? { pool: a.pool, kind: a.subvolume ? 'subvolume' : 'directory' });
        return;
      case 'set-quota': {
        const s = m.shares.get(a.id)!;
        if (a.quotaBytes === null) delete s.quotaBytes;
        else s.quotaBytes = a.quotaBytes;
        return;
      }
      case 'export-share': {
        const s = m.shares.get(a.id)!;
        s.export = { protocol: a.protocol, path: a.path, port: s.export?.port ?? m.port(), ...(a.sizeBytes !== undefined ? { sizeBytes: a.sizeBytes } : {}) };
        if (!m.servers.has(a.id)) m.created.server = (m.created.server ?? 0) + 1;
        m.servers.add(a.id);
        return;
      }
      case 'unexport-share': {
        const s = m.shares.get(a.id);
        if (s) delete s.export;
        m.servers.delete(a.id);
        return;
      }
      case 'destroy-share':
        m.servers.delete(a.id);
        m.shares.delete(a.id);
        return;
    }
  }

  async stats(): Promise<Map<ObjectKey, Stats>> {
    const m = this.machine;
    const out = new Map<ObjectKey, Stats>();
    for (const [id, r] of m.devices) out.set(`storage/${id}`, { sizeBytes: r.sizeBytes, readOps: 0, writeOps: 0 });
    for (const [id, r] of m.pools) {
      if (!m.mounted.has(id)) continue;
      const size = r.devices.reduce((n, d) => n + (m.devices.get(d)?.sizeBytes ?? 0), 0) / (r.profile === 'raid1' ? 2 : 1);
      out.set(`storage/${id}`, { sizeBytes: size, usedBytes: 0, freeBytes: size, deviceErrors: r.devices.reduce((n, d) => n + (m.ioErrors.get(d) ?? 0), 0) });
    }
    for (const [id, r] of m.shares) out.set(`storage/${id}`, { usedBytes: 0, ...(r.quotaBytes !== undefined ? { quotaBytes: r.quotaBytes } : {}) });
    return out;
  }
}
