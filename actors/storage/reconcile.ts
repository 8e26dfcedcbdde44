// Storage's pure reconciler: the storage objects of the CDB (desired) × what
// the driver found on the machine (observed) × what the machine can do
// (capabilities) → the actions that close the gap and every object's
// condition on this node. No I/O, no clock: the same inputs give the same
// plan, and a world that already matches gives no action.
//
// What concerns a node: its own devices (spec.node), the pools whose devices
// are on it, the shares on those pools. Everything is built bottom-up, one
// layer per pass, and only on what is observed to exist: a device is probed,
// then claimed (a block device) or created (a loop device); a pool is made
// once all its devices are ready; a share once its pool is mounted; an export
// once its share exists. Removal runs top-down: exports, shares, pools, then
// devices — a resource still used by something is kept until that is gone.
//
// Safety: the driver only ever reports what it created or claimed (its
// ownership record). A device path it does not own is probed first, and
// refused if it is mounted or in use, or if it holds a file system or a
// partition table and the object does not say `wipe: true`.
import type { CdbObject, ObjectKey } from '../cdb/client.ts';
import type { DeviceSpec, PoolSpec, Redundancy, ShareSpec } from '../cdb/schema.ts';
import type { Action, Capabilities, Condition, Desired, Plan } from '../reconciler/contract.ts';

// ---------------------------------------------------------------------------------------------
// What the driver observes

export type PoolFs = 'btrfs' | 'ext4';
/** btrfs data/metadata profiles, and `ext4` for the plain one-device pool. */
export type PoolProfile = 'single' | 'raid1' | 'raid5' | 'ext4';

/** A device the service owns: a loop device it created, or a block device it claimed. */
export interface ObservedDevice {
  id: string;
  kind: 'loop' | 'block';
  /** The spec path it was set up from (for a loop device: its backing file). */
  path: string;
  /** The kernel block device in use (/dev/loop3, /dev/vdb), when present. */
  dev?: string;
  /** The block device exists (a loop device: attached to its backing file). */
  present: boolean;
  /** Loop devices: the backing file still exists (a detached loop device can be attached again). */
  backingExists?: boolean;
  sizeBytes?: number;
}

/** What is at a device path the service does not own yet (the answer to a probe action). */
export interface PathProbe {
  path: string;
  kind: 'block' | 'file' | 'missing' | 'other';
  /** A file system or partition-table signature found on it (e.g. "ext4", "btrfs", "dos"). */
  signature?: string;
  /** Where it is mounted, if it is. */
  mountedAt?: string;
  /** Something else holds it (a loop device over a file, an md/dm device over a disk). */
  heldBy?: string;
  /** It could not be inspected (then it is not used). */
  error?: string;
}

export interface ObservedPool {
  id: string;
  fs: PoolFs;
  profile: PoolProfile;
  /** The device ids it was made of (as recorded). */
  devices: string[];
  mount: string;
  mounted: boolean;
  /** Mounted with some devices missing (btrfs -o degraded). */
  degradedMount?: boolean;
  /** Device ids the file system reports missing. */
  missing: string[];
  /** I/O and corruption error counts per device id (btrfs device stats), only those above 0. */
  errors: Record<string, number>;
}

export interface ObservedExport {
  protocol: 'nfs' | 'nbd';
  /** The path clients see (NFS export path, NBD export name). */
  path: string;
  /** The server is running and serving it. */
  running: boolean;
  /** host:port it is served at. */
  endpoint?: string;
  /** nbd: the size of the disk file. */
  sizeBytes?: number;
}

export interface ObservedShare {
  id: string;
  pool: string;
  kind: 'subvolume' | 'directory';
  /** Where it lives on the machine (under the pool's mount point). */
  dir: string;
  exists: boolean;
  /** The quota in force (undefined: none). */
  quotaBytes?: number;
  export?: ObservedExport;
}

export interface StorageObserved {
  devices: ReadonlyMap<string, ObservedDevice>;
  probes: ReadonlyMap<string, PathProbe>;
  pools: ReadonlyMap<string, ObservedPool>;
  shares: ReadonlyMap<string, ObservedShare>;
}

export function emptyObserved(): StorageObserved {
  return { devices: new Map(), probes: new Map(), pools: new Map(), shares: new Map() };
}

// ---------------------------------------------------------------------------------------------
// Actions

export type StorageAction =
  /** Look at a path the service does not own (the result comes back in observed.probes). */
  | { kind: 'probe-device'; key: ObjectKey; id: string; path: string; loop: boolean }
  /** Create the sparse backing file (unless it exists) and attach it as a loop device. */
  | { kind: 'create-loop'; key: ObjectKey; id: string; file: string; sizeBytes: number; wipe: boolean }
  /** Record a block device as the service's (erasing its signatures first when `wipe`). */
  | { kind: 'claim-device'; key: ObjectKey; id: string; path: string; wipe: boolean }
  /** Forget a device: detach a loop device and delete its backing file; a block device is only forgotten. */
  | { kind: 'release-device'; key: ObjectKey; id: string }
  /** Make the file system across the devices and mount it. */
  | { kind: 'create-pool'; key: ObjectKey; id: string; fs: PoolFs; profile: PoolProfile; devices: string[] }
  | { kind: 'mount-pool'; key: ObjectKey; id: string; degraded: boolean }
  | { kind: 'add-pool-device'; key: ObjectKey; id: string; device: string }
  | { kind: 'remove-pool-device'; key: ObjectKey; id: string; device: string }
  /** Change the data/metadata profile (btrfs balance convert). */
  | { kind: 'convert-pool'; key: ObjectKey; id: string; profile: PoolProfile }
  /** Unmount and erase the file system the service made; the devices stay. */
  | { kind: 'destroy-pool'; key: ObjectKey; id: string }
  | { kind: 'create-share'; key: ObjectKey; id: string; pool: string; subvolume: boolean }
  | { kind: 'set-quota'; key: ObjectKey; id: string; quotaBytes: number | null }
  | { kind: 'export-share'; key: ObjectKey; id: string; protocol: 'nfs' | 'nbd'; path: string; sizeBytes?: number }
  | { kind: 'unexport-share'; key: ObjectKey; id: string }
  | { kind: 'destroy-share'; key: ObjectKey; id: string };

// ---------------------------------------------------------------------------------------------
// Capabilities (names the driver's capabilities() uses)

export const CAP = {
  loop: 'loop',
  btrfs: 'btrfs',
  raid1: 'btrfs-raid1',
  raid5: 'btrfs-raid5',
  ext4: 'ext4',
  quotas: 'quotas',
  nfs: 'nfs-ganesha',
  qsd: 'qemu-storage-daemon',
  qemuNbd: 'qemu-nbd',
  wipe: 'wipefs',
} as const;

/** The Debian packages that bring a protocol's server (said in `unsupported` reasons). */
export const PROTOCOL_PACKAGES: Record<ShareSpec['protocol'], string> = {
  local: '',
  nfs: 'nfs-ganesha nfs-ganesha-vfs',
  nbd: 'qemu-system-common (qemu-storage-daemon) or qemu-utils (qemu-nbd)',
  iscsi: 'tgt or targetcli-fb',
  smb: 'samba',
};

export const PROFILE_OF: Record<Redundancy, PoolProfile> = { none: 'single', mirror: 'raid1', raid5: 'raid5' };
/** How many devices a profile can lose and still be mounted. */
const TOLERATES: Record<PoolProfile, number> = { single: 0, ext4: 0, raid1: 1, raid5: 1 };

// ---------------------------------------------------------------------------------------------
// Helpers

type DeviceObject = CdbObject & { type: 'storage'; subtype: 'device'; spec: DeviceSpec };
type PoolObject = CdbObject & { type: 'storage'; subtype: 'pool'; spec: PoolSpec };
type ShareObject = CdbObject & { type: 'storage'; subtype: 'share'; spec: ShareSpec };

const keyOf = (id: string): ObjectKey => `storage/${id}`;

const has = (caps: Capabilities, name: string): boolean => caps[name]?.ok === true;
const why = (caps: Capabilities, name: string): string => {
  const c = caps[name];
  return c === undefined ? `${name} was not probed` : c.ok ? '' : c.reason;
};

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  if (u === 0 && n >= 1024) return `${n} B`;
  return `${v} ${units[u]}`;
}

function list(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** The pool's file system and profile on a machine with these capabilities, or why it cannot be made. */
export function poolLayout(spec: PoolSpec, caps: Capabilities): { ok: true; fs: PoolFs; profile: PoolProfile; devices: string[]; degraded?: string } | { ok: false; reason: string } {
  if (has(caps, CAP.btrfs)) {
    const profile = PROFILE_OF[spec.redundancy];
    if (profile === 'raid1' && !has(caps, CAP.raid1)) return { ok: false, reason: `redundancy mirror needs btrfs raid1: ${why(caps, CAP.raid1)}` };
    if (profile === 'raid5' && !has(caps, CAP.raid5)) return { ok: false, reason: `redundancy raid5 needs btrfs raid5: ${why(caps, CAP.raid5)}` };
    return { ok: true, fs: 'btrfs', profile, devices: [...spec.devices] };
  }
  // No btrfs: a plain file system on the first device, without redundancy.
  if (!has(caps, CAP.ext4)) return { ok: false, reason: `no pool file system: btrfs: ${why(caps, CAP.btrfs)}; ext4: ${why(caps, CAP.ext4)}` };
  if (spec.redundancy !== 'none') {
    return { ok: false, reason: `redundancy ${spec.redundancy} needs btrfs (${why(caps, CAP.btrfs)}); only a pool without redundancy (ext4 on one device) can be made here` };
  }
  const first = spec.devices[0]!;
  const unused = spec.devices.slice(1);
  return {
    ok: true,
    fs: 'ext4',
    profile: 'ext4',
    devices: [first],
    ...(unused.length ? { degraded: `ext4 on ${first} only (btrfs: ${why(caps, CAP.btrfs)}): device${unused.length > 1 ? 's' : ''} ${list(unused)} not used` } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The reconciler

export function reconcileStorage(node: string, desired: Desired, observed: StorageObserved, caps: Capabilities): Plan<StorageAction> {
  const actions: StorageAction[] = [];
  const status = new Map<ObjectKey, Condition>();
  const set = (id: string, c: Condition) => status.set(keyOf(id), c);

  const devices = new Map<string, DeviceObject>();
  const pools = new Map<string, PoolObject>();
  const shares = new Map<string, ShareObject>();
  for (const o of desired.values()) {
    if (o.type !== 'storage') continue;
    if (o.subtype === 'device') devices.set(o.id, o as DeviceObject);
    else if (o.subtype === 'pool') pools.set(o.id, o as PoolObject);
    else if (o.subtype === 'share') shares.set(o.id, o as ShareObject);
  }

  // --- which objects concern this node
  const myDevices = new Map<string, DeviceObject>();
  for (const d of devices.values()) if (d.spec.node === node) myDevices.set(d.id, d);
  const myPools = new Map<string, PoolObject>();
  for (const p of pools.values()) if (p.spec.devices.some((d) => myDevices.has(d))) myPools.set(p.id, p);
  const myShares = new Map<string, ShareObject>();
  for (const s of shares.values()) if (myPools.has(s.spec.pool)) myShares.set(s.id, s);

  // --- devices (bottom layer, created first)
  const deviceReady = new Set<string>();
  /** Devices observed in use by a pool (kept while the pool exists). */
  const usedBy = new Map<string, string>();
  for (const p of observed.pools.values()) for (const d of p.devices) usedBy.set(d, p.id);

  for (const d of myDevices.values()) {
    const key = keyOf(d.id);
    const spec = d.spec;
    const loop = spec.loop === true;
    const mine = observed.devices.get(d.id);
    if (mine) {
      if (mine.path !== spec.path || (mine.kind === 'loop') !== loop) {
        set(d.id, { state: 'failed', reason: `device ${d.id} was set up from ${mine.path}${mine.kind === 'loop' ? ' (loop)' : ''}; changing its path or kind is not supported: delete the device and create a new one` });
        if (mine.present) deviceReady.add(d.id);
        continue;
      }
      if (mine.present) {
        deviceReady.add(d.id);
        const pool = usedBy.get(d.id);
        const errs = pool ? (observed.pools.get(pool)?.errors[d.id] ?? 0) : 0;
        const missing = pool ? observed.pools.get(pool)?.missing.includes(d.id) : false;
        const info = { dev: mine.dev ?? spec.path, kind: mine.kind, ...(pool ? { pool } : {}) };
        if (missing) set(d.id, { state: 'failed', reason: `device ${d.id} (${mine.dev}) is missing from pool ${pool}`, info });
        else if (errs > 0) set(d.id, { state: 'degraded', reason: `device ${d.id} (${mine.dev}) has ${errs} I/O error${errs === 1 ? '' : 's'} (btrfs device stats)`, info });
        else set(d.id, { state: 'ready', info });
        continue;
      }
      // Owned but gone.
      if (mine.kind === 'loop' && mine.backingExists !== false) {
        if (!has(caps, CAP.loop)) {
          set(d.id, { state: 'unsupported', reason: `device ${d.id}: loop devices: ${why(caps, CAP.loop)}` });
          continue;
        }
        actions.push({ kind: 'create-loop', key, id: d.id, file: spec.path, sizeBytes: spec.sizeBytes, wipe: false });
        set(d.id, { state: 'pending', reason: `device ${d.id}: loop device${mine.dev ? ` ${mine.dev}` : ''} is gone; attaching ${spec.path} again` });
      } else if (mine.kind === 'loop') {
        set(d.id, { state: 'failed', reason: `device ${d.id} failed: its loop device${mine.dev ? ` ${mine.dev}` : ''} is gone and its backing file ${spec.path} was removed` });
      } else {
        set(d.id, { state: 'failed', reason: `device ${d.id} failed: ${mine.dev ?? spec.path} is gone` });
      }
      continue;
    }
    // Not ours yet.
    if (loop && !has(caps, CAP.loop)) {
      set(d.id, { state: 'unsupported', reason: `device ${d.id}: loop devices: ${why(caps, CAP.loop)}` });
      continue;
    }
    const probe = observed.probes.get(spec.path);
    if (!probe) {
      actions.push({ kind: 'probe-device', key, id: d.id, path: spec.path, loop });
      set(d.id, { state: 'pending', reason: `device ${d.id}: looking at ${spec.path}` });
      continue;
    }
    const refusal = refuse(d.id, spec, probe, caps);
    if (refusal) {
      set(d.id, refusal);
      continue;
    }
    const wipe = spec.wipe === true && (probe.signature !== undefined || (loop && probe.kind === 'file'));
    if (loop) {
      actions.push({ kind: 'create-loop', key, id: d.id, file: spec.path, sizeBytes: spec.sizeBytes, wipe });
      set(d.id, { state: 'pending', reason: `device ${d.id}: ${probe.kind === 'file' ? 'attaching' : 'creating'} loop device on ${spec.path}${wipe ? ' (wiping it)' : ''}` });
    } else {
      actions.push({ kind: 'claim-device', key, id: d.id, path: spec.path, wipe });
      set(d.id, { state: 'pending', reason: `device ${d.id}: taking ${spec.path}${wipe ? ` (wiping its ${probe.signature})` : ''}` });
    }
  }

  // --- pools
  const poolMounted = new Set<string>();
  for (const p of myPools.values()) {
    const key = keyOf(p.id);
    const mine = observed.pools.get(p.id);
    const nodes = [...new Set(p.spec.devices.map((d) => devices.get(d)?.spec.node).filter((n): n is string => n !== undefined))].sort();
    if (nodes.length > 1) {
      set(p.id, { state: 'unsupported', reason: `pool ${p.id} spans nodes ${list(nodes)}: a pool's devices must all be on one node` });
      if (mine?.mounted) poolMounted.add(p.id);
      continue;
    }
    const layout = poolLayout(p.spec, caps);
    if (!mine) {
      if (!layout.ok) {
        set(p.id, { state: 'unsupported', reason: `pool ${p.id}: ${layout.reason}` });
        continue;
      }
      const undefinedDevs = layout.devices.filter((d) => !devices.has(d));
      if (undefinedDevs.length) {
        set(p.id, { state: 'pending', reason: `pool ${p.id}: waiting for device${undefinedDevs.length > 1 ? 's' : ''} ${list(undefinedDevs)} (no such object)` });
        continue;
      }
      const notReady = layout.devices.filter((d) => !deviceReady.has(d) || status.get(keyOf(d))?.state === 'failed');
      if (notReady.length) {
        set(p.id, { state: 'pending', reason: `pool ${p.id}: waiting for device${notReady.length > 1 ? 's' : ''} ${list(notReady)}` });
        continue;
      }
      const taken = layout.devices.filter((d) => usedBy.has(d));
      if (taken.length) {
        set(p.id, { state: 'failed', reason: `pool ${p.id}: device ${list(taken.map((d) => `${d} (in pool ${usedBy.get(d)})`))} already used by another pool` });
        continue;
      }
      actions.push({ kind: 'create-pool', key, id: p.id, fs: layout.fs, profile: layout.profile, devices: layout.devices });
      set(p.id, { state: 'pending', reason: `pool ${p.id}: making ${layout.fs}${layout.fs === 'btrfs' ? ` (${layout.profile})` : ''} on ${list(layout.devices)}` });
      continue;
    }
    // The pool exists.
    const info: Record<string, string | number | boolean> = { fs: mine.fs, profile: mine.profile, mount: mine.mount, devices: mine.devices.join(',') };
    const devName = (d: string) => {
      const dev = observed.devices.get(d)?.dev;
      return dev ? `${d} (${dev})` : d;
    };
    const lost = mine.devices.filter((d) => mine.missing.includes(d) || !observed.devices.get(d)?.present);
    if (!mine.mounted) {
      if (lost.length > TOLERATES[mine.profile]) {
        set(p.id, { state: 'failed', reason: `pool ${p.id} cannot be mounted: device${lost.length > 1 ? 's' : ''} ${list(lost.map(devName))} missing (${mine.profile} tolerates ${TOLERATES[mine.profile]})`, info });
        continue;
      }
      // A loop device being attached again: wait for it rather than mounting degraded.
      const coming = lost.filter((d) => actions.some((x) => x.kind === 'create-loop' && x.id === d));
      if (coming.length) {
        set(p.id, { state: 'pending', reason: `pool ${p.id}: waiting for device${coming.length > 1 ? 's' : ''} ${list(coming)} to come back before mounting`, info });
        continue;
      }
      actions.push({ kind: 'mount-pool', key, id: p.id, degraded: lost.length > 0 });
      set(p.id, { state: 'pending', reason: `pool ${p.id}: mounting at ${mine.mount}${lost.length ? ` degraded (device${lost.length > 1 ? 's' : ''} ${list(lost.map(devName))} missing)` : ''}`, info });
      continue;
    }
    poolMounted.add(p.id);
    const problems: string[] = [];
    if (lost.length) problems.push(`device${lost.length > 1 ? 's' : ''} ${list(lost.map(devName))} missing`);
    const erred = Object.entries(mine.errors).filter(([d, n]) => n > 0 && !lost.includes(d));
    for (const [d, n] of erred) problems.push(`device ${devName(d)} has ${n} I/O error${n === 1 ? '' : 's'}`);
    if (lost.length === 0 && mine.degradedMount) problems.push('mounted degraded: remount to use every device again');
    if (!layout.ok) {
      set(p.id, { state: problems.length ? 'degraded' : 'unsupported', reason: `pool ${p.id}: ${[...problems, layout.reason].join('; ')}`, info });
      continue;
    }
    // Spec changes on a pool that exists.
    const want = layout.devices;
    if (mine.fs === 'btrfs' && layout.fs === 'btrfs') {
      const add = want.filter((d) => !mine.devices.includes(d));
      const drop = mine.devices.filter((d) => !want.includes(d));
      const addReady = add.filter((d) => deviceReady.has(d) && !usedBy.has(d));
      for (const d of addReady) actions.push({ kind: 'add-pool-device', key, id: p.id, device: d });
      if (add.length === 0) for (const d of drop) actions.push({ kind: 'remove-pool-device', key, id: p.id, device: d });
      if (mine.profile !== layout.profile && add.length === 0 && drop.length === 0) actions.push({ kind: 'convert-pool', key, id: p.id, profile: layout.profile });
      if (add.length || drop.length || mine.profile !== layout.profile) {
        const what = [
          ...(add.length ? [`adding ${list(add)}${addReady.length < add.length ? ` (waiting for ${list(add.filter((d) => !addReady.includes(d)))})` : ''}`] : []),
          ...(drop.length ? [`removing ${list(drop)}`] : []),
          ...(mine.profile !== layout.profile ? [`converting ${mine.profile} → ${layout.profile}`] : []),
        ];
        set(p.id, { state: 'pending', reason: `pool ${p.id}: ${what.join(', ')}${problems.length ? `; ${problems.join('; ')}` : ''}`, info });
        continue;
      }
    } else if (mine.fs !== layout.fs || mine.devices.join() !== want.join()) {
      set(p.id, { state: 'degraded', reason: `pool ${p.id}: made as ${mine.fs} on ${list(mine.devices)}; changing its file system or devices is not supported here: delete and re-create it${problems.length ? `; ${problems.join('; ')}` : ''}`, info });
      continue;
    }
    if (problems.length) set(p.id, { state: 'degraded', reason: `pool ${p.id}: ${problems.join('; ')}`, info });
    else if (layout.degraded) set(p.id, { state: 'degraded', reason: `pool ${p.id}: ${layout.degraded}`, info });
    else set(p.id, { state: 'ready', info });
  }

  // --- shares
  for (const s of myShares.values()) {
    const key = keyOf(s.id);
    const spec = s.spec;
    const mine = observed.shares.get(s.id);
    if (spec.protocol !== 'local') {
      const ok = spec.protocol === 'nfs' ? has(caps, CAP.nfs) : spec.protocol === 'nbd' ? has(caps, CAP.qsd) || has(caps, CAP.qemuNbd) : false;
      if (!ok) {
        const detail = spec.protocol === 'nfs' ? why(caps, CAP.nfs) : spec.protocol === 'nbd' ? `${why(caps, CAP.qsd)}; ${why(caps, CAP.qemuNbd)}` : `no ${spec.protocol} server support in this service yet`;
        set(s.id, { state: 'unsupported', reason: `share ${s.id}: protocol ${spec.protocol} needs ${PROTOCOL_PACKAGES[spec.protocol]} (${detail})` });
        // An export of another protocol left from before: take it down.
        if (mine?.export) actions.push({ kind: 'unexport-share', key, id: s.id });
        continue;
      }
      if (spec.protocol === 'nbd' && spec.quotaBytes === undefined) {
        set(s.id, { state: 'failed', reason: `share ${s.id}: an nbd share needs quotaBytes (the size of its disk)` });
        continue;
      }
    }
    const pool = observed.pools.get(spec.pool);
    if (!mine) {
      if (!poolMounted.has(spec.pool) || !pool) {
        set(s.id, { state: 'pending', reason: `share ${s.id}: waiting for pool ${spec.pool}` });
        continue;
      }
      actions.push({ kind: 'create-share', key, id: s.id, pool: spec.pool, subvolume: pool.fs === 'btrfs' });
      set(s.id, { state: 'pending', reason: `share ${s.id}: creating ${pool.fs === 'btrfs' ? 'a subvolume' : 'a directory'} in pool ${spec.pool}` });
      continue;
    }
    const info: Record<string, string | number | boolean> = { pool: mine.pool, dir: mine.dir, kind: mine.kind, protocol: spec.protocol };
    if (mine.pool !== spec.pool) {
      set(s.id, { state: 'failed', reason: `share ${s.id} lives in pool ${mine.pool}; moving it to ${spec.pool} is not supported: delete it and create a new one`, info });
      continue;
    }
    if (!poolMounted.has(spec.pool)) {
      set(s.id, { state: 'pending', reason: `share ${s.id}: pool ${spec.pool} is not mounted`, info });
      continue;
    }
    if (!mine.exists) {
      set(s.id, { state: 'failed', reason: `share ${s.id}: ${mine.dir} is gone from pool ${spec.pool}`, info });
      continue;
    }
    const pending: string[] = [];
    const notes: string[] = [];
    // Quota: the limit on the subvolume; an nbd share's quota is the size of its disk instead.
    const wantQuota = spec.protocol === 'nbd' ? undefined : spec.quotaBytes;
    if (mine.kind === 'subvolume' && (mine.quotaBytes ?? null) !== (wantQuota ?? null)) {
      if (wantQuota !== undefined && !has(caps, CAP.quotas)) notes.push(`quota ${fmtBytes(wantQuota)} not enforced (${why(caps, CAP.quotas)})`);
      else {
        actions.push({ kind: 'set-quota', key, id: s.id, quotaBytes: wantQuota ?? null });
        pending.push(wantQuota === undefined ? 'removing its quota' : `setting quota ${fmtBytes(wantQuota)}`);
      }
    } else if (mine.kind === 'directory' && wantQuota !== undefined) {
      notes.push(`quota ${fmtBytes(wantQuota)} not enforced: a directory in an ${pool?.fs ?? 'ext4'} pool has no quota of its own`);
    }
    if (wantQuota !== undefined) info.quotaBytes = wantQuota;
    // Export.
    const ex = mine.export;
    if (spec.protocol === 'local') {
      if (ex) {
        actions.push({ kind: 'unexport-share', key, id: s.id });
        pending.push(`stopping its ${ex.protocol} export`);
      }
      info.path = mine.dir;
    } else if (spec.protocol === 'nfs' || spec.protocol === 'nbd') {
      const size = spec.protocol === 'nbd' ? spec.quotaBytes : undefined;
      if (ex && ex.protocol !== spec.protocol) {
        actions.push({ kind: 'unexport-share', key, id: s.id });
        pending.push(`stopping its ${ex.protocol} export`);
      } else if (ex && size !== undefined && ex.sizeBytes !== undefined && size < ex.sizeBytes) {
        notes.push(`its disk is ${fmtBytes(ex.sizeBytes)}: shrinking it to ${fmtBytes(size)} is not supported`);
      }
      const matches = ex !== undefined && ex.protocol === spec.protocol && ex.path === spec.path && (size === undefined || ex.sizeBytes === undefined || ex.sizeBytes >= size);
      if (!matches || !ex.running) {
        actions.push({ kind: 'export-share', key, id: s.id, protocol: spec.protocol, path: spec.path, ...(size !== undefined ? { sizeBytes: size } : {}) });
        pending.push(ex && !ex.running && matches ? `restarting its ${spec.protocol} server` : `exporting it over ${spec.protocol}`);
      } else {
        if (ex.endpoint) info.endpoint = ex.endpoint;
        info.export = ex.path;
        if (ex.sizeBytes !== undefined) info.sizeBytes = ex.sizeBytes;
      }
    }
    if (pending.length) set(s.id, { state: 'pending', reason: `share ${s.id}: ${[...pending, ...notes].join('; ')}`, info });
    else if (notes.length) set(s.id, { state: 'degraded', reason: `share ${s.id}: ${notes.join('; ')}`, info });
    else set(s.id, { state: 'ready', info });
  }

  // --- removal, top-down: shares, pools, devices this node owns that are no longer desired here
  for (const mine of observed.shares.values()) {
    if (myShares.has(mine.id)) continue;
    const key = keyOf(mine.id);
    if (mine.export) actions.push({ kind: 'unexport-share', key, id: mine.id });
    actions.push({ kind: 'destroy-share', key, id: mine.id });
    set(mine.id, { state: 'removing', reason: `share ${mine.id}: no longer defined here; removing ${mine.dir}` });
  }
  for (const mine of observed.pools.values()) {
    if (myPools.has(mine.id)) continue;
    const key = keyOf(mine.id);
    const left = [...observed.shares.values()].filter((s) => s.pool === mine.id).map((s) => s.id);
    if (left.length) {
      set(mine.id, { state: 'removing', reason: `pool ${mine.id}: waiting for share${left.length > 1 ? 's' : ''} ${list(left)} to be removed` });
      continue;
    }
    actions.push({ kind: 'destroy-pool', key, id: mine.id });
    set(mine.id, { state: 'removing', reason: `pool ${mine.id}: no longer defined here; unmounting and erasing it` });
  }
  for (const mine of observed.devices.values()) {
    if (myDevices.has(mine.id)) continue;
    const key = keyOf(mine.id);
    const pool = usedBy.get(mine.id);
    if (pool !== undefined) {
      set(mine.id, { state: 'removing', reason: `device ${mine.id}: still in pool ${pool}` });
      continue;
    }
    actions.push({ kind: 'release-device', key, id: mine.id });
    set(mine.id, { state: 'removing', reason: mine.kind === 'loop' ? `device ${mine.id}: detaching ${mine.dev ?? 'its loop device'} and deleting ${mine.path}` : `device ${mine.id}: releasing ${mine.path}` });
  }
  return { actions, status };
}

/** Why a path the service does not own must not be used (undefined: it may be). */
function refuse(id: string, spec: DeviceSpec, probe: PathProbe, caps: Capabilities): Condition | undefined {
  const loop = spec.loop === true;
  const path = spec.path;
  if (probe.error) return { state: 'failed', reason: `device ${id}: cannot inspect ${path} (${probe.error}); Storage uses only a device it can check is free` };
  if (probe.mountedAt) return { state: 'failed', reason: `device ${id}: ${path} is mounted at ${probe.mountedAt}; Storage never uses a mounted device` };
  if (probe.heldBy) return { state: 'failed', reason: `device ${id}: ${path} is in use by ${probe.heldBy}` };
  if (loop) {
    if (probe.kind === 'block') return { state: 'failed', reason: `device ${id}: ${path} is a block device; drop loop: true to use it directly` };
    if (probe.kind === 'other') return { state: 'failed', reason: `device ${id}: ${path} is neither a regular file nor absent: cannot back a loop device with it` };
    if (probe.kind === 'file' && spec.wipe !== true) {
      return { state: 'failed', reason: `device ${id}: ${path} already exists and Storage did not create it${probe.signature ? ` (it holds ${probe.signature})` : ''}; set wipe: true to use (and erase) it` };
    }
    return undefined;
  }
  if (probe.kind === 'missing') return { state: 'failed', reason: `device ${id}: ${path} does not exist` };
  if (probe.kind !== 'block') return { state: 'failed', reason: `device ${id}: ${path} is not a block device${probe.kind === 'file' ? ' (set loop: true for a file-backed loop device)' : ''}` };
  if (probe.signature && spec.wipe !== true) {
    return { state: 'failed', reason: `device ${id}: ${path} holds ${probe.signature === 'dos' || probe.signature === 'gpt' ? `a ${probe.signature} partition table` : `a ${probe.signature} file system`}; set wipe: true to erase it` };
  }
  if (probe.signature && !has(caps, CAP.wipe)) return { state: 'unsupported', reason: `device ${id}: wiping ${path} needs wipefs: ${why(caps, CAP.wipe)}` };
  return undefined;
}
